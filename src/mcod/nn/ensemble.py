"""Several MCODNets trained alone and scored together: a steadier score on small data."""

from __future__ import annotations

from typing import cast

import torch
from torch import nn

from mcod.config import MCODConfig
from mcod.nn.model import MCODNet


class MCODEnsemble(nn.Module):
    """`config.members` MCODNets; a sample's score is the mean of theirs.

    Members differ only in the random draws of their initialisation and training. On small
    tables one network's score swings from seed to seed (about twice IsolationForest's
    spread on ODDS); the mean of a few is steadier. With one member this is just that
    network. Reports and feature maps read the first member: its memory and features
    stand for the model.
    """

    def __init__(
        self, config: MCODConfig, input_shape: tuple[int, ...], queue_size: int
    ) -> None:
        super().__init__()
        self.members = nn.ModuleList(
            MCODNet(config, input_shape, queue_size) for _ in range(config.members)
        )

    @property
    def nets(self) -> list[MCODNet]:
        """The members as the networks they are (nn.ModuleList hands out plain Modules)."""
        return [cast(MCODNet, member) for member in self.members]

    @property
    def first(self) -> MCODNet:
        return self.nets[0]

    @torch.no_grad()
    def score(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack([member.score(x) for member in self.nets]).mean(dim=0)


def mean_history(histories: list[list[dict[str, float]]]) -> list[dict[str, float]]:
    """Each epoch's loss terms averaged over the members (all train the same epochs)."""
    return [
        {name: sum(epoch[name] for epoch in epochs) / len(epochs) for name in epochs[0]}
        for epochs in zip(*histories, strict=True)
    ]
