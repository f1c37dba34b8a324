"""Try a configuration variant on a few UOD image tasks; print memory-score and kNN AUROC.

    python benchmarks/explore/image_variants.py '{"ds": "digits"}'
    python benchmarks/explore/image_variants.py \
        '{"ds": "fashion-mnist", "nmax": 3000, "classes": [0, 2, 6, 8], "epochs": 15}'

Keys besides MCODConfig fields: ds (dataset), classes, nmax (first n samples of each
shuffled UOD task), bs (batch size), base (config name). UOD rho = 0.1, seed 0. This is
the probe used while developing the default (benchmarks/DEVELOPMENT.md); the benchmark
proper is `mcod bench`. "knn_features" is the mean distance to the 10 nearest neighbours
in mcod's feature space, a diagnostic of feature quality, not mcod's score. Each task
also prints, per memory item, how many samples it holds (top attention) and which share
of them are outliers: a diagnostic of items that model the outliers.
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np
from sklearn.metrics import roc_auc_score
from sklearn.neighbors import NearestNeighbors

from mcod import MCOD, get_config
from mcod.data.datasets import load_dataset, uod_split


def knn_distance(features: np.ndarray, k: int = 10) -> np.ndarray:
    distances, _ = NearestNeighbors(n_neighbors=k + 1).fit(features).kneighbors(features)
    return distances[:, 1:].mean(axis=1)


def item_outlier_shares(attention: np.ndarray, is_outlier: np.ndarray) -> list[tuple]:
    top = attention.argmax(axis=1)
    held = [is_outlier[top == j] for j in range(attention.shape[1])]
    return [(len(h), round(float(h.mean()), 2) if len(h) else None) for h in held]


def main() -> None:
    options = json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}
    dataset = load_dataset(options.pop("ds", "digits"))
    classes = options.pop("classes", list(range(len(dataset.classes))))
    nmax, batch_size = options.pop("nmax", None), options.pop("bs", None)
    config = get_config(options.pop("base", "default")).replace(**options)
    results: dict[str, list[float]] = {"memory": [], "knn_features": []}
    start = time.time()
    for inlier_class in classes:
        index, is_outlier = uod_split(dataset.labels, inlier_class, 0.1, seed=0)
        index, is_outlier = index[:nmax], is_outlier[:nmax]
        images = dataset.images[index]
        detector = MCOD(config=config, batch_size=batch_size, random_state=0).fit(images)
        features, attention = detector.embed(images)
        results["memory"].append(roc_auc_score(is_outlier, detector.decision_scores_))
        results["knn_features"].append(roc_auc_score(is_outlier, knn_distance(features)))
        print(inlier_class, {k: round(v[-1], 3) for k, v in results.items()}, flush=True)
        print("  items (samples, outlier share):", item_outlier_shares(attention, is_outlier))
    means = {k: round(float(np.mean(v)), 3) for k, v in results.items()}
    print(sys.argv[1:], means, f"{time.time() - start:.0f}s")


if __name__ == "__main__":
    main()
