"""Probe (#18, one-class gap): how the whitened reference's trim moves AUROC, per task.

Fits `default` once per task (the full bench task, features from the cache), keeps the
training rows and their memory scores, then refits only the reference at each trim and
scores the task. Saves, per task, the memory scores and the reference scores at trim 0.3
(training rows), so label-free estimates of the trim can be compared offline; the labels
are kept for that evaluation only.

    python benchmarks/explore/trim_probe.py fashion-mnist oneclass 0-4 7 OUT_DIR
    python benchmarks/explore/trim_probe.py fashion-mnist oneclass 0-4 7 OUT_DIR --shrink
"""

import json
import os
import sys
import time

import numpy as np
import torch
from sklearn.metrics import roc_auc_score

from mcod.bench.runner import _load_tasks
from mcod.config import NOVELTY_TRIM
from mcod.detector import MCOD
from mcod.nn.ensemble import MCODEnsemble

TRIMS = (0.01, 0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4)
# --shrink: instead, the reference at NOVELTY_TRIM refitted at each of these shrinkages
SHRINKS = (0.02, 0.05, 0.1, 0.2, 0.4, 0.6, 0.9)
captured = {}
_fit_reference = MCODEnsemble.fit_reference


def _capture(self, rows, memory_scores, scale):
    captured.update(rows=rows, memory=memory_scores, scale=scale)
    return _fit_reference(self, rows, memory_scores, scale)


MCODEnsemble.fit_reference = _capture


def main(name, proto, classes, seed, out, shrink=False):
    torch.set_num_threads(1)
    lo, hi = (int(c) for c in classes.split("-"))
    images, tasks = _load_tasks(name, proto, [0.1], list(range(lo, hi + 1)), [int(seed)],
                                None, os.environ.get("MCOD_DATA_DIR"))
    os.makedirs(out, exist_ok=True)
    for task in tasks:
        path = f"{out}/{name}_{proto}_c{task.inlier_class}_s{task.seed}.npz"
        if shrink:
            path = path.replace(".npz", "_shrink.npz")
        if os.path.exists(path):
            continue
        start = time.time()
        m = MCOD(config="default", random_state=task.seed, verbose=False, device="cpu")
        torch.manual_seed(task.seed)
        np.random.seed(task.seed)
        m.fit(images[task.fit_idx])
        net = m.network_
        rows, memory, scale = captured["rows"], captured["memory"], captured["scale"]
        record = {"ds": name, "proto": proto, "c": task.inlier_class, "seed": task.seed}
        saved = {"memory": memory.numpy(), "y": task.y}
        for trim, net.shrink in ([(NOVELTY_TRIM, a) for a in SHRINKS] if shrink else
                                 [(t, net.shrink) for t in TRIMS]):
            net.trim = trim
            train = net.fit_reference(rows, memory, scale).double().numpy()
            scores = train if task.score_idx is None else m.decision_function(
                images[task.score_idx])
            key = f"t{trim:g}" + (f"_a{net.shrink:g}" if shrink else "")
            record[key] = roc_auc_score(task.y, scores)
            saved[f"train_{key}"] = train
        record["s"] = round(time.time() - start, 1)
        np.savez_compressed(path, **saved)
        with open(f"{out}/{'shrink_' if shrink else ''}log.jsonl", "a") as f:
            f.write(json.dumps(record) + "\n")
        print(json.dumps(record), flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:6], shrink="--shrink" in sys.argv)
