"""Label-free cuts (issue 19, item 1): how well each PyThresh method, and the fixed-share
cut at 0.1, recovers the true outliers from MCOD's training scores.

Each task is fitted once with the benchmark's own MCOD (``mcod.bench.detectors``:
``mcod-tabular`` on ODDS, ``mcod-scratch`` on sklearn digits (0.1's ``mcod-default``),
``mcod-default`` (the pretrained encoder) on MNIST, Fashion-MNIST and CIFAR-10), on the
benchmark's transductive tasks
(``mcod.bench.protocols``); then every cut is applied to the same training scores
(``mcod.cuts.thresholder_cut``, what ``MCOD(contamination=...)`` does) and compared with
the labels: how many it flags against the true outlier count, precision, recall and F1.
Labels reach only these metrics. One JSON line per task is appended as it finishes (a
rerun skips the tasks already in --results).

The split, fixed before any run: the development tasks, on which the default method is
picked, are sklearn digits (10 classes, rho 0.05 and 0.2: away from the fixed share) and
every other ODDS set in ``ODDS_NAMES`` order from the first (annthyroid, breastw, cover,
...); the confirmation tasks are the other ODDS sets and the image tasks.

    OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 python benchmarks/cuts.py run --threads 1
    python benchmarks/cuts.py summary        # the tables of benchmarks/DEVELOPMENT.md
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from mcod.bench import detectors
from mcod.bench.cut_tables import cut_table, split_records
from mcod.bench.metrics import auroc
from mcod.bench.protocols import ODDS_MAX_N, Task, build_odds_tasks, build_tasks
from mcod.bench.results import append_result, read_results, run_key
from mcod.bench.runner import provenance
from mcod.cuts import cut, pythresh_class, thresholder_cut

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "cuts.jsonl"
SHARE = 0.1  # the fixed-share cut: mcod's default contamination
# Every PyThresh method that runs with PyThresh's own dependencies in about a minute at
# most on 20,000 scores (BOOT, GAMGMM and VAE take minutes; CLUST, CPD and META need packages
# PyThresh does not install; OCSVM fails in PyThresh 1.1.1).
CANDIDATES = ("aucp", "chau", "clf", "decomp", "dsn", "eb", "fgd", "filter", "fwfm",
              "gesd", "hist", "iqr", "karch", "mad", "mcst", "mixmod", "moll", "mtt", "qmcd",
              "regr", "wind", "yj", "zscore")
IMAGE_SETS = ("mnist", "fashion-mnist", "cifar10")


def _odds_split() -> tuple[list[str], list[str]]:
    from mcod.data.datasets import ODDS_NAMES

    return list(ODDS_NAMES[0::2]), list(ODDS_NAMES[1::2])


def plan(image_classes: list[int], image_rhos: list[float]) -> Iterator[tuple[str, str, Task]]:
    """(split, detector, task): the development tasks first (ODDS, digits), then the
    confirmation ones (ODDS, the image sets)."""
    from mcod.data.datasets import load_dataset, load_odds

    dev, confirm = _odds_split()
    odds = {name: build_odds_tasks(name, load_odds(name)[1], [0], ODDS_MAX_N)
            for name in dev + confirm}
    for name in dev:
        yield "dev", "mcod-tabular", odds[name][0]
    digits = load_dataset("digits")
    for task in build_tasks("uod", "digits", digits.labels, None, range(10),
                            [0.05, 0.2], [0]):
        yield "dev", "mcod-scratch", task
    for name in confirm:
        yield "confirm", "mcod-tabular", odds[name][0]
    for rho in image_rhos:
        for name in IMAGE_SETS:
            ds = load_dataset(name)
            for task in build_tasks("uod", name, ds.labels, ds.split, image_classes, [rho], [0]):
                yield "confirm", "mcod-default", task


def _data(task: Task) -> np.ndarray:
    from mcod.data.datasets import load_dataset, load_odds

    if task.protocol == "odds":
        return load_odds(task.dataset)[0][task.fit_idx]
    return load_dataset(task.dataset).images[task.fit_idx]


def cut_metrics(y: np.ndarray, flagged: np.ndarray) -> dict[str, float | int]:
    """How many are flagged, and precision, recall and F1 of the flagged as outliers."""
    hits = int((flagged & (y == 1)).sum())
    n_flagged, n_out = int(flagged.sum()), int(y.sum())
    precision = hits / n_flagged if n_flagged else 0.0
    recall = hits / n_out if n_out else 0.0
    f1 = 2 * precision * recall / (precision + recall) if hits else 0.0
    return {"flagged": n_flagged, "precision": precision, "recall": recall, "f1": f1}


def all_cuts(scores: np.ndarray, y: np.ndarray) -> dict[str, dict[str, float | int]]:
    """Every candidate's cut of the scores (and the fixed share's), with its metrics and
    seconds; a method that fails is recorded with its error."""
    out: dict[str, dict[str, Any]] = {}
    out[f"share-{SHARE:g}"] = cut_metrics(y, cut(scores, SHARE)[1].astype(bool))
    for name in CANDIDATES:
        started = time.perf_counter()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                _, labels = thresholder_cut(pythresh_class(name.upper())(), scores)
        except Exception as error:  # noqa: BLE001 - a method's failure is a result too
            out[name] = {"error": f"{type(error).__name__}: {error}"[:200]}
            continue
        out[name] = {**cut_metrics(y, labels.astype(bool)),
                     "seconds": time.perf_counter() - started}
    return out


def run(args: argparse.Namespace) -> int:
    import torch

    torch.set_num_threads(args.threads)
    classes = [int(c) for c in args.image_classes.split(",")]
    rhos = [float(r) for r in args.image_rhos.split(",")]
    done = {run_key(r) for r in read_results(args.results)}
    for split, name, task in plan(classes, rhos):
        key = {**task.key_fields(), "detector": name, "tag": "cuts", "quick": False}
        if run_key(key) in done:
            continue
        spec = detectors.get(name)
        started = time.perf_counter()
        est = spec.build(task.seed, False)
        est.fit(detectors.prepare_input(spec, _data(task)))
        fit_s = time.perf_counter() - started
        scores = np.asarray(est.decision_scores_, dtype=np.float64)
        record = {**key, "split": split, "n": task.n_scored, "n_out": task.n_out,
                  "auroc": auroc(task.y, scores), "fit_s": fit_s,
                  "cuts": all_cuts(scores, task.y), **provenance()}
        append_result(args.results, record)
        print(f"{task.label} {name}: n_out {task.n_out}, auroc {record['auroc']:.3f}, "
              f"fit {fit_s:.0f}s", flush=True)
    return 0


def per_task(records: list[dict[str, Any]], methods: list[str]) -> str:
    """Markdown: each task's true outlier count and, per method, flagged and F1."""
    head = "| task | AUROC | outliers | " + " | ".join(
        f"{m}: flagged, F1" for m in methods) + " |"
    lines = [head, "|" + "---|" * (3 + len(methods))]
    for r in records:
        task = r["dataset"] if r["protocol"] == "odds" else (
            f"{r['dataset']} c={r['class']} rho={r['rho']:g}")
        cells = [f"{r['cuts'][m].get('flagged', '-')}, {r['cuts'][m].get('f1', 0):.2f}"
                 for m in methods]
        lines.append(f"| {task} | {r['auroc']:.3f} | {r['n_out']} | " + " | ".join(cells)
                     + " |")
    return "\n".join(lines)


def summary(args: argparse.Namespace) -> int:
    records = [r for r in read_results(args.results) if r.get("tag") == "cuts"]
    print("\n\n".join(cut_table(rs, title) for title, rs in split_records(records)))
    if args.methods:
        methods = [f"share-{SHARE:g}", *args.methods.split(",")]
        print()
        print(per_task(records, methods))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run_parser = sub.add_parser("run", help="fit each task and record every cut")
    run_parser.add_argument("--threads", type=int, default=1)
    run_parser.add_argument("--image-classes", default="0")
    run_parser.add_argument("--image-rhos", default="0.05,0.2")
    run_parser.set_defaults(func=run)
    sum_parser = sub.add_parser("summary", help="print the markdown tables")
    sum_parser.add_argument("--methods", help="also a per-task table of these methods")
    sum_parser.set_defaults(func=summary)
    for p in (run_parser, sum_parser):
        p.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
