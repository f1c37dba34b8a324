"""Memory score of the tabular head on frozen Lite0 features, then kNN-50 to a trimmed reference (the 10-30% highest-scored left out).

    PYTHONPATH=src OMP_NUM_THREADS=1 python benchmarks/explore/pretrained_memtrim.py /tmp/enc_feats/cifar10_128.npz 0,1,2,3,4,5,6,7,8,9

Features from pretrained_extract.py; UOD rho 0.1, seed 0; labels only for AUROC.
"""
import numpy as np, sys, time, torch
torch.set_num_threads(1)
from sklearn.metrics import roc_auc_score
from scipy.stats import rankdata
import mcod
from mcod.datasets import uod_split
f = np.load(sys.argv[1]); X, y = f["features"], f["labels"]
X = (X / np.linalg.norm(X, axis=1, keepdims=True)).astype(np.float64)
classes = [int(c) for c in sys.argv[2].split(",")]
def knn_ref(Z, ref_mask, k=50):
    S = Z @ Z[ref_mask].T
    idx = np.flatnonzero(ref_mask)
    S[idx, np.arange(len(idx))] = -np.inf
    return 1 - (-np.sort(-S, axis=1)[:, :k]).mean(1)
res = {}
for c in classes:
    index, truth = uod_split(y, c, rho=0.1, seed=0)
    Z = X[index]
    t = time.time()
    det = mcod.MCOD(contamination=0.1, config="tabular", random_state=0).fit(Z)
    mem = det.decision_scores_
    knn = knn_ref(Z, np.ones(len(Z), bool))
    row = {"knn50": roc_auc_score(truth, knn), "memory": roc_auc_score(truth, mem)}
    r = lambda s: rankdata(s) / len(s)
    for q in (0.1, 0.2, 0.3):
        ref = mem <= np.quantile(mem, 1 - q)
        tk = knn_ref(Z, ref)
        row[f"memtrim{q}"] = roc_auc_score(truth, tk)
        row[f"mem+memtrim{q}"] = roc_auc_score(truth, r(mem) + r(tk))
        ref2 = knn <= np.quantile(knn, 1 - q)
        row[f"knntrim{q}"] = roc_auc_score(truth, knn_ref(Z, ref2))
    for k_, v in row.items(): res.setdefault(k_, []).append(v)
    print(c, f"t={time.time()-t:.0f}s", " ".join(f"{k_}={v:.3f}" for k_, v in row.items()), flush=True)
print("MEAN", " ".join(f"{k_}={np.mean(v):.4f}" for k_, v in res.items()), flush=True)
