"""Probe (#18, one-class MNIST), step 2: candidate local score terms on the arrays that
`local_term_dump.py` saved, each alone and added to the model's score. Every term is put
on the scale of its own training scores (leave-self-out kNN distances, LOF's own factors,
the model's cross-fitted scores) before it is added, so no label enters; labels give the
AUROC only. Prints mean AUROC per set (and its change over the model's score) of the 30
candidates whose smallest change over the sets is largest, then of those named.

    python benchmarks/explore/local_term_analysis.py DUMP_DIR [CANDIDATE ...]
"""

import glob
import os
import sys
from collections import defaultdict

import numpy as np
from sklearn.metrics import roc_auc_score
from sklearn.neighbors import LocalOutlierFactor, NearestNeighbors

LAST = 1280  # unit features: [last layer (1280) | mid-level grid], each half of norm 1/sqrt2


def _z(train, test, robust=False):
    if robust:
        med = np.median(train)
        return (test - med) / (np.median(np.abs(train - med)) * 1.4826)
    return (test - train.mean()) / train.std()


def _unit(x):
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def _spaces(fit, test):
    return {"all": (fit, test), "last": (_unit(fit[:, :LAST]), _unit(test[:, :LAST])),
            "mid": (_unit(fit[:, LAST:]), _unit(test[:, LAST:]))}


def terms(d):
    """{name: (training values, test values)} of every local candidate on one task."""
    out = {}
    for space, (fit, test) in _spaces(d["fit_unit"], d["test_unit"]).items():
        nn = NearestNeighbors(n_neighbors=51).fit(fit)
        fit_d = nn.kneighbors(fit)[0][:, 1:]  # leave self out
        test_d = nn.kneighbors(test, n_neighbors=50)[0]
        for k in (1, 5):
            out[f"knn{k}-{space}"] = (fit_d[:, :k].mean(1), test_d[:, :k].mean(1))
        for k in (10, 20, 50):
            lof = LocalOutlierFactor(n_neighbors=k, novelty=True).fit(fit)
            out[f"lof{k}-{space}"] = (-lof.negative_outlier_factor_, -lof.score_samples(test))
    return out


def evaluate(d, cache):
    y, centre = d["y"], (d["train_scores"], d["test_scores"])
    auc = {"centre": roc_auc_score(y, centre[1])}
    for name, (train, test) in cache.items():
        auc[name] = roc_auc_score(y, test)
        for w in (0.25, 0.5, 1.0):
            for robust in (False, True):
                key = f"centre+{w}*{name}" + ("/mad" if robust else "")
                auc[key] = roc_auc_score(
                    y, _z(*centre, robust) + w * _z(train, test, robust))
    for a in ("knn1-all",):
        for b in ("lof10-all", "lof20-all", "lof50-all", "lof10-mid", "lof20-mid", "lof50-mid"):
            for w in (0.25, 0.5, 1.0):
                auc[f"centre+{a}+{w}*{b}"] = roc_auc_score(
                    y, _z(*centre) + _z(*cache[a]) + w * _z(*cache[b]))
    return auc


def main(folder, *show):
    by_set = defaultdict(list)
    for path in sorted(p for p in glob.glob(f"{folder}/*.npz") if not p.endswith(".terms.npz")):
        cached = path.replace(".npz", ".terms.npz")
        d = dict(np.load(path))
        if os.path.exists(cached):
            c = np.load(cached)
            cache = {k[:-6]: (c[k], c[k[:-6] + ":test"]) for k in c.files if k.endswith(":train")}
        else:
            cache = terms(d)
            np.savez(cached, **{f"{k}:train": v[0] for k, v in cache.items()},
                     **{f"{k}:test": v[1] for k, v in cache.items()})
        name = os.path.basename(path)[:-4]
        by_set[name.rsplit("_", 2)[0]].append((name, evaluate(d, cache)))
    keys = list(by_set[next(iter(by_set))][0][1])
    rows = []
    for key in keys:
        means = {s: np.mean([a[key] for _, a in runs]) for s, runs in by_set.items()}
        gains = {s: means[s] - np.mean([a["centre"] for _, a in by_set[s]]) for s in by_set}
        rows.append((min(gains.values()), key, means, gains))
    rows.sort(key=lambda r: -r[0])
    sets = list(by_set)
    print("candidate".ljust(44), " ".join(f"{s[:8]:>17}" for s in sets), "  (n:",
          [len(by_set[s]) for s in sets], ")")
    for _, key, means, gains in rows[:30] + [r for r in rows if r[1] in show]:
        print(key.ljust(44), " ".join(f"{means[s]:.4f} ({gains[s]:+.4f})" for s in sets))


if __name__ == "__main__":
    main(*sys.argv[1:])
