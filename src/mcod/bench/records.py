"""Choosing, grouping and ordering benchmark result records: what the RESULTS.md tables
(:mod:`mcod.bench.report`) and its figures (:mod:`mcod.bench.figures`) both show, in one
order, kept below both so that neither imports the other."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from mcod.bench.detectors import ABLATIONS, BASELINES, MCOD_DETECTORS, ON_FEATURES

DATASET_ORDER = ("mnist", "fashion-mnist", "cifar10", "digits")


def stats(values: Sequence[float | None]) -> tuple[float, float, int]:
    """(mean, sample standard deviation, count) of the values given (None left out)."""
    vals = [float(v) for v in values if v is not None]
    n = len(vals)
    if n == 0:
        return math.nan, math.nan, 0
    mean = sum(vals) / n
    sd = math.sqrt(sum((v - mean) ** 2 for v in vals) / (n - 1)) if n > 1 else 0.0
    return mean, sd, n


def order_detectors(names: Iterable[str]) -> list[str]:
    names = set(names)
    first = [*MCOD_DETECTORS, *(f"mcod-{a}" for a in ABLATIONS)]
    on_features = [f"{b}-pretrained" for b in ON_FEATURES]
    ordered = [n for n in [*first, *on_features, *BASELINES] if n in names]
    return ordered + sorted(names - set(ordered))


def order_datasets(names: Iterable[str]) -> list[str]:
    names = set(names)
    return [d for d in DATASET_ORDER if d in names] + sorted(names - set(DATASET_ORDER))


def is_baseline(rec: dict[str, Any]) -> bool:
    return rec.get("family") == "baseline" or rec["detector"] in BASELINES


def select(records: list[dict[str, Any]], protocol: str, rho: float | None = None,
            tag: str = "") -> list[dict[str, Any]]:
    return [
        r for r in records
        if r.get("protocol") == protocol and (r.get("tag") or "") == tag
        and (rho is None or abs(float(r.get("rho", -1)) - rho) < 1e-9)
    ]


def group(records: Iterable[dict[str, Any]], *fields: str) -> dict[tuple, list[dict]]:
    out: dict[tuple, list[dict]] = defaultdict(list)
    for r in records:
        out[tuple(r.get(f) for f in fields)].append(r)
    return out


def best_baselines(records: list[dict[str, Any]], k: int) -> list[str]:
    by_det = group([r for r in records if is_baseline(r)], "detector")
    means = {d[0]: stats([r["auroc"] for r in rs])[0] for d, rs in by_det.items()}
    return sorted(means, key=lambda d: -means[d])[:k]


def sweep_detectors(records: list[dict[str, Any]]) -> list[str]:
    """mcod-default, mcod-scratch and the three best baselines among those run at more
    than one rho.

    mcod's configs are shown whenever they have runs, so that a sweep still to be rerun
    after a change of the default shows as gaps rather than dropping mcod from the table.
    """
    by_detector = group(records, "detector")
    swept = [r for (_,), runs in by_detector.items()
             if len({f"{r['rho']:g}" for r in runs}) > 1 for r in runs]
    mcod = [c for c in ("mcod-default", "mcod-scratch") if (c,) in by_detector]
    return mcod + best_baselines(swept, 3)
