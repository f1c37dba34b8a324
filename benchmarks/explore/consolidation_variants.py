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
from sklearn.metrics import roc_auc_score

from mcod import MCOD, get_config
from mcod.datasets import load_dataset, uod_split

TRIMS = (0.05, 0.1, 0.2)


def write(features: np.ndarray, attention: np.ndarray) -> np.ndarray:
    """Memory write: item j = normalised attention-weighted mean of the features."""
    items = attention.T @ features
    return items / np.linalg.norm(items, axis=1, keepdims=True).clip(1e-12)


def scores(features: np.ndarray, attention: np.ndarray, items: np.ndarray) -> dict[str, np.ndarray]:
    return {
        "read": ((features - attention @ items) ** 2).sum(axis=1),
        "nearest": 2.0 - 2.0 * (features @ items.T).max(axis=1),  # unit vectors
    }


def variants(features: np.ndarray, attention: np.ndarray, is_outlier: np.ndarray) -> dict:
    first = scores(features, attention, write(features, attention))
    out = dict(first)
    for trim in TRIMS:
        for name, score in first.items():
            kept = score <= np.quantile(score, 1.0 - trim)
            items = write(features[kept], attention[kept])
            out[f"trim{trim}_{name}"] = scores(features, attention, items)[name]
    inliers = ~is_outlier.astype(bool)
    items = write(features[inliers], attention[inliers])
    out["diagnostic_inlier_write"] = scores(features, attention, items)["read"]
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
