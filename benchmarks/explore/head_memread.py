"""Cheap memory variants on frozen encoder features vs kNN-50 on the same features, UOD rho=0.1.

Per inlier class (labels only for AUROC): the `pretrained` head (tabular mlp head, 50 memory
items, 5 members) gives the memory score `mem` (cached in /tmp/hh). Then, in the frozen
L2-normalised space:
  knn50        kNN-50 mean cosine distance (the bar)
  knntrim      kNN-50 to the reference with the 30% highest kNN scores removed
  memtrim      kNN-50 to the reference with the 30% highest `mem` scores removed
  dmemK_T      dense memory: K = |R|/div items written (k-means) from the mem-trimmed
               reference R, read softly (attention softmax(cos/T)); score = 1 - cos(f, read(f)).
               Cross-fitted: R split in two halves, each half's memory scores the other half
               (no item holds the row it scores); rows outside R take the mean of both.
  it2          dmem once more, the trim taken by the dense memory's own score
One line per (class, variant) appended to the log: dataset px class variant auroc seconds.

  PYTHONPATH=src OMP_NUM_THREADS=1 python benchmarks/explore/head_memread.py cifar10 128 0,1,2,3,4 \
      >> benchmarks/explore/head_log.txt
"""
from __future__ import annotations

import os
import sys
import time

import numpy as np
import torch
from scipy.stats import rankdata
from sklearn.cluster import KMeans
from sklearn.metrics import roc_auc_score

from mcod import MCOD
from mcod.config import get_config
from mcod.data.datasets import uod_split

TRIM = float(os.environ.get("HEAD_TRIM", 0.3))  # share of rows left out of the reference


def unit(x):
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def knn_to(x, ref_mask, k=50):
    sim = x @ x[ref_mask].T
    idx = np.flatnonzero(ref_mask)
    sim[idx, np.arange(len(idx))] = -np.inf
    k = min(k, ref_mask.sum() - 1)
    return 1.0 - (-np.partition(-sim, k - 1, axis=1)[:, :k]).mean(1)


def write_memory(r, n_items, seed=0):
    km = KMeans(n_items, n_init=1, max_iter=30, random_state=seed).fit(r)
    return unit(km.cluster_centers_)


def read_score(x, items, temp):
    s = x @ items.T / temp
    s -= s.max(1, keepdims=True)
    a = np.exp(s)
    a /= a.sum(1, keepdims=True)
    read = a @ items
    return 1.0 - (x * read).sum(1) / np.linalg.norm(read, axis=1)


def dense_memory_score(x, ref_mask, div, temp, seed=0):
    """Cross-fitted dense-memory read score (see module doc)."""
    rng = np.random.default_rng(seed)
    idx = np.flatnonzero(ref_mask)
    half = rng.permutation(len(idx))
    parts = [idx[half[: len(idx) // 2]], idx[half[len(idx) // 2:]]]
    scores = np.zeros((2, len(x)))
    for p, part in enumerate(parts):
        items = write_memory(x[part], max(2, len(part) // div), seed)
        scores[p] = read_score(x, items, temp)
    out = scores.mean(0)
    out[parts[0]] = scores[1][parts[0]]
    out[parts[1]] = scores[0][parts[1]]
    return out


def trimmed(score, q=TRIM):
    return score <= np.quantile(score, 1 - q)


def mem_score(dataset, size, c, x):
    path = f"/tmp/hh/mem_{dataset}_{size}_c{c}.npy"
    if os.path.exists(path):
        return np.load(path), float("nan")
    t = time.time()
    det = MCOD(config=get_config("tabular").replace(name="pretrained-explore", n_memory=50),
               random_state=0, device="cpu").fit(x)
    np.save(path, det.decision_scores_)
    return det.decision_scores_, time.time() - t


def tasks(dataset, size, classes):
    """Each class's UOD task on the cached features, its kNN-50 score logged first:
    (class, rows, truth, kNN-50 scores, log(name, scores, t0))."""
    torch.set_num_threads(1)
    data = np.load(f"/tmp/enc_feats/{dataset}_{size}.npz")
    features, labels = unit(data["features"].astype(np.float64)), data["labels"]
    for c in classes:
        idx, y = uod_split(labels, c, 0.1, seed=0)
        x = features[idx]

        def log(name, s, t0, c=c, y=y):
            print(f"{dataset} {size} {c} {name} {roc_auc_score(y, s):.4f} {time.time() - t0:.1f}",
                  flush=True)

        t0 = time.time()
        knn = knn_to(x, np.ones(len(x), bool))
        log("knn50", knn, t0)
        yield c, x, y, knn, log


def main(dataset, size, classes, variants):
    for c, x, y, knn, log in tasks(dataset, size, classes):
        t0 = time.time()
        log("knntrim", knn_to(x, trimmed(knn)), t0)
        mem, tm = mem_score(dataset, size, c, x)
        print(f"{dataset} {size} {c} mem {roc_auc_score(y, mem):.4f} {tm:.1f}", flush=True)
        t0 = time.time()
        log("memtrim", knn_to(x, trimmed(mem)), t0)
        for v in variants:
            div, temp = v.split("_")
            div, temp = int(div), float(temp)
            t0 = time.time()
            d1 = dense_memory_score(x, trimmed(mem), div, temp)
            log(f"dmem{div}_{temp}", d1, t0)
            d2 = dense_memory_score(x, trimmed(d1), div, temp)
            log(f"dmem{div}_{temp}_it2", d2, t0)
            log(f"dmem{div}_{temp}+mem", rank(d1) + rank(mem), t0)


def rank(s):
    return rankdata(s) / len(s)

if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], [int(c) for c in sys.argv[3].split(",")],
         sys.argv[4].split(",") if len(sys.argv) > 4 else ["10_0.02", "4_0.02", "10_0.05"])
