"""Memory score of the tabular head on frozen Lite0 features, then kNN-50 to a trimmed
reference (the 10-30% highest-scored samples left out).

    PYTHONPATH=src OMP_NUM_THREADS=1 python benchmarks/explore/pretrained_memtrim.py \
        /tmp/enc_feats/cifar10_128.npz 0,1,2,3,4,5,6,7,8,9

Features from pretrained_extract.py; UOD rho 0.1, seed 0; labels only for AUROC.
"""

from __future__ import annotations

import sys
import time

import numpy as np
import torch
from scipy.stats import rankdata
from sklearn.metrics import roc_auc_score

import mcod
from mcod.data.datasets import uod_split


def knn_to(Z: np.ndarray, reference: np.ndarray, k: int = 50) -> np.ndarray:
    """1 - mean cosine similarity to the k nearest reference rows (a row is not its own)."""
    sims = Z @ Z[reference].T
    own = np.flatnonzero(reference)
    sims[own, np.arange(len(own))] = -np.inf
    return 1 - (-np.sort(-sims, axis=1)[:, :k]).mean(1)


def main(path: str, classes: list[int]) -> None:
    torch.set_num_threads(1)
    data = np.load(path)
    X = data["features"].astype(np.float64)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    results: dict[str, list[float]] = {}
    for c in classes:
        index, truth = uod_split(data["labels"], c, rho=0.1, seed=0)
        Z = X[index]
        start = time.time()
        memory = mcod.MCOD(contamination=0.1, config="tabular", random_state=0).fit(Z)
        mem = memory.decision_scores_
        knn = knn_to(Z, np.ones(len(Z), bool))
        row = {"knn50": roc_auc_score(truth, knn), "memory": roc_auc_score(truth, mem)}
        for q in (0.1, 0.2, 0.3):
            trimmed = knn_to(Z, mem <= np.quantile(mem, 1 - q))
            row[f"memtrim{q}"] = roc_auc_score(truth, trimmed)
            row[f"mem+memtrim{q}"] = roc_auc_score(truth, rankdata(mem) + rankdata(trimmed))
            row[f"knntrim{q}"] = roc_auc_score(truth, knn_to(Z, knn <= np.quantile(knn, 1 - q)))
        for name, value in row.items():
            results.setdefault(name, []).append(value)
        print(c, f"t={time.time() - start:.0f}s",
              " ".join(f"{k}={v:.3f}" for k, v in row.items()), flush=True)
    print("MEAN", " ".join(f"{k}={np.mean(v):.4f}" for k, v in results.items()), flush=True)


if __name__ == "__main__":
    main(sys.argv[1], [int(c) for c in sys.argv[2].split(",")])
