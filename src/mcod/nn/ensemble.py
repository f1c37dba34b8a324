"""Several MCODNets trained alone and scored together: a steadier score on small data."""

from __future__ import annotations

from typing import cast

import torch
from torch import nn

from mcod.config import MCODConfig
from mcod.nn.encoders import mid_start
from mcod.nn.local_terms import LocalTerms
from mcod.nn.model import MCODNet


class WhitenedReference(nn.Module):
    """Distance of a row to the reference (the rows the memory trusts) after whitening by
    the reference's shrunk covariance, ``||(u - mean) W||`` with
    ``W = (S + a tr(S)/D I)^(-1/2)`` (``a`` = shrink), in the L2-normalised encoder space
    ``u`` (the head's per-column standardisation is undone: shrinking towards one variance
    needs the encoder's own geometry). Whitening by the inlier covariance makes the inlier
    class compact in every direction: a row that departs along a direction in which inliers
    hardly vary lies far, though kNN on the frozen cosine geometry finds it near.

    Cross-fitted: the reference is split in two halves, each with its own whitener; a row
    is scored by the mean of both distances, a reference row at fit by the other half's
    alone (a whitener fitted on a row would find it near: in 1,280 dimensions and a few
    thousand rows, that self-advantage is large). Buffers only, saved and checked with the
    rest; all zero until `fit`."""

    mean: torch.Tensor  # (2, D): each half's mean, in standardised units
    whitener: torch.Tensor  # (2, D, D): each half's whitener, applied to standardised rows

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(2, dim))
        self.register_buffer("whitener", torch.zeros(2, dim, dim))

    @torch.no_grad()
    def fit(self, halves: tuple[torch.Tensor, torch.Tensor], scale: torch.Tensor,
            shrink: float) -> None:
        """Whiten by each half of the reference rows; the rows are standardised ones,
        ``scale`` the per-column sd that standardised them."""
        scale = scale.double()
        means = [rows.double().mean(dim=0) for rows in halves]
        covs = []
        for rows, mean in zip(halves, means, strict=True):
            centred = (rows.double() - mean) * scale  # the encoder's own units
            covs.append(centred.T @ centred / max(1, len(rows) - 1))
        levels = [torch.trace(cov) / len(cov) for cov in covs]
        # a half without spread (one row, on a handful of images) would whiten by nothing
        # and score every row ~1e10: it takes the other half's level, all shrinkage
        spread = [level for level in levels if level > 0]
        fallback = spread[0] if spread else torch.ones((), dtype=torch.float64)
        for i, (mean, cov, level) in enumerate(zip(means, covs, levels, strict=True)):
            level, a = (level, shrink) if level > 0 else (fallback, 1.0)
            cov = (1 - a) * cov + a * level * torch.eye(len(cov), dtype=cov.dtype)
            values, vectors = torch.linalg.eigh(cov)
            whitener = vectors / values.clamp_min(level.clamp_min(1e-12) * 1e-9).sqrt()
            self.mean[i].copy_(mean)
            self.whitener[i].copy_(scale[:, None] * whitener)  # applied to standardised rows

    @torch.no_grad()
    def distances(self, x: torch.Tensor) -> torch.Tensor:
        """(2, N): each half's whitened distance of the rows, in float64 as all scoring is
        (`MCODNet.score`); the buffers keep the float32 values they were saved with."""
        x = x.double()
        return torch.stack([((x - self.mean[i].double()) @ self.whitener[i].double()).norm(dim=1)
                            for i in range(2)])

    @torch.no_grad()
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.distances(x).mean(dim=0)


class MCODEnsemble(nn.Module):
    """`config.members` MCODNets; a sample's score is the mean of theirs.

    Members differ only in the random draws of their initialisation and training. On small
    tables one network's score swings from seed to seed (about twice IsolationForest's
    spread on ODDS); the mean of a few is steadier. With one member this is just that
    network. Reports and feature maps read the first member: its memory and features
    stand for the model. With ``config.reference_trim`` the score, once `fit_reference` has
    run, is the distance to the whitened reference that the members' memory score picks;
    with ``config.local_terms`` joined by the local terms on ``kept_rows`` fit rows
    (`mcod.nn.local_terms`).
    """

    def __init__(
        self, config: MCODConfig, input_shape: tuple[int, ...], queue_size: int,
        kept_rows: int = 0,
    ) -> None:
        super().__init__()
        self.members = nn.ModuleList(
            MCODNet(config, input_shape, queue_size) for _ in range(config.members)
        )
        self.trim, self.shrink = config.reference_trim, config.reference_shrink
        self.reference = WhitenedReference(input_shape[0]) if self.trim else None
        self.encoded = bool(config.encoder)  # rows of encoder features, not a table's
        self.local = LocalTerms(kept_rows, input_shape[0], mid_start(config.encoder) or 0,
                                config.image_float64) if config.local_terms else None

    @property
    def nets(self) -> list[MCODNet]:
        """The members as the networks they are (nn.ModuleList hands out plain Modules)."""
        return [cast(MCODNet, member) for member in self.members]

    @property
    def kept_rows(self) -> int:
        """Fit rows the local terms keep (0 without them): what a copy is built with."""
        return 0 if self.local is None else len(self.local.rows)

    @property
    def first(self) -> MCODNet:
        return self.nets[0]

    @torch.no_grad()
    def memory_score(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack([member.score(x) for member in self.nets]).mean(dim=0)

    @torch.no_grad()
    def score(self, x: torch.Tensor) -> torch.Tensor:
        if self.reference is None:
            return self.memory_score(x)
        if self.local is None:
            return self.reference(x)
        return self.local(x, self.reference(x))

    @torch.no_grad()
    def fit_reference(self, rows: torch.Tensor, memory_scores: torch.Tensor,
                      scale: torch.Tensor) -> torch.Tensor:
        """Whiten by the rows whose memory score is in the lowest ``1 - trim`` (halves:
        alternate ones); return the rows' scores, each reference row's from the half
        without it (and with local terms, each row's from the others). ``scale``: the sd
        per column that standardised the rows."""
        assert self.reference is not None
        memory_scores = memory_scores.double()
        keep = memory_scores <= torch.quantile(memory_scores, 1 - self.trim)
        picked = torch.nonzero(keep).flatten()
        halves = (picked[0::2], picked[1::2])
        self.reference.fit((rows[halves[0]], rows[halves[1]]), scale, self.shrink)
        device = self.reference.mean.device
        distances = torch.cat([self.reference.distances(batch.to(device)).cpu()
                               for batch in rows.split(4096)], dim=1)
        scores = distances.mean(dim=0)
        scores[halves[0]] = distances[1, halves[0]]
        scores[halves[1]] = distances[0, halves[1]]
        if self.local is None:
            return scores
        return self.local.fit(rows, scores, self.local_scale(scale))

    def local_scale(self, scale: torch.Tensor) -> torch.Tensor:
        """What turns standardised rows into the units the local terms compare them in:
        the encoder's own (``scale``, the sd per column), or a table's standardised ones."""
        return scale if self.encoded else torch.ones_like(scale)


def mean_history(histories: list[list[dict[str, float]]]) -> list[dict[str, float]]:
    """Each epoch's loss terms averaged over the members (all train the same epochs)."""
    return [
        {name: sum(epoch[name] for epoch in epochs) / len(epochs) for name in epochs[0]}
        for epochs in zip(*histories, strict=True)
    ]
