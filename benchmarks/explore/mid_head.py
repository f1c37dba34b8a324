"""Probe (#18, pretrained step 5): the default config's head, and kNN (k = 5, 50), on the
representations `mid_extract.py` saved; one JSON line per (representation, class).

A representation joins saved keys with "+" (each part L2-normalised, the whole scaled back
to unit length): "fg" is the default's features, "fg+b10s2" what the encoder spec
``efficientnet-lite0+mid`` gives. Tasks on the subsample, seed 0, rho 0.1: one-class fits
the 2,000 training images of the class and scores its test images plus other test images;
UOD fits and scores the class's images (train subsample and test) plus other classes'.

    python benchmarks/explore/mid_head.py mnist oneclass 0,1,2,3,4 fg,fg+b10s2 --head
    python benchmarks/explore/mid_head.py fashion-mnist oneclass 0,1,2,3,4 fg+b10s2 --head \
        --set reference_trim=0.0          # a config field changed (a float) for the head
"""

import json
import os
import sys
import time

import numpy as np
from sklearn.metrics import roc_auc_score

from mcod.config import get_config
from mcod.detector import MCOD

OUT = os.environ.get("MID_PROBE_DIR", "/tmp/mid_probe")


def unit(x: np.ndarray) -> np.ndarray:
    x = x.astype(np.float64)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def knn(ref: np.ndarray, q: np.ndarray, k: int, self_out: bool) -> np.ndarray:
    d2 = (q ** 2).sum(1)[:, None] + (ref ** 2).sum(1)[None] - 2 * q @ ref.T
    if self_out:
        np.fill_diagonal(d2, np.inf)
    return np.sqrt(np.maximum(np.partition(d2, k - 1, axis=1)[:, :k], 0)).mean(1)


def task(labels, split, proto, c, seed=0):
    """(fitted rows, scored rows or None for the fitted ones, labels 1 = outlier)."""
    rng = np.random.default_rng([seed, c, 7])
    if proto == "oneclass":
        fit = np.flatnonzero((split == "train") & (labels == c))
        inliers = np.flatnonzero((split == "test") & (labels == c))
        others = np.flatnonzero((split == "test") & (labels != c))
    else:
        fit, inliers, others = None, np.flatnonzero(labels == c), np.flatnonzero(labels != c)
    outliers = rng.choice(others, int(round(len(inliers) * 0.1 / 0.9)), replace=False)
    scored = np.concatenate([inliers, outliers])
    y = np.r_[np.zeros(len(inliers)), np.ones(len(outliers))]
    return (scored, None, y) if fit is None else (fit, scored, y)


def main(name, proto, classes, reps, head, changes):
    saved = np.load(f"{OUT}/multi_{name}.npz")
    config = get_config("default").replace(name="probe", encoder="", **changes)  # on rows
    for rep in reps:
        parts = [unit(saved[p]) for p in rep.split("+")]
        X = np.hstack(parts) / np.sqrt(len(parts))
        for c in classes:
            fit, scored, y = task(saved["labels"], saved["split"], proto, c)
            q = X[fit] if scored is None else X[scored]
            out = {"rep": rep, "c": c, "proto": proto, "ds": name, **changes}
            for k in (5, 50):
                out[f"knn{k}"] = roc_auc_score(y, knn(X[fit], q, k, scored is None))
            if head:
                start = time.time()
                m = MCOD(config=config, random_state=0, verbose=False, device="cpu").fit(X[fit])
                s = m.decision_scores_ if scored is None else m.decision_function(q)
                out["head"], out["head_s"] = roc_auc_score(y, s), round(time.time() - start, 1)
            print(json.dumps(out), flush=True)


if __name__ == "__main__":
    sets = [a.split("=") for flag, a in zip(sys.argv, sys.argv[1:], strict=False)
            if flag == "--set"]
    main(sys.argv[1], sys.argv[2], [int(c) for c in sys.argv[3].split(",")],
         sys.argv[4].split(","), "--head" in sys.argv, {k: float(v) for k, v in sets})
