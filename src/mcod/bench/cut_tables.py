"""How well each label-free cut recovers the true outliers, as a Markdown table: the part of
RESULTS.md that `benchmarks/cuts.py` feeds (records tagged "cuts", one per task, with every
cut's flagged count, precision, recall and F1 on the same training scores)."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["SPLITS", "cut_table", "split_records"]

# (title, which records): development (where the default method was picked), confirmation
SPLITS = (
    ("Development: digits (mcod-scratch) + ODDS dev half (mcod-tabular)",
     lambda r: r["split"] == "dev"),
    ("Confirmation: ODDS other half (mcod-tabular)",
     lambda r: r["split"] == "confirm" and r["protocol"] == "odds"),
    ("Confirmation: images (mcod-default)",
     lambda r: r["split"] == "confirm" and r["protocol"] != "odds"),
)


def split_records(records: list[dict[str, Any]]) -> list[tuple[str, list[dict[str, Any]]]]:
    """(title, records) of each split, of the records tagged "cuts"."""
    cuts = [r for r in records if r.get("tag") == "cuts"]
    return [(title, [r for r in cuts if belongs(r)]) for title, belongs in SPLITS]


def _mean(values: list[float]) -> float:
    return float(np.mean(values)) if values else float("nan")


def cut_table(records: list[dict[str, Any]], title: str) -> str:
    """Per cut, mean F1, precision, recall and flagged / true count (the median of the
    ratio, and its spread) over the tasks given; best F1 first."""
    methods = sorted({m for r in records for m in r["cuts"]})
    rows = []
    for method in methods:
        cuts = [(r["cuts"][method], r["n_out"]) for r in records
                if "f1" in r["cuts"].get(method, {})]
        if not cuts:
            continue
        ratio = [c["flagged"] / n for c, n in cuts]
        failed = len(records) - len(cuts)
        f1 = _mean([c["f1"] for c, _ in cuts])
        rows.append((f1, f"| {method} | {f1:.3f} "
                         f"| {_mean([c['precision'] for c, _ in cuts]):.3f} "
                         f"| {_mean([c['recall'] for c, _ in cuts]):.3f} "
                         f"| {np.median(ratio):.2f} ({np.percentile(ratio, 25):.2f}-"
                         f"{np.percentile(ratio, 75):.2f}) | {failed or ''} |"))
    rows.sort(key=lambda row: -row[0])
    head = (f"{title} ({len(records)} tasks)\n\n| cut | F1 | precision | recall | "
            "flagged / true (median, IQR) | failed |\n|---|---|---|---|---|---|")
    return "\n".join([head, *(row[1] for row in rows)])
