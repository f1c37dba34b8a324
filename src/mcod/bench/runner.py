"""The bench loop: datasets x detectors x tasks, skipping runs already in the results file.

Order: dataset (as given), then detector (as given: put cheap ones first), then task in
(seed, rho, class) order, so an interrupted bench already covers every class of its first
seed. Each run goes to a fresh "spawn" process unless ``isolate=False`` (see worker.py for how
memory is measured); its record is appended to the results file as soon as it finishes.
An mcod run checkpoints its training every CHECKPOINT_EVERY seconds in a folder of its own
under ``<results>.checkpoints/`` (`mcod.nn.checkpoint`): a bench killed during a long fit
goes on from there when started again (its record says ``resumed``, and its ``fit_s``
counts only the resumed part); the folder is removed once the record is written.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import platform
import shutil
import sys
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from mcod.bench import detectors as det
from mcod.bench.protocols import ODDS_MAX_N, Task, build_odds_tasks, build_tasks
from mcod.bench.results import append_result, completed_keys, run_key
from mcod.bench.worker import run_job

THREAD_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
CHECKPOINT_EVERY = 60.0  # seconds of training an interrupted bench may lose per run


def checkpoint_folder(results: Path, key: tuple) -> Path:
    """Where the run of ``key`` checkpoints its training, beside the results file."""
    name = hashlib.sha256(repr(key).encode()).hexdigest()[:16]
    return results.with_name(results.name + ".checkpoints") / name


@dataclass
class BenchSummary:
    planned: int = 0
    skipped: int = 0
    done: int = 0
    failed: list[str] = field(default_factory=list)
    seconds: float = 0.0


def provenance(versions: dict[str, str] | None = None) -> dict[str, Any]:
    """When, with which libraries and on what host a result was measured (record fields)."""
    versions = versions or _versions()
    return {
        "timestamp": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "mcod_version": versions["mcod"],
        "versions": versions,
        "host": {"cpus": os.cpu_count(), "machine": platform.machine()},
    }


def _versions() -> dict[str, str]:
    out = {}
    for mod in ("mcod", "torch", "pyod", "sklearn", "numpy"):
        try:
            out[mod] = str(__import__(mod).__version__)
        except Exception:  # noqa: BLE001 - a missing version is not worth failing a run
            out[mod] = "?"
    return out


def _run_isolated(job: dict[str, Any]) -> dict[str, Any]:
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=ctx) as pool:
        return pool.submit(run_job, job).result()


def _check_ablations(names: Sequence[str], ablations: Mapping[str, Any] | None) -> None:
    """Fail before any run if an asked-for ablation names an unknown config field."""
    merged = {**det.ABLATIONS, **(ablations or {})}
    for name in names:
        if name.startswith("mcod-") and name[5:] in merged:
            det.ablation_config(name[5:], merged[name[5:]])


def _load_tasks(
    ds_name: str,
    protocol: str,
    rhos: Sequence[float],
    classes: Sequence[int] | None,
    seeds: Sequence[int],
    max_n: int | None,
    data_dir: str | Path | None,
) -> tuple[Any, list[Task]]:
    """(the data array the tasks index: images or an ODDS table, the tasks)."""
    if protocol == "odds":
        from mcod.data.datasets import load_odds

        X, y = load_odds(ds_name, data_dir)
        return X, build_odds_tasks(ds_name, y, seeds, max_n or ODDS_MAX_N)
    from mcod.data.datasets import load_dataset

    ds = load_dataset(ds_name, data_dir)
    ds_classes = list(range(len(ds.classes))) if classes is None else list(classes)
    tasks = build_tasks(protocol, ds.name, ds.labels, ds.split, ds_classes, rhos, seeds, max_n)
    tasks.sort(key=lambda t: (t.seed, t.rho, t.inlier_class))
    return ds.images, tasks


def _expand_datasets(datasets: Sequence[str], protocol: str) -> list[str]:
    """For odds, "all" (or "odds") stands for every set in mcod.data.datasets.ODDS_NAMES."""
    if protocol != "odds":
        return list(datasets)
    from mcod.data.datasets import ODDS_NAMES

    out: list[str] = []
    for name in datasets:
        for n in ODDS_NAMES if name in ("all", "odds") else (name,):
            if n not in out:
                out.append(n)
    return out


def run_bench(
    *,
    datasets: Sequence[str],
    protocol: str,
    rhos: Sequence[float],
    classes: Sequence[int] | None,
    seeds: Sequence[int],
    detectors: Sequence[str],
    results: str | Path,
    quick: bool = False,
    max_n: int | None = None,
    data_dir: str | Path | None = None,
    threads: int | None = None,
    tag: str = "",
    isolate: bool = True,
    ablations: Mapping[str, Any] | None = None,
    dry_run: bool = False,
    cold_features: bool = False,
    log: Callable[[str], None] | None = None,
) -> BenchSummary:
    """Run every pending (task, detector) and append one record per finished run.
    ``cold_features``: each run encodes its images into an empty feature cache of its own
    (what a first fit costs), instead of reading a dataset encoded once up front."""
    from tqdm.auto import tqdm

    names = det.resolve(list(detectors), ablations)
    _check_ablations(names, ablations)
    specs = det.registry(ablations)
    wrong = [n for n in names if not det.takes(specs[n], table=protocol == "odds")]
    if wrong:
        kind = "tables (protocol odds)" if protocol == "odds" else "images"
        raise ValueError(f"detector(s) {', '.join(wrong)} do not take {kind}")
    datasets = _expand_datasets(datasets, protocol)
    if threads:
        for var in THREAD_ENV:  # inherited by the spawned run processes
            os.environ[var] = str(threads)
    results = Path(results)
    done_keys = completed_keys(results)
    summary = BenchSummary()
    versions = _versions()
    start = time.perf_counter()

    plan: list[tuple[Any, Task, str, tuple]] = []
    to_encode: list[tuple[Any, list[np.ndarray]]] = []  # (images, indices some run encodes)
    for ds_name in datasets:
        ds, tasks = _load_tasks(ds_name, protocol, rhos, classes, seeds, max_n, data_dir)
        needed: list[np.ndarray] = []
        for name in names:
            for task in tasks:
                summary.planned += 1
                key = run_key({**task.key_fields(), "detector": name, "tag": tag, "quick": quick})
                if key in done_keys:
                    summary.skipped += 1
                    continue
                plan.append((ds, task, name, key))
                if specs[name].features:
                    needed += [i for i in (task.fit_idx, task.score_idx) if i is not None]
        if needed and not cold_features:
            to_encode.append((ds, needed))

    def _say(msg: str) -> None:
        tqdm.write(msg, file=sys.stdout)
        sys.stdout.flush()  # logs under nohup show each run as it finishes

    say = log or _say
    say(
        f"bench: {summary.planned} runs planned, {summary.skipped} already in {results}, "
        f"{len(plan)} to run ({'in fresh processes' if isolate else 'in-process'})"
    )
    if dry_run:
        for _, task, name, _ in plan:
            say(f"  would run {task.label} {name}")
        return summary

    if to_encode:  # one extraction per dataset serves all its runs
        from mcod.bench.on_features import encode_dataset

        for images, needed in to_encode:
            encode_dataset(images, needed, say)
    bar = tqdm(plan, desc="bench", unit="run", disable=None, file=sys.stderr)
    for i, (ds, task, name, key) in enumerate(bar, 1):
        label = f"{task.label} {name}"
        checkpoint = checkpoint_folder(results, key)
        job = {
            "detector": name,
            "ablations": dict(ablations or {}),
            "seed": task.seed,
            "quick": quick,
            "fit_images": ds[task.fit_idx],
            "score_images": None if task.score_idx is None else ds[task.score_idx],
            "y": task.y,
            "threads": threads,
            "isolated": isolate,
            "cold_features": cold_features,
            "checkpoint": str(checkpoint),
            "checkpoint_every": CHECKPOINT_EVERY,
        }
        try:
            out = _run_isolated(job) if isolate else run_job(job)
        except Exception as error:  # noqa: BLE001 - incl. BrokenProcessPool (child killed)
            summary.failed.append(f"{label}: {type(error).__name__}: {error}")
            say(f"[{i}/{len(plan)}] FAILED {label}: {type(error).__name__}: {error}")
            if not isolate:
                say(traceback.format_exc())
            continue
        record = {
            **task.key_fields(),
            "detector": name,
            "family": specs[name].family,
            "tag": tag,
            "quick": quick,
            "n": task.n_scored,
            "n_out": task.n_out,
            **out,
            **provenance(versions),
        }
        append_result(results, record)
        shutil.rmtree(checkpoint, ignore_errors=True)
        summary.done += 1
        peak = "?" if out["peak_rss_mb"] is None else f"{out['peak_rss_mb']:.0f}MB"
        say(f"[{i}/{len(plan)}] {label}: AUROC {out['auroc']:.3f} AP-out {out['ap_out']:.3f} "
            f"AP-in {out['ap_in']:.3f} fit {out['fit_s']:.1f}s peak {peak}")
    bar.close()
    summary.seconds = time.perf_counter() - start
    say(f"bench: {summary.done} runs written to {results}, {len(summary.failed)} failed, "
        f"{summary.seconds:.0f}s")
    return summary
