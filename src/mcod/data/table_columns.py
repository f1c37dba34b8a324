"""Columns of a table that look like data but name rows: an index, an id.

Why a module of its own: such a column is the costliest silent mistake with a table.
pandas' ``df.to_csv("x.csv")`` writes its row index as an unnamed first column; trained
on, it makes the first and last rows outliers, and on a file sorted by label it leaks the
label (on magic.gamma, AUROC 0.732 became 0.794). A text id one-hot encoded gives every
row a column of its own. This module finds them, so that the reader leaves an index out
with a warning and refuses the encodings that cannot help, naming the option to use.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import numpy as np

from mcod.data.csv_format import COMMA_NUMBER, SEPARATORS
from mcod.data.inputs import InputError

__all__ = [
    "MAX_ONEHOT_COLUMNS",
    "check_onehot",
    "index_columns",
    "index_warning",
    "non_numeric_message",
]

# One-hot columns a table may gain: a few hundred 0/1 columns already outnumber the rows
# of many tables, each seen in a handful of rows; beyond this, group values or leave the
# column out.
MAX_ONEHOT_COLUMNS = 300
# A text column is an id when its values differ in at least this share of the rows; a
# column is judged by its values (counting, distinct) from this many rows on: on a
# handful of rows, 1, 2, 3 or three distinct words are as likely data
_ID_SHARE = 0.9
_ID_MIN_ROWS = 20
_PANDAS_INDEX = "Unnamed: 0"  # pandas' name for a header's empty first cell
_ID_NAMES = {"id", "idx", "index", "row", "rowid", "row_id", "row_index", "row_number",
             "rownum", "row_no", "record_id", "sample_id"}
_MAX_LISTED = 8


def _is_id_name(name: str) -> bool:
    words = re.sub(r"[^0-9a-z]+", "_", name.lower()).strip("_")
    return words in _ID_NAMES or words.endswith("_id")


def _index_reason(name: str, series: Any, first: bool) -> str | None:
    """Why an integer column is a row index rather than a feature, or None."""
    import pandas as pd

    if not pd.api.types.is_integer_dtype(series) or pd.api.types.is_bool_dtype(series):
        return None
    unique = series.is_unique
    if first and name == _PANDAS_INDEX and unique:
        return "pandas' unnamed index, written by DataFrame.to_csv without index=False"
    if len(series) < _ID_MIN_ROWS:
        return None
    values = series.to_numpy()
    for start in (0, 1):
        if values[0] == start and np.array_equal(values, np.arange(start, start + len(values))):
            return f"it counts {start}..{'N-1' if start == 0 else 'N'} in file order"
    if unique and _is_id_name(name):
        return "named like an id, a different integer in every row"
    return None


def index_columns(frame: Any, columns: list[str]) -> dict[str, str]:
    """Those of ``columns`` (of ``frame``, as read) that are row indexes, each with why:
    integers counting 0..N-1 or 1..N in file order, pandas' unnamed index, or integers
    unique per row under an id's name (``id``, ``row_id``, ``index``, ``*_id``, ...)."""
    first = str(frame.columns[0])
    found = {}
    for name in columns:
        reason = _index_reason(name, frame[name], name == first)
        if reason is not None:
            found[name] = reason
    return found


def index_warning(found: dict[str, str]) -> str:
    """The warning for the index columns left out (``found``: :func:`index_columns`'s)."""
    said = ", ".join(f"{name!r} ({why})" for name, why in found.items())
    first = shlex.quote(next(iter(found)))
    one = len(found) == 1
    return (f"left out of the features as {'a row index' if one else 'row indexes'}: "
            f"{said}; pass --id-column {first} to name rows by it, or --keep-index-columns "
            f"to use {'it as a feature' if one else 'them as features'}")


def _is_text_id(series: Any) -> bool:
    n = len(series)
    return n >= _ID_MIN_ROWS and series.nunique(dropna=True) >= _ID_SHARE * n


def _is_decimal_comma(series: Any) -> bool:
    present = series.dropna().astype(str).str.strip()
    return len(present) > 0 and bool(present.str.fullmatch(COMMA_NUMBER.pattern).all())


def _names(items: list[str]) -> str:
    shown = ", ".join(repr(c) for c in items[:_MAX_LISTED])
    more = len(items) - _MAX_LISTED
    return shown + (f" and {more} more" if more > 0 else "")


def non_numeric_message(frame: Any, non_numeric: list[str], path: Path, sep: str | None
                        ) -> str:
    """The error for non-numeric columns under ``--categorical refuse``, with the fix for
    each kind: a mis-split header (another separator), numbers with decimal commas, an id
    (a different text in nearly every row), or categories (``--categorical onehot``).
    ``sep``: the separator the file was read with (None: Parquet)."""
    message = f"non-numeric column(s) {_names(non_numeric)} in {path}"
    if sep is not None and frame.shape[1] == 1:
        others = [s for s in SEPARATORS if s != sep and s in str(frame.columns[0])]
        if others:
            shown = "tab" if others[0] == "\t" else repr(others[0])
            return (f"{path} reads as one column {str(frame.columns[0])!r} with separator "
                    f"{sep!r}; pass --sep {shown} if its separator is {shown}")
    commas = [c for c in non_numeric if _is_decimal_comma(frame[c])]
    ids = [c for c in non_numeric if c not in commas and _is_text_id(frame[c])]
    rest = [c for c in non_numeric if c not in commas and c not in ids]
    advice = []
    if commas:
        advice.append(f"{_names(commas)} hold numbers with decimal commas: pass --decimal ,")
    for c in ids[:1]:
        advice.append(f"{c!r} has a different value in nearly every row, so it names rows: "
                      f"pass --id-column {shlex.quote(c)}")
    if len(ids) > 1:
        advice.append(f"{_names(ids[1:])} too name rows: leave them out with --columns")
    if rest:
        advice.append(f"pass --categorical onehot to encode {_names(rest)}, or choose "
                      "numeric columns with --columns")
    return message + "; " + "; ".join(advice)


def check_onehot(frame: Any, non_numeric: list[str], path: Path) -> None:
    """Refuse one-hot encodings that cannot help: a column with a different value in
    nearly every row (a column per row: rows told apart by name alone), or more than
    ``MAX_ONEHOT_COLUMNS`` new columns in all."""
    counts = {c: int(frame[c].nunique(dropna=True)) for c in non_numeric}
    for c in non_numeric:
        if _is_text_id(frame[c]):
            raise InputError(
                f"--categorical onehot would give {c!r} in {path} nearly one column per row "
                f"({counts[c]:,} values in {len(frame):,} rows), which tells rows apart by "
                f"name alone; name rows by it with --id-column {shlex.quote(c)}, or leave "
                "it out with --columns")
    total = sum(counts.values())
    if total > MAX_ONEHOT_COLUMNS:
        widest = sorted(counts, key=lambda c: -counts[c])
        listed = ", ".join(f"{c!r} ({counts[c]:,})" for c in widest[:_MAX_LISTED])
        raise InputError(
            f"--categorical onehot would add {total:,} columns to {path}, more than "
            f"{MAX_ONEHOT_COLUMNS} (values per column: {listed}): too few rows for each; "
            "leave the widest out with --columns, or group their values into fewer "
            "categories first")
