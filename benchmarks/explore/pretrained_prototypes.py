"""How well can prototypes in the frozen encoder's space do? kNN (k 1/10/50) against the
cosine distance to the nearest of K k-means centroids, CIFAR-10 UOD classes 0-4 (dev).

    PYTHONPATH=src OMP_NUM_THREADS=1 python benchmarks/explore/pretrained_prototypes.py
"""

import sys

import numpy as np
from sklearn.cluster import KMeans
from sklearn.metrics import roc_auc_score

from mcod.data.datasets import uod_split

sys.path.insert(0, "benchmarks/explore")
from pretrained_head import knn_score, unit  # noqa: E402

d = np.load("/tmp/enc_feats/cifar10_128.npz")
f, lab = unit(d["features"]), d["labels"]
for c in range(5):
    idx, y = uod_split(lab, c, 0.1, seed=0)
    x = f[idx]
    out = [f"c={c}"] + [f"knn{k}={roc_auc_score(y, knn_score(x, k)):.4f}" for k in (50, 10, 1)]
    for K in (10, 50, 100):
        km = KMeans(K, n_init=1, random_state=0).fit(x)
        cen = unit(km.cluster_centers_)
        s = 1 - (x @ cen.T).max(1)
        out.append(f"kmeans{K}={roc_auc_score(y, s):.4f}")
    print(" ".join(out), flush=True)
