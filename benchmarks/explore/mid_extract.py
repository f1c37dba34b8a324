"""Probe (#18, pretrained step 5): EfficientNet-Lite0 read at several depths.

A subsample (2,000 training images a class, seeded, and the whole test split) encoded at
128 px, each depth pooled several ways, saved as float16 to
$MID_PROBE_DIR/multi_<dataset>.npz for `mid_head.py`. Keys: b4g/b4s = block 4 (stride 8)
averaged / on a 4x4 grid; b10g/b10s2/b10s4 = block 10 (the last at stride 16) averaged /
2x2 / 4x4; fg/fs2 = the last maps averaged (the default's features) / 2x2.

    MCOD_DATA_DIR=../shared/data python benchmarks/explore/mid_extract.py mnist
"""

import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

from mcod.data.datasets import load_dataset
from mcod.nn.allocator import keep_freed_memory
from mcod.nn.encoders import _to_input
from mcod.nn.pretrained import encoder_for

OUT = os.environ.get("MID_PROBE_DIR", "/tmp/mid_probe")
POOLS = {
    "b4g": (4, 1), "b4s": (4, 4), "b10g": (10, 1), "b10s2": (10, 2), "b10s4": (10, 4),
    "fg": ("last", 1), "fs2": ("last", 2),
}


def main(name: str) -> None:
    keep_freed_memory()
    torch.set_num_threads(1)
    ds = load_dataset(name, os.environ.get("MCOD_DATA_DIR"))
    rng = np.random.default_rng(0)
    train = [np.sort(rng.choice(np.flatnonzero((ds.split == "train") & (ds.labels == c)),
                                2000, replace=False)) for c in range(10)]
    idx = np.concatenate(train + [np.flatnonzero(ds.split == "test")])
    net = encoder_for("efficientnet-lite0").net.net
    maps: dict[object, torch.Tensor] = {}
    for k in (4, 10):
        net._blocks[k].register_forward_hook(lambda m, i, o, k=k: maps.__setitem__(k, o))
    outs: dict[str, list[torch.Tensor]] = {key: [] for key in POOLS}
    start = time.time()
    for s in range(0, len(idx), 16):
        batch = ds.images[idx[s:s + 16]].astype(np.float32) / 255
        batch = batch[:, None] if batch.ndim == 3 else np.moveaxis(batch, -1, 1)
        with torch.inference_mode():
            maps["last"] = net.extract_features(_to_input(batch, 128))
        for key, (depth, grid) in POOLS.items():
            outs[key].append(F.adaptive_avg_pool2d(maps[depth], grid).flatten(1))
        if s % 1600 == 0:
            print(s, round(time.time() - start, 1), flush=True)
    arrays = {k: torch.cat(v).numpy().astype(np.float16) for k, v in outs.items()}
    np.savez(f"{OUT}/multi_{name}.npz", idx=idx, labels=ds.labels[idx], split=ds.split[idx],
             **arrays)


if __name__ == "__main__":
    main(sys.argv[1])
