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


@dataclass(frozen=True)
class PendingRun:
    """One (task, detector) the results file does not hold yet."""

    data: Any  # the array the task indexes: a dataset's images or an ODDS table
    task: Task
    detector: str
    key: tuple  # its identity in the results file (`run_key`)


def _resolve_detectors(
    detectors: Sequence[str], protocol: str, ablations: Mapping[str, Any] | None
) -> tuple[list[str], dict[str, det.DetectorSpec]]:
    """(the detector names the groups stand for, every spec by name); fails before any run
    on an unknown ablation field or a detector that does not take the protocol's input."""
    names = det.resolve(list(detectors), ablations)
    _check_ablations(names, ablations)
    specs = det.registry(ablations)
    wrong = [n for n in names if not det.takes(specs[n], table=protocol == "odds")]
    if wrong:
        kind = "tables (protocol odds)" if protocol == "odds" else "images"
        raise ValueError(f"detector(s) {', '.join(wrong)} do not take {kind}")
    told_clean = [n for n in names if specs[n].novelty and protocol != "oneclass"]
    if told_clean:
        raise ValueError(f"detector(s) {', '.join(told_clean)} assume outlier-free training "
                         f"data: the oneclass protocol only, not {protocol}")
    return names, specs


def _pending_runs(
    tasks: Sequence[Task],
    data: Any,
    names: Sequence[str],
    specs: Mapping[str, det.DetectorSpec],
    key_fields: Mapping[str, Any],
    done_keys: set,
    summary: BenchSummary,
) -> tuple[list[PendingRun], list[np.ndarray]]:
    """One dataset's runs not yet recorded (detector by detector, task by task), counted in
    ``summary``, and the row indices that its feature-reading runs encode."""
    pending: list[PendingRun] = []
    needed: list[np.ndarray] = []
    for name in names:
        for task in tasks:
            summary.planned += 1
            key = run_key({**task.key_fields(), "detector": name, **key_fields})
            if key in done_keys:
                summary.skipped += 1
                continue
            pending.append(PendingRun(data, task, name, key))
            if specs[name].features:
                needed += [i for i in (task.fit_idx, task.score_idx) if i is not None]
    return pending, needed


def _encode_features(to_encode: Sequence[tuple[Any, list[np.ndarray]]],
                     say: Callable[[str], None]) -> None:
    """Encode each dataset's needed rows once up front: one extraction serves all its runs."""
    if to_encode:
        from mcod.bench.on_features import encode_dataset

        for images, needed in to_encode:
            encode_dataset(images, needed, say)


def _job(run: PendingRun, ablations: Mapping[str, Any] | None, quick: bool,
         threads: int | None, isolate: bool, cold_features: bool,
         checkpoint: Path) -> dict[str, Any]:
    """What `mcod.bench.worker.run_job` needs for one run (picklable, for a fresh process)."""
    task = run.task
    return {
        "detector": run.detector,
        "ablations": dict(ablations or {}),
        "seed": task.seed,
        "quick": quick,
        "fit_images": run.data[task.fit_idx],
        "score_images": None if task.score_idx is None else run.data[task.score_idx],
        "y": task.y,
        "threads": threads,
        "isolated": isolate,
        "cold_features": cold_features,
        "checkpoint": str(checkpoint),
        "checkpoint_every": CHECKPOINT_EVERY,
    }


def _record(run: PendingRun, family: str, tag: str, quick: bool, out: Mapping[str, Any],
            versions: dict[str, str]) -> dict[str, Any]:
    """The results-file record of a finished run: its identity, its measures, provenance."""
    return {
        **run.task.key_fields(),
        "detector": run.detector,
        "family": family,
        "tag": tag,
        "quick": quick,
        "n": run.task.n_scored,
        "n_out": run.task.n_out,
        **out,
        **provenance(versions),
    }


def _print_line(message: str) -> None:
    """The default log: a line above the progress bar, flushed (logs under nohup show each
    run as it finishes)."""
    from tqdm.auto import tqdm

    tqdm.write(message, file=sys.stdout)
    sys.stdout.flush()


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
    names, specs = _resolve_detectors(detectors, protocol, ablations)
    datasets = _expand_datasets(datasets, protocol)
    if threads:
        for var in THREAD_ENV:  # inherited by the spawned run processes
            os.environ[var] = str(threads)
    results = Path(results)
    done_keys = completed_keys(results)
    summary = BenchSummary()
    versions = _versions()
    start = time.perf_counter()

    plan: list[PendingRun] = []
    to_encode: list[tuple[Any, list[np.ndarray]]] = []  # (images, indices some run encodes)
    for ds_name in datasets:
        ds, tasks = _load_tasks(ds_name, protocol, rhos, classes, seeds, max_n, data_dir)
        pending, needed = _pending_runs(tasks, ds, names, specs, {"tag": tag, "quick": quick},
                                        done_keys, summary)
        plan += pending
        if needed and not cold_features:
            to_encode.append((ds, needed))

    say = log or _print_line
    say(
        f"bench: {summary.planned} runs planned, {summary.skipped} already in {results}, "
        f"{len(plan)} to run ({'in fresh processes' if isolate else 'in-process'})"
    )
    if dry_run:
        for run in plan:
            say(f"  would run {run.task.label} {run.detector}")
        return summary

    _encode_features(to_encode, say)
    _run_all(plan, results, summary, say, specs=specs, ablations=ablations, quick=quick,
             threads=threads, isolate=isolate, cold_features=cold_features, tag=tag,
             versions=versions)
    summary.seconds = time.perf_counter() - start
    say(f"bench: {summary.done} runs written to {results}, {len(summary.failed)} failed, "
        f"{summary.seconds:.0f}s")
    return summary


def _run_all(plan: Sequence[PendingRun], results: Path, summary: BenchSummary,
             say: Callable[[str], None], *, specs: Mapping[str, det.DetectorSpec],
             ablations: Mapping[str, Any] | None, quick: bool, threads: int | None,
             isolate: bool, cold_features: bool, tag: str, versions: dict[str, str]) -> None:
    """Run the plan in order, each run in a fresh process unless not ``isolate``; record each
    as it ends (its checkpoint folder then goes), or count it failed and go on."""
    from tqdm.auto import tqdm

    bar = tqdm(plan, desc="bench", unit="run", disable=None, file=sys.stderr)
    for i, run in enumerate(bar, 1):
        label = f"{run.task.label} {run.detector}"
        checkpoint = checkpoint_folder(results, run.key)
        job = _job(run, ablations, quick, threads, isolate, cold_features, checkpoint)
        try:
            out = _run_isolated(job) if isolate else run_job(job)
        except Exception as error:  # noqa: BLE001 - incl. BrokenProcessPool (child killed)
            summary.failed.append(f"{label}: {type(error).__name__}: {error}")
            say(f"[{i}/{len(plan)}] FAILED {label}: {type(error).__name__}: {error}")
            if not isolate:
                say(traceback.format_exc())
            continue
        append_result(results, _record(run, specs[run.detector].family, tag, quick, out,
                                       versions))
        shutil.rmtree(checkpoint, ignore_errors=True)
        summary.done += 1
        peak = "?" if out["peak_rss_mb"] is None else f"{out['peak_rss_mb']:.0f}MB"
        say(f"[{i}/{len(plan)}] {label}: AUROC {out['auroc']:.3f} AP-out {out['ap_out']:.3f} "
            f"AP-in {out['ap_in']:.3f} fit {out['fit_s']:.1f}s peak {peak}")
    bar.close()
