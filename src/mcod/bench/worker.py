"""One benchmark run: build the detector, fit, score, time it, measure peak memory.

Memory: by default the runner executes every (task, detector) run in a *fresh* process
(multiprocessing "spawn", one process per run), and ``peak_rss_mb`` is that process's
``ru_maxrss``: the true peak of a process that did only this run (Python, imports and the
task's images included). ``base_rss_mb`` is the peak just before ``fit`` (imports + data), so
``peak_rss_mb - base_rss_mb`` is what fitting and scoring added.

In-process mode (``--in-process``, the quick default) resets the kernel's high-water mark
through ``/proc/self/clear_refs`` before the run and reads ``VmHWM`` after it (Linux); memory
kept by earlier runs is then part of the base. Where that reset is not possible, both fields are
None rather than a misleading number.

An mcod detector fits with the job's ``checkpoint`` folder (if any): a run found there half
done goes on from its checkpoint, and its record says ``resumed``.
"""

from __future__ import annotations

import os
import random
import resource
import sys
import tempfile
import time
from typing import Any

import numpy as np

from mcod.bench import detectors
from mcod.bench.metrics import all_metrics
from mcod.nn.allocator import keep_freed_memory

FEATURE_CACHE_ENV = "MCOD_FEATURE_CACHE"  # mcod.nn.feature_cache.default_cache_dir's first

SCORE_TIMING_N = 1000  # uod: images scored again through decision_function, for throughput


def _status_kb(field: str) -> float | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return float(line.split()[1])
    except OSError:
        return None
    return None


def _reset_hwm() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _maxrss_mb() -> float:
    # Linux reports kilobytes, macOS bytes.
    scale = 1.0 / (1024 * 1024) if sys.platform == "darwin" else 1.0 / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)  # PyOD DeepSVDD shuffles with the global NumPy RNG
    if "torch" in sys.modules:
        import torch

        torch.manual_seed(seed)


def _checkpointing(job: dict[str, Any], family: str) -> tuple[dict[str, Any], bool]:
    """mcod's fit options for the job's checkpoint folder (none for a baseline, whose
    process never imports torch), and whether a checkpoint is found there to resume."""
    if not job.get("checkpoint") or family == "baseline":
        return {}, False
    from mcod.nn.checkpoint import CHECKPOINT_FILE

    options = {"checkpoint": job["checkpoint"],
               "checkpoint_every": float(job.get("checkpoint_every", 60.0))}
    return options, os.path.exists(os.path.join(job["checkpoint"], CHECKPOINT_FILE))


def run_job(job: dict[str, Any]) -> dict[str, Any]:
    """Fit one detector on one task. ``job`` keys: detector, ablations, seed, quick, fit_images,
    score_images (None: score the fitted set), y, isolated, threads, cold_features, and
    optionally checkpoint (a folder) and checkpoint_every (seconds) for mcod."""
    if not job.get("cold_features"):
        return _run_job(job)
    saved = os.environ.get(FEATURE_CACHE_ENV)
    with tempfile.TemporaryDirectory(prefix="mcod-cold-features-") as folder:
        os.environ[FEATURE_CACHE_ENV] = folder  # read when the detector makes its cache
        try:
            return {**_run_job(job), "cold_features": True}
        finally:
            if saved is None:
                os.environ.pop(FEATURE_CACHE_ENV, None)
            else:
                os.environ[FEATURE_CACHE_ENV] = saved


def _run_job(job: dict[str, Any]) -> dict[str, Any]:
    threads = job.get("threads")
    isolated = bool(job.get("isolated"))
    keep_freed_memory()
    spec = detectors.get(job["detector"], job.get("ablations"))
    est = spec.build(int(job["seed"]), bool(job["quick"]))
    if threads and "torch" in sys.modules:
        import torch

        torch.set_num_threads(int(threads))
    x_fit = detectors.prepare_input(spec, job["fit_images"])
    x_score = (
        None if job.get("score_images") is None
        else detectors.prepare_input(spec, job["score_images"], fitted_on=job["fit_images"])
    )
    y = np.asarray(job["y"])

    if isolated:
        base_mb: float | None = _maxrss_mb()
    elif _reset_hwm():
        rss = _status_kb("VmRSS")
        base_mb = None if rss is None else rss / 1024
    else:
        base_mb = None

    fit_options, resumed = _checkpointing(job, spec.family)

    _seed_everything(int(job["seed"]))
    t0 = time.perf_counter()
    est.fit(x_fit, **fit_options)
    fit_s = time.perf_counter() - t0

    if x_score is None:  # uod: the transductive scores of the fit
        scores = np.asarray(est.decision_scores_, dtype=np.float64)
        timing_x = x_fit[:SCORE_TIMING_N]
        t0 = time.perf_counter()
        est.decision_function(timing_x)
        score_s = time.perf_counter() - t0
        score_n = len(timing_x)
    else:
        t0 = time.perf_counter()
        scores = np.asarray(est.decision_function(x_score), dtype=np.float64)
        score_s = time.perf_counter() - t0
        score_n = len(x_score)

    if isolated:
        peak_mb: float | None = _maxrss_mb()
    elif base_mb is not None:
        hwm = _status_kb("VmHWM")
        peak_mb = None if hwm is None else hwm / 1024
    else:
        peak_mb = None

    epochs = spec.epochs(bool(job["quick"]))
    config = getattr(est, "config_", None)
    settings = None
    if config is not None and hasattr(config, "to_dict"):
        epochs = int(config.epochs)
        settings = config.to_dict()  # so runs of an older default can be told apart
    n_fit = len(x_fit)
    record: dict[str, Any] = {
        **all_metrics(y, scores),
        "fit_s": fit_s,
        "score_s": score_s,
        "score_n": score_n,
        "score_img_per_s": score_n / score_s if score_s > 0 else None,
        "n_fit": n_fit,
        "epochs": epochs,
        "config": settings,
        "train_img_per_s": n_fit * epochs / fit_s if epochs and fit_s > 0 else None,
        "peak_rss_mb": peak_mb,
        "base_rss_mb": base_mb,
        "memory_mode": "fresh-process" if isolated else ("vmhwm-reset" if peak_mb else None),
        "threads": threads,
        "resumed": resumed,
        "pid": os.getpid(),
    }
    return record
