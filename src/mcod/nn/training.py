"""The training loop: batches, views, optimiser steps, memory writes, progress."""

from __future__ import annotations

import functools
import math
import operator

import torch
from torch.optim.swa_utils import AveragedModel, update_bn
from tqdm.auto import tqdm

from mcod.nn.augment import make_views, rotate_batch
from mcod.nn.distributed import Session
from mcod.nn.model import MCODNet


def train(
    net: MCODNet,
    data: torch.Tensor,
    epochs: int,
    batch_size: int,
    verbose: bool = False,
    desc: str = "mcod fit",
    session: Session | None = None,
) -> list[dict[str, float]]:
    """Train `net` on `data` (already on the training device); return per-epoch mean losses.

    Labels never enter here. Rotations (when the config has a rotation loss) are applied
    to both views alike, so a rotated image is its own instance, as in CSI. With
    `average_weights_from` set, the query encoder ends with its weights averaged over the
    ends of the later epochs (SWA), which steadies a score that swings from epoch to epoch.
    A ``session`` of several processes (`mcod.nn.distributed.Group.training`) trains each on
    its share of every batch; by default this process trains alone.
    """
    c = net.config
    session = session or Session(net)
    query_view, key_view = (v.to(data.device) for v in make_views(c))
    optimizer = torch.optim.Adam(net.query.parameters(), lr=c.lr, weight_decay=c.weight_decay)
    batch_size = min(batch_size, len(data))
    rotate = c.rotation_weight > 0 and data.dim() == 4
    history: list[dict[str, float]] = []
    averaged, average_start = None, epochs  # no averaging: the start is never reached
    if c.average_weights_from is not None:  # in [0, 1): checked by MCODConfig
        averaged = AveragedModel(net.query)
        average_start = math.floor(c.average_weights_from * epochs)
    net.train()
    bar = tqdm(range(epochs), desc=desc, unit="epoch", disable=not verbose, leave=False)
    for epoch in bar:
        sums: dict[str, float] = {}
        batches = session.batches(len(data), batch_size, data.device)
        for index in batches:
            x = data[index]
            turns = None
            if rotate:
                turns = torch.randint(0, 4, (len(x),), device=x.device)
                x = rotate_batch(x, turns)
            terms, keys = session.losses(
                query_view(x), key_view(x), use_read=epoch >= c.warmup_epochs, quarter_turns=turns
            )
            loss = functools.reduce(operator.add, terms.values())  # as sum(), typed
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            net.after_step(session.gather(keys))
            for name, value in terms.items():
                sums[name] = sums.get(name, 0.0) + value.item()
        means = session.mean({name: total / len(batches) for name, total in sums.items()})
        history.append(means)
        bar.set_postfix({name: f"{value:.3f}" for name, value in means.items()})
        if averaged is not None and epoch >= average_start:
            averaged.update_parameters(net.query)
    if averaged is not None:
        use_averaged_weights(net, averaged.module, data, batch_size)
    if c.consolidate:
        net.consolidate(data)
    net.eval()
    return history


def use_averaged_weights(
    net: MCODNet, averaged: torch.nn.Module, data: torch.Tensor, batch_size: int
) -> None:
    """Load SWA weights into the query encoder, with BatchNorm statistics of clean data.

    The running statistics seen in training are those of augmented views and of other
    weights; one pass over the clean data, in the views that scoring looks at, re-estimates
    them in train mode (a one-sample batch is left out: BatchNorm cannot normalise it).
    """
    views = (view for batch in data.split(batch_size) for view in net.views(batch))
    update_bn((view for view in views if len(view) > 1), averaged)
    net.query.load_state_dict(averaged.state_dict())
