"""Read CSV / Parquet tables for the command line: pick columns, ids, categoricals, gaps.

``read_table`` turns a file, read as a :class:`TableOptions` says (plain values: the
command line builds them from its options), into a :class:`TableData`: the numeric
matrix a detector is
fitted on, the row ids (from ``--id-column``, else None: rows are named by their 0-based
index), the names of the matrix's columns, and, when asked for (``keep_text``: only
``mcod clean`` needs them, to write the kept rows with every original column), the
original frame and each CSV record's text (for CSV the frame holds each cell's text as
written, so kept rows keep leading zeros, number formats and repeated headers). Every
problem a user can fix raises :class:`~mcod.data.inputs.InputError` (or ``FileNotFoundError``)
with a one-line message. A CSV's separator and decimal mark are sniffed
(:mod:`mcod.data.csv_format`); integer columns that index rows are left out with a
warning, and encodings that give rows a column each are refused
(:mod:`mcod.data.table_columns`).
"""

from __future__ import annotations

import math
import os
import re
import reprlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from mcod.data.csv_format import CsvFormat, csv_format
from mcod.data.inputs import InputError, warn_about_data
from mcod.data.table_columns import (
    check_onehot,
    index_columns,
    index_warning,
    non_numeric_message,
)
from mcod.io.table_files import PARQUET_SUFFIXES, TABLE_SUFFIXES, write_table

__all__ = [
    "CATEGORICAL_CHOICES",
    "FILL_CHOICES",
    "TABLE_SUFFIXES",
    "TableData",
    "TableOptions",
    "align_columns",
    "apply_saved_options",
    "check_saved_options",
    "is_table_path",
    "read_table",
    "table_header",
    "write_table",
]

CATEGORICAL_CHOICES: tuple[str, ...] = ("refuse", "onehot")
FILL_CHOICES: tuple[str, ...] = ("none", "mean", "median", "zero")
_MAX_LISTED = 8  # column names listed in one error message


@dataclass(frozen=True)
class TableOptions:
    """How a table is read, as plain values: the command line builds it from its table
    options and a saved model's options fill in those not given, so that reading a table
    does not depend on argparse. ``categorical`` and ``fill_missing`` None: not chosen,
    read as "refuse" and "none" (None, unlike those, lets a saved model's choice in)."""

    columns: list[str] | None = None  # the columns to use (default: all but id_column)
    id_column: str | None = None  # names the rows; written to outputs instead of the index
    categorical: str | None = None  # "refuse" non-numeric columns, or "onehot" encode them
    fill_missing: str | None = None  # "none" (gaps are an error), "mean", "median", "zero"
    # column -> value overriding the one computed from this file (a model's training rows')
    fill_values: Mapping[str, float] | None = None
    # categorical whatever their values look like here (a model's categorical columns:
    # training {1, 2, X}, now {1, 2})
    text_columns: list[str] | None = None
    # also keep the frame as read and, for CSV, every cell's and record's text, as
    # ``mcod clean`` needs to copy kept rows
    keep_text: bool = False
    sep: str | None = None  # a CSV's separator; None: sniffed (see mcod.data.csv_format)
    decimal: str | None = None  # a CSV's decimal mark, "." or ","; None: sniffed
    # columns left out as row indexes: None finds them (mcod.data.table_columns) and warns,
    # unless the options are a model's (then none); a list leaves out those present (a
    # model's; [] keeps every column)
    index_columns: list[str] | None = None

    @property
    def from_model(self) -> bool:
        """Whether a model's options filled these in (:func:`apply_saved_options` sets
        ``text_columns``, even to []): the model fixes the columns, so a new table's are
        not judged as index or one-hot columns again."""
        return self.text_columns is not None


@dataclass
class TableData:
    """A table ready for a detector, plus what is needed to write results back."""

    X: np.ndarray  # float64 (N, D): the selected columns, categoricals one-hot encoded
    ids: list[str] | None  # values of the id column as text; None: rows named by index
    id_column: str | None
    columns: list[str]  # names of X's columns (one-hot columns as "<column>=<value>")
    frame: Any  # every column as read: Parquet values, or CSV cells' original text; None
    # unless read with keep_text (a copy of every cell's text costs several times the file)
    path: Path
    # how it was read (read_table's arguments, and each numeric column's fill value), so
    # that a saved model reads new tables the same way
    options: dict[str, Any] = field(default_factory=dict)
    # CSV with keep_text only: the header's and each row's text as in the file (quotes, line
    # ends, a byte-order mark), so that kept rows are copied exactly; None if it could not
    # be split
    records: list[str] | None = None
    # (N, D): the cells --fill-missing filled (numeric gaps), so reports do not present
    # them as data; None when none was filled
    filled: np.ndarray | None = None
    csv: CsvFormat | None = None  # how a CSV was split and its numbers read; None: Parquet

    def named(self) -> Any:
        """X as a DataFrame under its column names (a detector fitted on it keeps them)."""
        import pandas as pd

        return pd.DataFrame(self.X, columns=self.columns, copy=False)  # X's values, no copy

    @property
    def key_column(self) -> str:
        """Header of the first column of scores.csv / outliers.csv."""
        return self.id_column or "index"


def is_table_path(path: str | os.PathLike[str] | None) -> bool:
    """True for .csv, .tsv, .parquet and .pq (case-insensitive)."""
    return path is not None and Path(path).suffix.lower() in TABLE_SUFFIXES


def _names(items: list[str]) -> str:
    shown = ", ".join(repr(str(c)) for c in items[:_MAX_LISTED])
    more = len(items) - _MAX_LISTED
    return shown + (f" and {more} more" if more > 0 else "")


def _check_file(path: Path) -> None:
    if not path.exists():
        raise FileNotFoundError(f"no such file: {path}")
    if not path.is_file():
        raise InputError(f"not a file: {path}")
    if path.stat().st_size == 0:
        raise InputError(f"empty file: {path}")


def _misread(path: Path, fmt: CsvFormat, error: Exception) -> InputError:
    """pandas' tokenizer error as what it means for this file, and what to try."""
    how = f"read with separator {fmt.sep!r}" + (
        " (sniffed)" if fmt.sniffed else "") + "; pass --sep if it is another"
    found = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", str(error))
    if found is None:
        return InputError(f"cannot read {path} as CSV: {type(error).__name__}: "
                          f"{str(error).strip()} ({how})")
    expected, line, saw = found.groups()
    return InputError(f"cannot read {path} as CSV: line {line} has {saw} fields, the lines "
                      f"before it {expected} ({how}, or quote cells that hold it)")


def _read_frame(path: Path, fmt: CsvFormat | None) -> Any:
    """The file as pandas reads it (``fmt`` None: Parquet)."""
    import pandas as pd

    _check_file(path)
    try:
        if fmt is None:
            frame = _index_as_columns(pd.read_parquet(path), path)
        else:
            frame = pd.read_csv(path, sep=fmt.sep, decimal=fmt.decimal)
    except InputError:
        raise
    except pd.errors.EmptyDataError:
        raise InputError(f"empty file: {path} has no header and no rows") from None
    except ImportError as error:  # no parquet engine
        raise InputError(f"cannot read {path}: {error}") from None
    except Exception as error:  # noqa: BLE001 - parser / arrow errors of every kind
        if fmt is not None:
            raise _misread(path, fmt, error) from None
        raise InputError(f"cannot read {path} as Parquet: {type(error).__name__}: {error}"
                         ) from None
    if fmt is not None and frame.index.nlevels > 1:  # pandas made an index of extra fields
        raise InputError(
            f"cannot read {path} as CSV: its rows have more fields than its header (read "
            f"with separator {fmt.sep!r} and decimal mark {fmt.decimal!r}); pass --sep or "
            "--decimal if they are others")
    if frame.shape[1] == 0:
        raise InputError(f"{path} has no columns")
    if frame.shape[0] == 0:
        raise InputError(f"{path} has a header but no rows")
    frame.columns = [str(c) for c in frame.columns]
    return frame


def _index_as_columns(frame: Any, path: Path) -> Any:
    """A Parquet frame's named index (written after ``set_index``) as its first columns:
    it is data, such as an id."""
    named = [str(n) for n in frame.index.names if n is not None]
    clash = [n for n in named if n in {str(c) for c in frame.columns}]
    if clash:
        raise InputError(f"{path}: its index is named like a column ({_names(clash)}); rename "
                         "one of them")
    return frame.reset_index() if named else frame


def _csv_text(path: Path, typed: Any, sep: str) -> tuple[Any, list[str] | None]:
    """The CSV's cells as their original text, under its header as written (repeated names
    kept), and each record's raw text (:func:`_csv_records`; None if it could not be split).
    `typed` is the same file parsed with types, to check the rows line up."""
    import pandas as pd

    split = _csv_records(path, len(typed), sep)
    width = typed.shape[1]
    if split is not None and all(len(row) <= width for row in split[0]):
        rows, records = split
        body = pd.DataFrame([row + [""] * (width - len(row)) for row in rows[1:]])
        header = rows[0] + [""] * (width - len(rows[0]))
    else:  # the csv module and pandas disagree: the text as pandas splits it, no records
        try:
            text = pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False, header=None)
        except pd.errors.ParserError as error:
            raise InputError(f"cannot read {path} as CSV: {error}") from None
        header, body = text.iloc[0].tolist(), text.iloc[1:].reset_index(drop=True)
        records = None
    if body.shape != typed.shape:
        raise InputError(f"cannot read {path} consistently as text and as numbers")
    body.columns = header
    return body, records


def _cells_as_text(path: Path, frame: Any, original: Any, columns: list[str], sep: str
                   ) -> dict[str, Any]:
    """The given columns' cells as written: from ``original`` (the file's text, or a
    Parquet frame's values) when it was kept, else read from the CSV again (split on
    ``sep``), those columns only, as text."""
    import pandas as pd

    positions = [frame.columns.get_loc(c) for c in columns]
    if original is not None:
        return {c: original.iloc[:, j] for c, j in zip(columns, positions, strict=True)}
    if not columns:
        return {}
    try:
        cells = pd.read_csv(path, sep=sep, usecols=positions, dtype=str,
                            keep_default_na=False)
    except (pd.errors.ParserError, ValueError) as error:
        raise InputError(f"cannot read {path} as CSV: {error}") from None
    if len(cells) != len(frame):
        raise InputError(f"cannot read {path} consistently as text and as numbers")
    by_position = dict(zip(sorted(positions), cells.columns, strict=True))
    return {c: cells[by_position[j]].fillna("") for c, j in zip(columns, positions, strict=True)}


def _csv_records(path: Path, n_rows: int, sep: str
                 ) -> tuple[list[list[str]], list[str]] | None:
    """The cells and the exact text of the header and of each row (a row may span lines
    inside quotes), from one pass of Python's csv module; blank lines are not rows. None
    when that does not give the header plus ``n_rows`` rows, the rows pandas read."""
    import csv

    rows: list[list[str]] = []
    records: list[str] = []
    with path.open("rb") as raw:
        bom = raw.read(3) == b"\xef\xbb\xbf"  # parsed without it (as pandas does), kept
    with path.open(encoding="utf-8-sig", newline="") as handle:
        consumed: list[str] = []

        def lines():
            for line in handle:
                consumed.append(line)
                yield line

        try:
            for row in csv.reader(lines(), delimiter=sep):
                if row and not (len(row) == 1 and not row[0].strip()):  # blank: not a row
                    rows.append(row)
                    records.append("".join(consumed))
                consumed.clear()
        except (csv.Error, UnicodeDecodeError):  # rows then written from their cells' text
            return None
    if len(records) != n_rows + 1:
        return None
    return rows, ["\ufeff" + records[0] if bom else records[0], *records[1:]]


def _select_columns(frame: Any, columns: list[str] | None, id_column: str | None,
                    path: Path) -> list[str]:
    available = list(frame.columns)
    if id_column is not None and id_column not in available:
        raise InputError(
            f"--id-column {id_column!r} is not a column of {path}; columns: {_names(available)}"
        )
    if columns is None:
        chosen = [c for c in available if c != id_column]
    else:
        unknown = [c for c in columns if c not in available]
        if unknown:
            raise InputError(
                f"unknown column(s) {_names(unknown)} in --columns; {path} has {_names(available)}"
            )
        if id_column is not None and id_column in columns:
            raise InputError(f"--id-column {id_column!r} cannot also be in --columns")
        chosen = list(dict.fromkeys(columns))  # keep order, drop repeats
    if not chosen:
        raise InputError(f"no columns left to use in {path} (only the id column)")
    return chosen


def _fill_values(frame: Any, fill: str, given: Mapping[str, float]) -> dict[str, float]:
    """Each numeric column's fill value: ``given`` (a model's, from its training rows) where
    it has one, else computed here; a column with no values at all fills with 0."""
    values = {}
    for c in frame.columns:
        if fill == "none" or not _is_numeric(frame[c]):
            continue
        if c in given:
            value = given[c]
        else:  # "mean" or "median", computed only for the mode in use
            value = 0.0 if fill == "zero" else getattr(frame[c].astype("float64"), fill)()
        values[str(c)] = 0.0 if value != value else float(value)  # NaN: all missing
    return values


def _missing(frame: Any, gaps: Any, values: dict[str, float], fill: str, path: Path) -> Any:
    """Numeric gaps (``gaps``: ``frame.isna()``): an error, or filled with ``values``.
    Categorical gaps stay: they one-hot to all zeros."""
    counts = gaps.sum()
    bad = {str(c): int(n) for c, n in counts.items() if n and _is_numeric(frame[c])}
    if not bad:
        return frame
    if fill == "none":
        listed = ", ".join(f"{c!r} ({n})" for c, n in list(bad.items())[:_MAX_LISTED])
        more = len(bad) - _MAX_LISTED
        raise InputError(
            f"{path} has missing values in {len(bad)} column(s): {listed}"
            + (f" and {more} more" if more > 0 else "")
            + "; pass --fill-missing mean|median|zero, or leave those columns out with --columns"
        )
    filled = frame.copy()
    for c in bad:
        filled[c] = filled[c].astype("float64").fillna(values[c])
    return filled


def _booleans_as_numbers(data: Any) -> Any:
    """Boolean columns with gaps (which pandas reads as objects) as 1.0 / 0.0 / NaN, so
    that they count as numbers, as complete boolean columns do."""
    def only_booleans(series: Any) -> bool:
        present = series.dropna()
        return series.dtype == object and len(present) > 0 and all(
            isinstance(v, (bool, np.bool_)) for v in present)

    converted = {c: data[c].astype("float64") for c in data.columns if only_booleans(data[c])}
    return data.assign(**converted) if converted else data


def _is_numeric(series: Any) -> bool:
    import pandas as pd

    return bool(pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series))


def _file_format(file: Path, options: TableOptions) -> CsvFormat | None:
    """A CSV's format (given or sniffed); None for Parquet, which has no use for one."""
    if file.suffix.lower() not in PARQUET_SUFFIXES:
        return csv_format(file, options.sep, options.decimal)
    if options.sep is not None or options.decimal is not None:
        raise InputError(f"--sep and --decimal apply only to CSV files, not to {file}")
    return None


def _without_indexes(frame: Any, chosen: list[str], options: TableOptions, path: Path
                     ) -> tuple[list[str], list[str]]:
    """``chosen`` without the row-index columns, and those left out: those a model left
    out (``options.index_columns``), else those found, with a warning. Columns the user
    chose with ``columns`` are all kept."""
    if options.columns is not None:
        return chosen, []
    if options.index_columns is not None or options.from_model:
        left_out = [c for c in options.index_columns or [] if c in chosen]
    else:
        found = index_columns(frame, chosen)
        left_out = list(found)
        if left_out and len(left_out) == len(chosen):
            raise InputError(f"every column of {path} to use is a row index "
                             f"({_names(left_out)}); pass --keep-index-columns to use them")
        if found:
            warn_about_data(index_warning(found))
    return [c for c in chosen if c not in left_out], left_out


def read_table(path: str | os.PathLike[str], options: TableOptions = TableOptions()) -> TableData:
    """Read a CSV (.csv, .tsv) or Parquet (.parquet, .pq) file into a :class:`TableData`,
    as ``options`` say (see :class:`TableOptions`). A missing categorical value (under
    onehot) is a row of zeros. Without ``keep_text`` only the id column and the text
    columns are read as text: a copy of every cell's text costs several times the file.
    Row-index columns are left out (and warned about) unless ``columns`` names the
    columns; a one-hot encoding that gives rows a column each, or adds more than
    :data:`~mcod.data.table_columns.MAX_ONEHOT_COLUMNS` columns, is refused (neither is
    judged again under a model's options: see :attr:`TableOptions.from_model`).
    """
    import pandas as pd

    columns, id_column, text_columns = options.columns, options.id_column, options.text_columns
    categorical = options.categorical or "refuse"
    fill_missing = options.fill_missing or "none"
    if categorical not in CATEGORICAL_CHOICES:
        raise ValueError(f"categorical must be one of {CATEGORICAL_CHOICES}, got {categorical!r}")
    if fill_missing not in FILL_CHOICES:
        raise ValueError(f"fill_missing must be one of {FILL_CHOICES}, got {fill_missing!r}")
    file = Path(path).expanduser()
    fmt = _file_format(file, options)
    frame = _read_frame(file, fmt)
    sep = "," if fmt is None else fmt.sep  # only CSV reads use it
    chosen = _select_columns(frame, columns, id_column, file)
    chosen, left_out = _without_indexes(frame, chosen, options, file)
    data = _booleans_as_numbers(frame[chosen])
    as_text = [c for c in chosen if c in set(text_columns or []) and _is_numeric(data[c])]
    original, records = (frame, None) if fmt is None else (
        _csv_text(file, frame, sep) if options.keep_text else (None, None))
    text = _cells_as_text(file, frame, original, as_text + ([id_column] if id_column else []),
                          sep)
    for c in as_text:  # as its text, so that values match the model's categories
        data[c] = text[c].astype(str).where(frame[c].notna(), None)
    non_numeric = [c for c in chosen if not _is_numeric(data[c])]
    if non_numeric and categorical == "refuse":
        raise InputError(non_numeric_message(data, non_numeric, file,
                                             None if fmt is None else sep))
    if non_numeric and not options.from_model:
        check_onehot(data, non_numeric, file)
    values = _fill_values(data, fill_missing, options.fill_values or {})
    gaps = data.isna()
    data = _missing(data, gaps, values, fill_missing, file)
    if non_numeric:
        data = pd.get_dummies(data, columns=non_numeric, prefix_sep="=", dtype="float64")
    filled = None  # built only when a gap was filled (N x D booleans otherwise)
    if any(gaps[c].any() for c in values):
        filled = np.stack([gaps[c].to_numpy(dtype=bool) if c in values
                           else np.zeros(len(data), bool) for c in data.columns], axis=1)
    X = np.ascontiguousarray(data.to_numpy(dtype=np.float64))
    infinite = [str(c) for c, bad in zip(data.columns, np.isinf(X).any(axis=0), strict=True) if bad]
    if infinite:
        raise InputError(f"{file} has infinite values in column(s) {_names(infinite)}")
    id_values = None if id_column is None else text[id_column]
    ids = None if id_values is None else id_values.astype(str).where(id_values.notna(), "").tolist()
    recorded = {"columns": columns, "id_column": id_column, "categorical": categorical,
               "fill_missing": fill_missing, "fill_values": values,
               "categorical_columns": non_numeric}
    if left_out:  # absent, as in models saved before indexes were found: none left out
        recorded["index_columns"] = left_out
    return TableData(X, ids, id_column, [str(c) for c in data.columns],
                     original if options.keep_text else None, file, recorded, records, filled,
                     fmt)


def align_columns(table: TableData, fitted: list[str]) -> TableData:
    """``table`` with its columns (values and filled cells) put in the order of the model's
    ``fitted`` names.

    Columns are matched by name, not position. A one-hot column of a category absent from
    this table is all zeros; a category or column the model never saw is an error.
    """
    index = {name: j for j, name in enumerate(table.columns)}
    encoded = {name.split("=", 1)[0] for name in fitted if "=" in name and name not in index}
    encoded &= ({name.split("=", 1)[0] for name in table.columns if "=" in name}
                | set(table.options.get("categorical_columns", [])))  # even if all empty
    missing = [n for n in fitted if n not in index and n.split("=", 1)[0] not in encoded]
    if missing:
        raise InputError(f"{table.path} lacks column(s) the model was fitted on: {_names(missing)}")
    known = set(fitted)
    unknown = [n for n in table.columns if n not in known]
    if unknown:
        raise InputError(
            f"{table.path} has column(s) the model was not fitted on: {_names(unknown)} "
            "(a '<column>=<value>' is a category not seen in training; leave other columns "
            "out with --columns)"
        )
    order = [index.get(name) for name in fitted]
    if order == list(range(len(table.columns))):  # already in the model's order: no copy
        return table

    def reorder(values: np.ndarray) -> np.ndarray:
        out = np.zeros((len(values), len(fitted)), values.dtype)
        for j, k in enumerate(order):
            if k is not None:
                out[:, j] = values[:, k]
        return out

    filled = None if table.filled is None else reorder(table.filled)
    return replace(table, X=reorder(table.X), columns=list(fitted), filled=filled)


def table_header(path: str | os.PathLike[str], sep: str | None = None) -> list[str] | None:
    """The column names of a CSV / Parquet file, read without its rows, a CSV split on
    ``sep`` (None: sniffed) (None: unreadable; reading it in full then says why)."""
    import pandas as pd

    file = Path(path).expanduser()
    try:
        if file.suffix.lower() in PARQUET_SUFFIXES:
            import pyarrow.parquet as pq

            return [str(c) for c in pq.read_schema(file).names]
        sep = sep or csv_format(file).sep
        return [str(c) for c in pd.read_csv(file, sep=sep, nrows=0).columns]
    except Exception:  # noqa: BLE001 - any reader error is reported by read_table
        return None


def apply_saved_options(options: TableOptions, saved: Mapping[str, Any],
                        header: list[str] | None = None, path: object = "the table",
                        ) -> tuple[TableOptions, list[str]]:
    """``options`` with each one not given (None) taken from those a model was fitted with
    (``saved``: its :attr:`TableData.options`), and those taken, as they would be typed.
    The model's fill values are used when the fill mode in effect is the model's.

    With the new file's ``header`` (the file is ``path``, for messages): a saved id column
    it lacks is not taken (rows are named by index), and saved columns it lacks are named
    as the model's, not as a --columns the user never typed.
    """
    taken = []
    if header is not None:
        saved_id = saved.get("id_column")
        if saved_id is not None and saved_id not in header and options.id_column is None:
            taken.append(f"(no --id-column: the file lacks {saved_id!r}; rows are named by "
                         "index)")
            saved = {**saved, "id_column": None}
        lacking = [c for c in saved.get("columns") or [] if c not in header]
        if lacking and options.columns is None:
            raise InputError(f"{path} lacks column(s) the model was fitted on: "
                             f"{_names(lacking)}")
    changes: dict[str, Any] = {}
    for option, key, default in (("--columns", "columns", None),
                                 ("--id-column", "id_column", None),
                                 ("--categorical", "categorical", "refuse"),
                                 ("--fill-missing", "fill_missing", "none")):
        value = saved.get(key)
        if getattr(options, key) is None and value not in (None, default):
            changes[key] = value
            taken.append(f"{option} {','.join(value) if key == 'columns' else value}")
    fill_missing = changes.get("fill_missing", options.fill_missing) or "none"
    if fill_missing == saved.get("fill_missing"):
        changes["fill_values"] = saved.get("fill_values") or {}
    changes["text_columns"] = saved.get("categorical_columns") or []
    if options.index_columns is None and saved.get("index_columns"):
        changes["index_columns"] = saved["index_columns"]
        taken.append(f"(row indexes left out: {_names(saved['index_columns'])})")
    return replace(options, **changes), taken


def check_saved_options(options: object) -> None:
    """Refuse table options that :func:`read_table` did not write (a model file's
    ``table_options``), with a ValueError naming the option: :func:`apply_saved_options`
    hands them to the reader of the new table as they are."""
    if not isinstance(options, Mapping):
        raise ValueError(f"table_options must be a dict, got {type(options).__name__}")
    unknown = sorted(map(str, set(options) - set(_SAVED_OPTION_CHECKS)))
    if unknown:
        raise ValueError(f"table_options has unknown option(s) {_names(unknown)}")
    for key, (ok, expected) in _SAVED_OPTION_CHECKS.items():
        if key in options and not ok(options[key]):
            raise ValueError(f"table_options.{key} must be {expected}, got "
                             f"{reprlib.repr(options[key])}")


def _texts(value: object) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _fills(value: object) -> bool:
    return isinstance(value, dict) and all(
        isinstance(k, str) and isinstance(v, (int, float)) and not isinstance(v, bool)
        and math.isfinite(v) for k, v in value.items())


# option -> (its check, what it must be): the options read_table records
_SAVED_OPTION_CHECKS: dict[str, tuple[Callable[[object], bool], str]] = {
    "columns": (lambda v: v is None or _texts(v) and v != [], "None or a list of names"),
    "id_column": (lambda v: v is None or isinstance(v, str), "None or a column name"),
    "categorical": (lambda v: v in CATEGORICAL_CHOICES, f"one of {CATEGORICAL_CHOICES}"),
    "fill_missing": (lambda v: v in FILL_CHOICES, f"one of {FILL_CHOICES}"),
    "fill_values": (_fills, "a dict of column name -> finite number"),
    "categorical_columns": (_texts, "a list of column names"),
    "index_columns": (_texts, "a list of column names"),
}
