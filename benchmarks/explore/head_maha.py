"""Memory distance in a space made compact by a whitening head, vs kNN-50 on the same features.

Head = shrinkage whitening W = (S + a*tr(S)/D*I)^(-1/2), S the covariance of the reference R
(the rows left after removing the 30% highest `mem` scores: the `pretrained` head's memory
score, cached by head_memread.py in /tmp/hh), a = shrinkage. In the space (f - mean_R) W:
  maha_a      distance to one memory item (the mean of R): the Mahalanobis distance
  wmemK_a     distance to the nearest of K k-means items written from R (K = |R|/div)
  wknn_a      kNN-50 in the whitened space to R (a kNN variant, for the record)
  *_it2       the same once more, R re-trimmed by the whitened score itself
Rows of R are scored by a model fitted without them (2-fold cross-fit) so that reference
rows get no self-advantage over the trimmed ones. Labels only for AUROC.

  PYTHONPATH=src OMP_NUM_THREADS=1 python benchmarks/explore/head_maha.py cifar10 128 0,1,2,3,4 \
      0.1,0.3,1.0 >> benchmarks/explore/head_log.txt
"""
from __future__ import annotations

import sys
import time

import numpy as np
from sklearn.metrics import roc_auc_score

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from head_memread import TRIM, mem_score, rank, tasks, trimmed  # noqa: E402


def whitener(r, shrink):
    mu = r.mean(0)
    c = np.cov(r - mu, rowvar=False)
    d = c.shape[0]
    c = (1 - shrink) * c + shrink * np.trace(c) / d * np.eye(d)
    vals, vecs = np.linalg.eigh(c)
    return mu, vecs / np.sqrt(np.maximum(vals, 1e-12))


def fold_scores(x, ref_mask, shrink, kind, seed=0):
    if kind.endswith("nofold"):  # one whitener from all of R, rows of R included (the library's)
        mu, w = whitener(x[ref_mask], shrink)
        return np.linalg.norm((x - mu) @ w, axis=1)
    if kind.endswith("std"):  # per-column standardised rows, as the library's head sees them
        sd = x.std(0)
        return fold_scores((x - x.mean(0)) / np.where(sd > 0, sd, 1), ref_mask, shrink,
                           kind[:-3], seed)
    rng = np.random.default_rng(seed)
    idx = np.flatnonzero(ref_mask)
    perm = rng.permutation(len(idx))
    parts = [idx[perm[: len(idx) // 2]], idx[perm[len(idx) // 2:]]]
    scores = np.zeros((2, len(x)))
    for p, part in enumerate(parts):
        mu, w = whitener(x[part], shrink)
        z = (x - mu) @ w
        if kind == "maha":
            scores[p] = np.linalg.norm(z, axis=1)
        elif kind == "wknn":
            zr = z[part]
            d2 = (z ** 2).sum(1)[:, None] + (zr ** 2).sum(1)[None] - 2 * z @ zr.T
            scores[p] = np.sqrt(np.maximum(np.partition(d2, 49, axis=1)[:, :50], 0)).mean(1)
        else:  # wmem: nearest of K items
            from sklearn.cluster import KMeans
            items = KMeans(max(2, len(part) // int(kind[4:])), n_init=1, max_iter=30,
                           random_state=seed).fit(z[part]).cluster_centers_
            d2 = (z ** 2).sum(1)[:, None] + (items ** 2).sum(1)[None] - 2 * z @ items.T
            scores[p] = np.sqrt(np.maximum(d2.min(1), 0))
    out = scores.mean(0)
    out[parts[0]] = scores[1][parts[0]]
    out[parts[1]] = scores[0][parts[1]]
    return out


def main(dataset, size, classes, shrinks, kinds, inits=("mem",)):
    for c, x, y, knn, log in tasks(dataset, size, classes):
        mem, tm = mem_score(dataset, size, c, x)
        print(f"{dataset} {size} {c} mem {roc_auc_score(y, mem):.4f} {tm:.1f}", flush=True)
        starts = {"mem": trimmed(mem), "knn": trimmed(knn), "all": np.ones(len(x), bool)}
        for a in shrinks:
            for kind in kinds:
                for init in inits:
                    tag = f"{kind}_{a}" + ("" if init == "mem" else f"_from{init}")
                    tag += "" if TRIM == 0.3 else f"_trim{TRIM}"
                    t0 = time.time()
                    s1 = fold_scores(x, starts[init], a, kind)
                    log(tag, s1, t0)
                    s2 = fold_scores(x, trimmed(s1), a, kind)
                    log(f"{tag}_it2", s2, t0)
                    log(f"{tag}+mem", rank(s1) + rank(mem), t0)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], [int(c) for c in sys.argv[3].split(",")],
         [float(a) for a in sys.argv[4].split(",")],
         sys.argv[5].split(",") if len(sys.argv) > 5 else ["maha", "wmem10"],
         sys.argv[6].split(",") if len(sys.argv) > 6 else ["mem"])
