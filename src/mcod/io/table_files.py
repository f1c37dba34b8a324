"""Writing a table as a file: CSV, TSV or Parquet, chosen by the suffix, atomically. It
sits in the bottom layer so that both the table reader (:mod:`mcod.data.tables`) and the
cleaned copies (:mod:`mcod.io.cleaning`) name the same formats and write them one way."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from mcod.io.atomic import atomic_write

__all__ = ["CSV_SUFFIXES", "PARQUET_SUFFIXES", "TABLE_SUFFIXES", "write_table"]

CSV_SUFFIXES: tuple[str, ...] = (".csv", ".tsv")
PARQUET_SUFFIXES: tuple[str, ...] = (".parquet", ".pq")
TABLE_SUFFIXES: tuple[str, ...] = CSV_SUFFIXES + PARQUET_SUFFIXES


def _write_separator(path: Path) -> str:
    return "\t" if path.suffix.lower() == ".tsv" else ","


def write_table(frame: Any, path: str | os.PathLike[str], sep: str | None = None) -> Path:
    """Write ``frame`` as CSV/TSV (split on ``sep``, by default the suffix's) or Parquet
    (by suffix), atomically, without the index."""
    target = Path(path)
    suffix = target.suffix.lower()
    if suffix in PARQUET_SUFFIXES:
        with atomic_write(target, "wb") as handle:
            frame.to_parquet(handle, index=False)
    elif suffix in CSV_SUFFIXES:
        with atomic_write(target, "w", newline="") as handle:
            frame.to_csv(handle, index=False, sep=sep or _write_separator(target))
    else:
        raise ValueError(f"cannot write a table as {suffix!r}; use one of {TABLE_SUFFIXES}")
    return target
