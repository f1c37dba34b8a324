"""Score and final-write variants of one trained model, on every class of a UOD image task.

    python benchmarks/explore/consolidation_variants.py fashion-mnist
    python benchmarks/explore/consolidation_variants.py mnist 0,1

Fits the default *before* step 8 of DEVELOPMENT.md (read score, one final write from all
the data) once per class (UOD rho = 0.1, seed 0), then rescores the same features:
- `read` / `nearest`: the read distance, or the distance to the nearest memory item;
- `trimQ_read` / `trimQ_nearest`: the items written again without the share Q of the
  data that the first write scores worst (today's default is `trim0.2_nearest`);
- `diagnostic_inlier_write`: items written from the inliers only. It uses labels, so it is
  a diagnostic of how much the outliers cost the memory, never a method.
"""

from __future__ import annotations

import sys
import time

import numpy as np
import torch
from sklearn.metrics import roc_auc_score

from mcod import MCOD, get_config
from mcod.data.datasets import load_dataset, uod_split
from mcod.nn.memory import Memory, best_fitting

TRIMS = (0.05, 0.1, 0.2)
SCORES = ("read", "nearest")


def variants(features: np.ndarray, attention: np.ndarray, is_outlier: np.ndarray) -> dict:
    """AUROC of each score after each final write, computed with mcod's own Memory."""
    f = torch.from_numpy(features)
    logits = torch.from_numpy(attention).log()  # softmax(log a) = a: the same attention
    memory = Memory(attention.shape[1], features.shape[1])

    def rescored(kept: torch.Tensor, score: str) -> np.ndarray:
        memory.write(f[kept], logits[kept])
        return memory.distance(f, logits, score).numpy()

    everything = torch.arange(len(f))
    first = {score: rescored(everything, score) for score in SCORES}
    out = dict(first)
    for trim in TRIMS:
        for score, values in first.items():
            kept = best_fitting(torch.from_numpy(values), trim)
            out[f"trim{trim}_{score}"] = rescored(kept, score)
    inliers = torch.from_numpy(is_outlier == 0).nonzero()[:, 0]
    out["diagnostic_inlier_write"] = rescored(inliers, "read")
    return {name: roc_auc_score(is_outlier, s) for name, s in out.items()}


def main() -> None:
    dataset = load_dataset(sys.argv[1])
    classes = range(len(dataset.classes))
    if len(sys.argv) > 2:
        classes = [int(c) for c in sys.argv[2].split(",")]
    config = get_config("default").replace(score="read", consolidate_trim=0.0)
    rows, start = [], time.time()
    for inlier_class in classes:
        index, is_outlier = uod_split(dataset.labels, inlier_class, 0.1, seed=0)
        images = dataset.images[index]
        features, attention = MCOD(config=config, random_state=0).fit(images).embed(images)
        rows.append(variants(features, attention, is_outlier))
        print(inlier_class, {k: round(v, 3) for k, v in rows[-1].items()}, flush=True)
    means = {k: round(float(np.mean([r[k] for r in rows])), 4) for k in rows[0]}
    print(sys.argv[1:], means, f"{time.time() - start:.0f}s")


if __name__ == "__main__":
    main()
