"""Extract frozen encoder features of a benchmark subsample once, for pretrained_head.py.

The same random subsample as docs/method.md's kNN figures: N images of train+test drawn
with default_rng(0) (about N/10 per class). Output: /tmp/enc_feats/<dataset>_<size>.npz
holding features (N, D) float32, labels and the dataset indices (a third argument S keeps
every S-th image: <dataset>_<size>_everyS.npz).

    PYTHONPATH=src OMP_NUM_THREADS=1 python benchmarks/explore/pretrained_extract.py cifar10 128
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import torch

from mcod.data.datasets import load_dataset
from mcod.nn.encoders import extract_features, load_encoder

OUT = Path("/tmp/enc_feats")
N = 10_000


def main(dataset: str, size: int, stride: int = 1, spec: str = "efficientnet-lite0") -> None:
    """``stride`` > 1 keeps every stride-th image of the subsample (224 px is 3x slower)."""
    torch.set_num_threads(1)
    data = load_dataset(dataset, "/work/shared/data")
    idx = np.sort(np.random.default_rng(0).choice(len(data), size=N, replace=False))[::stride]
    n = len(idx)
    encoder = load_encoder(spec)
    start = time.time()
    features = extract_features(encoder, data.images[idx], size, batch_size=64, progress=True)
    seconds = time.time() - start
    OUT.mkdir(exist_ok=True)
    suffix = f"_every{stride}" if stride > 1 else ""
    np.savez(OUT / f"{dataset}_{size}{suffix}.npz", features=features,
             labels=data.labels[idx], idx=idx)
    print(f"{dataset} {size}px {spec}: {features.shape} in {seconds:.0f}s "
          f"({1000 * seconds / n:.1f} ms/image)", flush=True)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), *(int(a) for a in sys.argv[3:4]))
