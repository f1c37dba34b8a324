"""MCOD heads on frozen encoder features against kNN on the same features, UOD.

Reads /tmp/enc_feats/<dataset>_<size>.npz (pretrained_extract.py; size may carry its
suffix, 224_every3), so every variant sees
the same features. Per inlier class (UOD, rho, seed 0 on the subsample's labels; labels
only for AUROC): kNN k=50 mean cosine distance on the L2-normalised features, and for
each head variant the memory score alone, kNN-50 in the head's feature space, and their
rank mean. One line per (class, variant) is appended to the log as it is computed.

    PYTHONPATH=src OMP_NUM_THREADS=1 python benchmarks/explore/pretrained_head.py \
        cifar10 128 0,1,2,3,4 base,members1 >> benchmarks/explore/pretrained_log.txt
"""

from __future__ import annotations

import sys
import time
from typing import Any

import numpy as np
import torch
from scipy.stats import rankdata
from sklearn.metrics import roc_auc_score

import mcod.detector
from mcod import MCOD
from mcod.config import get_config
from mcod.data.datasets import uod_split
from mcod.data.preprocessing import TablePreprocessor

K = 50
HEAD = get_config("tabular").replace(name="pretrained-explore")


class GlobalScale(TablePreprocessor):
    """Rows times sqrt(D) as a whole instead of standardised per column: per-column
    scaling is a diagonal whitening, which lifts low-variance (noisy) feature dimensions
    to the weight of the informative ones; a global scale keeps the cosine geometry."""

    def _fit(self, X: Any) -> np.ndarray:
        table = super()._fit(X)
        self.scale_mean_ = torch.zeros(table.shape[1], dtype=torch.float64)
        self.scale_std_ = torch.full((table.shape[1],), table.shape[1] ** -0.5,
                                     dtype=torch.float64)
        return table


class CentredScale(TablePreprocessor):
    """Rows minus the column means, divided by one overall sd: centred, geometry kept."""

    def _fit(self, X: Any) -> np.ndarray:
        table = super()._fit(X)
        centre = table.mean(axis=0)
        self.scale_mean_ = torch.from_numpy(centre)
        self.scale_std_ = torch.full((table.shape[1],), float((table - centre).std()),
                                     dtype=torch.float64)
        return table


def _with_rows(scaling: type[TablePreprocessor]) -> type[MCOD]:
    """MCOD whose table rows are scaled by ``scaling`` instead of per column."""

    class Scaled(MCOD):
        def fit(self, X: Any, y: object = None, **options: Any) -> MCOD:
            original = mcod.detector.preprocessor_for
            mcod.detector.preprocessor_for = lambda kind, config: scaling(config.table_yeo_johnson)
            try:
                return super().fit(X, y, **options)
            finally:
                mcod.detector.preprocessor_for = original

    return Scaled


GlobalRows, CentredRows = _with_rows(GlobalScale), _with_rows(CentredScale)


VARIANTS: dict[str, tuple[type[MCOD], object]] = {
    "base": (MCOD, HEAD),
    "members1": (MCOD, HEAD.replace(members=1)),
    "read": (MCOD, HEAD.replace(score="read")),
    "mem30": (MCOD, HEAD.replace(n_memory=30)),
    "epochs20": (MCOD, HEAD.replace(epochs=20, min_steps=600)),
    "early": (MCOD, HEAD.replace(epochs=2, min_steps=40)),  # the early stage (ODIM's lead)
    "mem50": (MCOD, HEAD.replace(n_memory=50)),
    "mem100": (MCOD, HEAD.replace(n_memory=100)),
    "noise003": (MCOD, HEAD.replace(table_noise=0.03)),
    "noise03": (MCOD, HEAD.replace(table_noise=0.3)),
    "global": (GlobalRows, HEAD),
    "centred": (CentredRows, HEAD),
    "centred_noise03": (CentredRows, HEAD.replace(table_noise=0.3)),
    "centred_mem30": (CentredRows, HEAD.replace(n_memory=30)),
    "global_read": (GlobalRows, HEAD.replace(score="read")),
    "global_noise03": (GlobalRows, HEAD.replace(table_noise=0.3)),
    "global_noise003": (GlobalRows, HEAD.replace(table_noise=0.03)),
    "global_mem50": (GlobalRows, HEAD.replace(n_memory=50)),
    "global_nonorm": (GlobalRows, HEAD.replace(score_by_norm=False)),
}


def knn_score(x: np.ndarray, k: int = K) -> np.ndarray:
    """Mean cosine distance to the k nearest other rows (x L2-normalised)."""
    sim = x @ x.T
    np.fill_diagonal(sim, -np.inf)
    top = -np.partition(-sim, k - 1, axis=1)[:, :k]
    return 1.0 - top.mean(axis=1)


def unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def rank_mean(*scores: np.ndarray) -> np.ndarray:
    return np.mean([rankdata(s) / len(s) for s in scores], axis=0)


def main(dataset: str, size: str, classes: list[int], variants: list[str], rho: float = 0.1):
    torch.set_num_threads(1)
    data = np.load(f"/tmp/enc_feats/{dataset}_{size}.npz")
    features, labels = unit(data["features"]), data["labels"]
    for c in classes:
        idx, y = uod_split(labels, c, rho, seed=0)
        x = features[idx]
        start = time.time()
        knn = knn_score(x)
        sd = x.std(axis=0)
        z = (x - x.mean(axis=0)) / np.where(sd > 0, sd, 1.0)  # per column, as the head sees x
        zknn = knn_score(unit(z))
        print(f"{dataset} {size}px c={c} n={len(y)} knn50 auroc={roc_auc_score(y, knn):.4f} "
              f"zknn50={roc_auc_score(y, zknn):.4f} t={time.time() - start:.1f}s", flush=True)
        for name in variants:
            start = time.time()
            kind, config = VARIANTS[name]
            detector = kind(config=config, random_state=0, device="cpu").fit(x)
            memory = detector.decision_scores_
            head_features, _ = detector.embed(x)
            head_knn = knn_score(unit(head_features))
            seconds = time.time() - start
            results = {"memory": memory, "headknn": head_knn,
                       "memory+headknn": rank_mean(memory, head_knn),
                       "memory+knn": rank_mean(memory, knn)}
            line = " ".join(f"{k}={roc_auc_score(y, s):.4f}" for k, s in results.items())
            print(f"{dataset} {size}px c={c} head={name} {line} t={seconds:.1f}s", flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], [int(c) for c in sys.argv[3].split(",")],
         sys.argv[4].split(","))
