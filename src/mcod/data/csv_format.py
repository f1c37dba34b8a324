"""A CSV file's separator and decimal mark: given, or sniffed from its first lines.

Why a module of its own: a spreadsheet in a European locale writes ``a;b`` with decimal
commas (``1,5``). Read with pandas' defaults, such a file is one text column named
``a;b``, or worse, numbers cut at their commas, with pandas taking the cut-off parts as
a row index. The first lines tell which separator keeps every row the same width, and
whether numbers use a decimal comma; the reader then says what it chose.
"""

from __future__ import annotations

import csv
import io
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from mcod.data.inputs import InputError

__all__ = ["COMMA_NUMBER", "DECIMALS", "SEPARATORS", "CsvFormat", "csv_format", "parse_separator"]

# separators tried, in the order preferred when several fit as well: the suffix's first
SEPARATORS: tuple[str, ...] = (",", ";", "\t", "|")
DECIMALS: tuple[str, ...] = (".", ",")
_SAMPLE_BYTES = 64 * 1024  # enough for a header and dozens of rows, read in no time
COMMA_NUMBER = re.compile(r"[-+]?\d*,\d+(?:[eE][-+]?\d+)?")
_POINT_NUMBER = re.compile(r"[-+]?\d*\.\d+(?:[eE][-+]?\d+)?")
_THOUSANDS = re.compile(r"[-+]?\d{1,3}(?:,\d{3})+")  # 1,234: a thousands separator, maybe
_SEPARATOR_NAMES = {"tab": "\t", "\\t": "\t", "comma": ",", "semicolon": ";", "pipe": "|"}


@dataclass(frozen=True)
class CsvFormat:
    """How a CSV file's cells are split and its numbers read."""

    sep: str
    decimal: str = "."
    sniffed: bool = False  # chosen from the file's content, not the suffix or an option

    def describe(self) -> str:
        """The format in words, for the data line: empty for the usual comma and point;
        where it was sniffed, the options that change it."""
        parts = [f"{_shown(self.sep)}-separated"] if self.sep != "," else []
        parts += ["decimal commas"] if self.decimal != "." else []
        if parts and self.sniffed:
            parts.append("sniffed: --sep and --decimal override")
        return ", ".join(parts)


def _shown(sep: str) -> str:
    return "tab" if sep == "\t" else repr(sep)


def parse_separator(text: str) -> str:
    """A --sep value as one character: itself, or a name (``tab``, ``\\t``, ``semicolon``)."""
    sep = _SEPARATOR_NAMES.get(text.lower(), text)
    if len(sep) != 1 or sep in "\"\r\n" or sep.isalnum():
        raise InputError(f"--sep must be one character such as , ; | or tab, got {text!r}")
    return sep


def _sample(path: Path) -> str:
    """The text of the file's first ``_SAMPLE_BYTES``, up to its last whole line; empty
    if it is not UTF-8 text (pandas then says what is wrong)."""
    with path.open("rb") as handle:
        raw = handle.read(_SAMPLE_BYTES + 1)
    whole = len(raw) <= _SAMPLE_BYTES
    try:
        text = raw[:_SAMPLE_BYTES].decode("utf-8-sig")
    except UnicodeDecodeError as error:  # a character cut at the end of the sample is fine
        if whole or error.start < _SAMPLE_BYTES - 4:
            return ""
        text = raw[:error.start].decode("utf-8-sig")
    if not whole:
        text = text[:text.rfind("\n") + 1]
    return text


def _records(text: str, sep: str) -> list[list[str]]:
    try:
        rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=sep))
    except csv.Error:
        return []
    return [row for row in rows if row and not (len(row) == 1 and not row[0].strip())]


def _fit(records: list[list[str]]) -> tuple[float, bool, int]:
    """How well a separator splits the records, best first in tuple order: the share of
    rows of the most common width, when that width is at least 2 and the header has it
    (or one field fewer, as R's row names leave it), else 0; whether the header has all of
    it; the width."""
    if not records:
        return 0.0, False, 0
    if len(records) == 1:
        return float(len(records[0]) > 1), True, len(records[0])
    widths = Counter(len(row) for row in records[1:])
    width, count = widths.most_common(1)[0]
    header = len(records[0])
    if width < 2 or header not in (width, width - 1):
        return 0.0, False, width
    return count / (len(records) - 1), header == width, width


def _decimal(records: list[list[str]]) -> str:
    """"," when the cells hold decimal-comma numbers (1,5) and none with a point; not when
    every comma could be a thousands separator (1,234)."""
    cells = [cell.strip() for row in records[1:] for cell in row]
    commas = [cell for cell in cells if COMMA_NUMBER.fullmatch(cell)]
    if not commas or any(_POINT_NUMBER.fullmatch(cell) for cell in cells):
        return "."
    return "." if all(_THOUSANDS.fullmatch(cell) for cell in commas) else ","


def csv_format(path: Path, sep: str | None = None, decimal: str | None = None) -> CsvFormat:
    """The separator and decimal mark to read ``path`` with: those given, else sniffed
    from its first 64 KiB (see :func:`_fit`; the suffix's separator, tab for .tsv and comma
    otherwise, when nothing splits better), a decimal comma only where the separator is
    not a comma."""
    if decimal is not None and decimal not in DECIMALS:
        raise InputError(f"--decimal must be '.' or ',', got {decimal!r}")
    default = "\t" if path.suffix.lower() == ".tsv" else ","
    text = _sample(path) if path.is_file() and (sep is None or decimal is None) else ""
    chosen, sniffed = sep or default, False
    if sep is None and text:
        order = [default] + [s for s in SEPARATORS if s != default]
        fits = {s: _fit(_records(text, s)) for s in order}
        best = max(order, key=lambda s: fits[s])  # the first of the best: default on ties
        if fits[best][0] > 0 and fits[best] > fits[default]:
            chosen, sniffed = best, True
    if decimal is None:
        decimal = _decimal(_records(text, chosen)) if text and chosen != "," else "."
        sniffed = sniffed or decimal != "."
    if decimal == chosen:
        raise InputError(f"the separator and the decimal mark cannot both be {decimal!r}")
    return CsvFormat(chosen, decimal, sniffed)
