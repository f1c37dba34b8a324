"""The training loop: batches, views, optimiser steps, memory writes, progress."""

from __future__ import annotations

import torch
from tqdm.auto import tqdm

from mcod.augment import make_views, rotate_batch
from mcod.model import MCODNet


def train(
    net: MCODNet,
    data: torch.Tensor,
    epochs: int,
    batch_size: int,
    verbose: bool = False,
) -> list[dict[str, float]]:
    """Train `net` on `data` (already on the training device); return per-epoch mean losses.

    Labels never enter here. Rotations (when the config has a rotation loss) are applied
    to both views alike, so a rotated image is its own instance, as in CSI.
    """
    c = net.config
    query_view, key_view = (v.to(data.device) for v in make_views(c))
    optimizer = torch.optim.Adam(net.query.parameters(), lr=c.lr, weight_decay=c.weight_decay)
    batch_size = min(batch_size, len(data))
    rotate = c.rotation_weight > 0 and data.dim() == 4
    history: list[dict[str, float]] = []
    net.train()
    bar = tqdm(range(epochs), desc="mcod fit", unit="epoch", disable=not verbose, leave=False)
    for epoch in bar:
        sums: dict[str, float] = {}
        order = torch.randperm(len(data), device=data.device)
        batches = [b for b in order.split(batch_size) if len(b) == batch_size]
        for index in batches:
            x = data[index]
            turns = None
            if rotate:
                turns = torch.randint(0, 4, (len(x),), device=x.device)
                x = rotate_batch(x, turns)
            terms, keys = net.training_losses(
                query_view(x), key_view(x), use_read=epoch >= c.warmup_epochs, quarter_turns=turns
            )
            loss = sum(terms.values())
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            net.after_step(keys)
            for name, value in terms.items():
                sums[name] = sums.get(name, 0.0) + value.item()
        means = {name: total / len(batches) for name, total in sums.items()}
        history.append(means)
        bar.set_postfix({name: f"{value:.3f}" for name, value in means.items()})
    if c.consolidate:
        net.consolidate(data)
    net.eval()
    return history
