"""The results file: JSON Lines, one object per finished run, appended as runs finish.

Each line is written with a single ``write`` on a file opened for appending, then flushed and
fsynced, so a crash leaves at most one truncated last line; readers skip lines that do not
parse. A run's identity (``run_key``) is (protocol, dataset, class, rho, seed, max_n, detector,
tag, quick): an interrupted bench resumes by skipping keys already present, and a quick
smoke run never stands in for a real one.
"""

from __future__ import annotations

import glob
import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

KEY_FIELDS = ("protocol", "dataset", "class", "rho", "seed", "max_n", "detector", "tag", "quick")


def run_key(record: Mapping[str, Any]) -> tuple:
    """Identity of a run; rho compared as text ('0.1') so float noise cannot split keys."""
    out = []
    for field in KEY_FIELDS:
        value = record.get(field)
        if field == "rho" and value is not None:
            value = f"{float(value):g}"
        if field == "tag" and value is None:
            value = ""
        if field == "quick":
            value = bool(value)
        out.append(value)
    return tuple(out)


def append_result(path: str | Path, record: Mapping[str, Any]) -> None:
    """Append one record as one line; flush and fsync before returning."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps(dict(record), sort_keys=True, allow_nan=False) + "\n"
    with open(path, "a", encoding="utf-8") as f:
        if f.tell() > 0 and not _ends_with_newline(path):
            line = "\n" + line  # a truncated last line stays on its own, unparsed
        f.write(line)
        f.flush()
        os.fsync(f.fileno())


def _ends_with_newline(path: Path) -> bool:
    with open(path, "rb") as f:
        f.seek(-1, os.SEEK_END)
        return f.read(1) == b"\n"


def read_results(path: str | Path) -> list[dict[str, Any]]:
    """Every well-formed record of one file (missing file: none); bad lines are skipped."""
    path = Path(path)
    if not path.is_file():
        return []
    records = []
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(rec, dict) and "detector" in rec:
                records.append(rec)
    return records


def completed_keys(path: str | Path) -> set[tuple]:
    return {run_key(r) for r in read_results(path)}


def expand_paths(patterns: Iterable[str | Path]) -> list[Path]:
    """Paths and glob patterns (for shells that pass `*.jsonl` unexpanded), sorted, unique."""
    out: list[Path] = []
    for p in patterns:
        matches = sorted(glob.glob(str(p))) or [str(p)]
        for m in matches:
            if Path(m) not in out:
                out.append(Path(m))
    return out


def load_all(patterns: Iterable[str | Path]) -> list[dict[str, Any]]:
    """Records of several files, de-duplicated by run key (the last one read wins)."""
    by_key: dict[tuple, dict[str, Any]] = {}
    for path in expand_paths(patterns):
        for rec in read_results(path):
            by_key[run_key(rec)] = rec
    return list(by_key.values())
