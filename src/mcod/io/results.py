"""Ranked outlier tables: ranks, the top-N view, and the scores CSV (written atomically);
and how messages and the report write counts and image sizes, so that all read alike."""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mcod.io.atomic import atomic_write

__all__ = [
    "OUTLIERS_FILE",
    "SCORES_FILE",
    "ScoresFile",
    "counted",
    "is_scores_csv",
    "ranks",
    "read_scores_csv",
    "size_text",
    "top_indices",
    "write_outliers_csv",
    "write_scores_csv",
]

SCORES_FILE = "scores.csv"
OUTLIERS_FILE = "outliers.csv"
SCORES_COLUMNS = ("score", "label", "rank")  # after the first column, which names the samples
_HEADER_BYTES = 64 * 1024  # a longer first line is not a header write_scores_csv wrote


def counted(n: int, noun: str) -> str:
    """'1 outlier', '2,500 outliers': a count with its noun, for messages and reports."""
    return f"{n:,} {noun}" + ("" if n == 1 else "s")


def size_text(width: int, height: int) -> str:
    """'640x480': an image size, always width x height (as image tools write it)."""
    return f"{width}x{height}"


def _check(scores: np.ndarray, labels: np.ndarray, names: Sequence[str] | None) -> None:
    if scores.ndim != 1 or labels.shape != scores.shape:
        raise ValueError(f"scores {scores.shape} and labels {labels.shape} must be equal 1-D")
    if names is not None and len(names) != len(scores):
        raise ValueError(f"{len(names)} names for {len(scores)} scores")


def top_indices(scores: np.ndarray, n: int | None = None) -> np.ndarray:
    """Indices of the highest scores first (ties keep input order); all if ``n`` is None."""
    order = np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")
    return order if n is None else order[: max(int(n), 0)]


def ranks(scores: np.ndarray) -> np.ndarray:
    """Rank of each sample: 1 = the most outlying (highest score)."""
    order = top_indices(scores)
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(1, len(order) + 1)
    return rank


def write_scores_csv(
    path: str | os.PathLike[str],
    scores: np.ndarray,
    labels: np.ndarray,
    names: Sequence[str] | None = None,
    key_column: str | None = None,
) -> Path:
    """Write one row per sample, in input order: index|path, score, label (1 = outlier), rank.

    The first column is ``path`` when ``names`` (e.g. image files) are given, else ``index``
    (0-based position in the input); ``key_column`` renames it (e.g. a table's id column).
    Scores are written with full float precision. The file is replaced atomically; its
    directory must exist.
    """
    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(labels).astype(np.int64)
    _check(scores, labels, names)
    rank = ranks(scores)
    rows = (
        [_key(i, names), repr(float(scores[i])), int(labels[i]), int(rank[i])]
        for i in range(len(scores))
    )
    return _write_csv(path, [_first_column(names, key_column), *SCORES_COLUMNS], rows)


def is_scores_csv(path: str | os.PathLike[str]) -> bool:
    """Whether the file at ``path`` has the header `write_scores_csv` writes, KEY,score,
    label,rank: how ``--out`` tells a scores file mcod wrote (which it replaces) from a
    user's file of the same name (which it leaves alone unless told)."""
    try:
        with open(path, "rb") as handle:
            first = handle.readline(_HEADER_BYTES)
        header = next(csv.reader([first.decode("utf-8").rstrip("\r\n")]))
    except (OSError, UnicodeDecodeError, StopIteration, csv.Error):
        return False
    return len(header) == 1 + len(SCORES_COLUMNS) and tuple(header[1:]) == SCORES_COLUMNS


def write_outliers_csv(
    path: str | os.PathLike[str],
    scores: np.ndarray,
    outliers: np.ndarray,
    names: Sequence[str] | None = None,
    key_column: str | None = None,
) -> Path:
    """Write the outliers only, most outlying first: index|path, score, rank.

    ``outliers`` is a 0/1 (or bool) mask over all samples; ``rank`` is among *all* samples
    (1 = most outlying). The first column is named as in :func:`write_scores_csv`. Written
    atomically; the directory must exist.
    """
    scores = np.asarray(scores, dtype=np.float64)
    mask = np.asarray(outliers).astype(bool)
    _check(scores, mask, names)
    rank = ranks(scores)
    rows = (
        [_key(i, names), repr(float(scores[i])), int(rank[i])]
        for i in top_indices(scores)
        if mask[i]
    )
    return _write_csv(path, [_first_column(names, key_column), "score", "rank"], rows)


def _first_column(names: Sequence[str] | None, key_column: str | None) -> str:
    return key_column or ("index" if names is None else "path")


def _key(i: int, names: Sequence[str] | None) -> int | str:
    return int(i) if names is None else str(names[i])


def _write_csv(path: str | os.PathLike[str], header: list[str], rows: Iterable[list]) -> Path:
    """One header, then the rows; replaced atomically."""
    with atomic_write(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return Path(path)


@dataclass(frozen=True)
class ScoresFile:
    """A scores CSV as :func:`write_scores_csv` wrote it: the name of its first column
    (index, path or an id column), each row's key as written, its score and label."""

    key_column: str
    keys: list[str]
    scores: np.ndarray
    labels: np.ndarray


def read_scores_csv(path: str | os.PathLike[str]) -> ScoresFile:
    """Read a scores CSV back, each row checked; a ValueError names the file and the row."""
    file = Path(path).expanduser()
    if not file.is_file():
        raise FileNotFoundError(f"scores file not found: {file}")
    with file.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    if not rows or len(rows[0]) != 4 or rows[0][1:] != ["score", "label", "rank"]:
        raise ValueError(f"{file} is not a scores.csv from 'mcod detect --out' (its header "
                         "must be index|path|ID, score, label, rank)")
    keys, scores, labels = [], [], []
    for line, row in enumerate(rows[1:], start=2):
        try:
            score, label = float(row[1]), int(row[2])
        except (IndexError, ValueError):
            raise ValueError(f"{file} line {line}: not a row of key, score, label, "
                             "rank") from None
        if len(row) != 4 or not math.isfinite(score) or label not in (0, 1):
            raise ValueError(f"{file} line {line}: the score must be finite and the label 0 "
                             "or 1, in a row of 4 fields")
        keys.append(row[0])
        scores.append(score)
        labels.append(label)
    return ScoresFile(rows[0][0], keys, np.array(scores, dtype=np.float64),
                      np.array(labels, dtype=np.int64))
