"""The training loop: batches, views, optimiser steps, memory writes, progress."""

from __future__ import annotations

import functools
import math
import operator
from dataclasses import dataclass
from typing import Protocol

import torch
from torch.optim.swa_utils import AveragedModel, update_bn

from mcod.io.progress import progress
from mcod.nn.augment import rotate_batch
from mcod.nn.builder import build_views
from mcod.nn.distributed import Session
from mcod.nn.model import MCODNet


@dataclass
class LoopState:
    """Where a network's training stands between two steps: all a resumed loop needs
    besides the weights, the optimiser, the averaged weights and the random states."""

    epoch: int  # the epoch under way (== len(history))
    step: int  # its batches done
    order: torch.Tensor  # its sample order (whole batches of it are drawn in turn; each
    # process of a torchrun launch trains on its share of every batch)
    sums: dict[str, float]  # its loss terms summed over the batches done
    history: list[dict[str, float]]  # the mean loss terms of the epochs before


class Checkpoints(Protocol):
    """What the loop tells a checkpoint store (`mcod.nn.checkpoint`): it may restore the
    state it saved, and may save it after any step."""

    def resume(self, optimizer: torch.optim.Optimizer,
               averaged: AveragedModel | None) -> LoopState | None: ...

    def step_done(self, state: LoopState, optimizer: torch.optim.Optimizer,
                  averaged: AveragedModel | None) -> None: ...


def train(
    net: MCODNet,
    data: torch.Tensor,
    epochs: int,
    batch_size: int,
    verbose: bool = False,
    desc: str = "mcod fit",
    checkpoints: Checkpoints | None = None,
    session: Session | None = None,
) -> list[dict[str, float]]:
    """Train `net` on `data` (already on the training device); return per-epoch mean losses.

    Labels never enter here. Rotations (when the config has a rotation loss) are applied
    to both views alike, so a rotated image is its own instance, as in CSI. With
    `average_weights_from` set, the query encoder ends with its weights averaged over the
    ends of the later epochs (SWA), which steadies a score that swings from epoch to epoch.
    With `checkpoints`, the loop goes on from the state they hold, if any, and offers them
    its state after every step.
    A ``session`` of several processes (`mcod.nn.distributed.Group.training`) trains each on
    its share of every batch; by default this process trains alone.
    """
    c = net.config
    session = session or Session(net)
    query_view, key_view = (v.to(data.device) for v in build_views(c))
    optimizer = torch.optim.Adam(net.query.parameters(), lr=c.lr, weight_decay=c.weight_decay)
    batch_size = min(batch_size, len(data))
    rotate = c.rotation_weight > 0 and data.dim() == 4
    averaged, average_start = None, epochs  # no averaging: the start is never reached
    if c.average_weights_from is not None:  # in [0, 1): checked by MCODConfig
        averaged = AveragedModel(net.query)
        average_start = math.floor(c.average_weights_from * epochs)
    state = checkpoints.resume(optimizer, averaged) if checkpoints else None
    history: list[dict[str, float]] = [] if state is None else state.history
    net.train()
    bar = progress(range(len(history), epochs), total=epochs, initial=len(history),
                   desc=desc, unit="epoch", enabled=verbose, leave=False)
    for epoch in bar:
        if state is None or state.epoch != epoch:
            state = LoopState(epoch, 0, session.order(len(data), data.device), {}, history)
        sums = state.sums
        batches = session.shard(state.order, batch_size)
        for index in batches[state.step:]:
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
            state.step += 1
            if checkpoints:
                checkpoints.step_done(state, optimizer, averaged)
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
