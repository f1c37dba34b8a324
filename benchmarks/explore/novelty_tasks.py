"""What the one-class novelty probes share: their tasks (the full bench tasks of some
classes and one seed, features from the cache), the fit, and one JSON line per task."""

import json
import os
import time
from collections.abc import Iterator

import numpy as np
import torch

from mcod.bench.protocols import Task
from mcod.bench.runner import _load_tasks
from mcod.detector import MCOD


def novelty_fits(name: str, classes: str, seed: str) -> Iterator[tuple[np.ndarray, Task, MCOD]]:
    """(the dataset's images, a task, `default` fitted on it with novelty=True) for each
    one-class task of ``classes`` ("2-4") and ``seed``, on one thread."""
    torch.set_num_threads(1)
    lo, hi = (int(c) for c in classes.split("-"))
    images, tasks = _load_tasks(name, "oneclass", [0.1], list(range(lo, hi + 1)), [int(seed)],
                                None, os.environ.get("MCOD_DATA_DIR"))
    for task in tasks:
        yield images, task, MCOD(config="default", random_state=task.seed, verbose=False,
                                 device="cpu", novelty=True).fit(images[task.fit_idx])


def log_record(out: str, record: dict, start: float) -> None:
    """The record, with its seconds since ``start``, appended to OUT/log.jsonl and printed."""
    record["s"] = round(time.time() - start, 1)
    os.makedirs(out, exist_ok=True)
    with open(f"{out}/log.jsonl", "a") as f:
        f.write(json.dumps(record) + "\n")
    print(json.dumps(record), flush=True)
