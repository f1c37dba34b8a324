"""Write a cleaned copy of a data set: the kept samples, the removed ones apart for review,
and ``outliers.csv`` listing them, most outlying first. ``mcod clean`` is this plus scoring;
from Python, fit any detector and hand its labels and scores to :func:`write_clean_copy`::

    detector = mcod.MCOD().fit(X)
    mcod.write_clean_copy("X_clean", X, detector.labels_, detector.decision_scores_)

What a copy holds in its folder ``out``:

- ``inliers.npy`` (an array), ``inliers.csv`` (a table; or ``.tsv``, ``.parquet``, ``.pq``)
  or ``inliers/`` (images: copies at their paths below ``root``): the kept samples, in
  input order;
- ``outliers/``: the removed samples, most outlying first (``removed.npy``, ``removed.csv``)
  or their image copies;
- ``outliers.csv``: index|path|id, score, rank (among all samples, 1 = most outlying).

Why a folder is written this way (:class:`CleanFolder`): the data being cleaned is often
the only copy, and a cleaning run is long. So ``out`` is locked against a second writer,
what a killed run left beside it is put right first, a non-empty ``out`` is replaced only
when asked, ``out`` may not hold or lie in the input, and the copy is built in a hidden
folder beside ``out`` and swapped into place in one step (:mod:`mcod.io.folder_swap`):
an interrupted write leaves the previous result, never half of a new one.
"""

from __future__ import annotations

import os
import shutil
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeAlias

import numpy as np

from mcod.io.atomic import atomic_write, plain_mode
from mcod.io.folder_swap import FolderLock, fingerprint, recover, replace_folder, work_folder
from mcod.io.progress import progress as bar
from mcod.io.results import OUTLIERS_FILE, top_indices, write_outliers_csv
from mcod.io.table_files import CSV_SUFFIXES, TABLE_SUFFIXES, write_table

__all__ = [
    "INLIERS",
    "REVIEW_FOLDER",
    "REVIEW_STEM",
    "CleanCopy",
    "CleanFolder",
    "CsvRecords",
    "write_clean_copy",
    "write_samples",
]

INLIERS = "inliers"  # the kept samples: inliers/, inliers.npy, inliers.csv, ...
REVIEW_FOLDER = "outliers"  # the removed samples, for a person to look at
REVIEW_STEM = "removed"  # tables and arrays: outliers/removed.csv, removed.npy

StrPath: TypeAlias = "str | os.PathLike[str]"

@dataclass(frozen=True)
class CsvRecords:
    """A CSV's text split into records: ``lines[0]`` the header, ``lines[1 + i]`` row i,
    each as written in the file, its line end included. Written back, the kept rows are
    the input's bytes (quoting, number formats, leading zeros, line ends), which a round
    trip through a DataFrame would not keep. ``mcod clean`` copies CSV input this way."""

    lines: Sequence[str]

    def __len__(self) -> int:
        return len(self.lines) - 1


@dataclass(frozen=True)
class CleanCopy:
    """What :func:`write_clean_copy` wrote: the folder, where the kept samples, the list of
    removed ones and the removed samples are, and which samples went where (indices into
    the input: ``kept`` in input order, ``removed`` most outlying first)."""

    out: Path
    inliers: Path
    outliers_csv: Path
    review: Path
    kept: np.ndarray
    removed: np.ndarray


# --------------------------------------------------------------------------- the folder


class CleanFolder:
    """The folder ``out`` a cleaned copy replaces, held for the ``with`` block.

    Entering refuses an ``out`` that holds or lies inside one of ``inputs`` (replacing it
    would delete or rewrite the data), locks ``out`` against a second writer, puts right
    what an interrupted run left beside it (each line of what was done goes to
    ``on_note``, by default a warning) and refuses an ``out`` that holds anything unless
    ``overwrite``. The lock is held to the end of the block, so a caller can score the data
    in between and still be the only writer. :meth:`build` then gives a hidden folder to
    write the copy in and puts it in place of ``out`` in one step.
    """

    # how the refusals say what to do; the command line names its own options instead
    overwrite_hint = "pass overwrite=True to replace it"
    changed_message = "{out} changed while the cleaned copy was made"

    def __init__(self, out: StrPath, *, overwrite: bool = False,
                 inputs: Iterable[StrPath] = (),
                 on_note: Callable[[str], None] | None = None) -> None:
        self.out = Path(out).expanduser().resolve()
        self.overwrite = overwrite
        self.inputs = [Path(path).expanduser().resolve() for path in inputs]
        self.on_note = on_note
        self._lock = FolderLock(self.out)
        self._before: frozenset[tuple[str, int, int]] | None = None

    def __enter__(self) -> CleanFolder:
        for source in self.inputs:
            if is_within(self.out, source) or is_within(source, self.out):
                raise ValueError(f"the output {self.out} overlaps the input {source}; choose "
                                 "a folder outside the input")
        self.out.parent.mkdir(parents=True, exist_ok=True)
        self._lock.__enter__()
        try:
            for line in recover(self.out):
                if self.on_note is None:
                    warnings.warn(line, stacklevel=2)
                else:
                    self.on_note(line)
            before = fingerprint(self.out) or frozenset()
            if before and not self.overwrite:
                raise FileExistsError(f"{self.out} exists; {self.overwrite_hint}")
        except BaseException:
            self._lock.__exit__()
            raise
        self._before = before
        return self

    def __exit__(self, *exc: object) -> None:
        self._lock.__exit__()
        self._before = None

    @contextmanager
    def build(self) -> Iterator[Path]:
        """A new hidden folder beside ``out`` to write the copy in; when the block ends
        without an error it replaces ``out`` (refused if ``out`` changed since the folder
        was entered: that is someone else's), else it is removed and ``out`` left as it
        was."""
        if self._before is None:
            raise RuntimeError("CleanFolder.build() is for inside its `with` block")
        work = work_folder(self.out, plain_mode(folder=True))
        try:
            yield work
            if (fingerprint(self.out) or frozenset()) != self._before:
                raise FileExistsError(self.changed_message.format(out=self.out) + "; it is "
                                      "left as it is and this result is discarded")
            replace_folder(work, self.out)
        except BaseException:
            shutil.rmtree(work, ignore_errors=True)
            raise


def is_within(path: Path, other: Path) -> bool:
    """``path`` is ``other`` or lies below it (both resolved by the caller)."""
    return path == other or other in path.parents


# --------------------------------------------------------------------------- the samples


def _split(outliers: Any, scores: Any, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The outliers as a bool mask over the n samples, the kept samples (in input order)
    and the removed ones, most outlying first."""
    given = np.asarray(outliers)
    values = np.asarray(scores, dtype=np.float64)
    if given.shape != (n,) or values.shape != (n,):
        raise ValueError(f"outliers {given.shape} and scores {values.shape} must both have "
                         f"one value for each of the {n} samples")
    if given.dtype != bool and not np.isin(given, (0, 1)).all():
        raise ValueError("outliers must be a mask: True/1 for each sample to remove (a "
                         "detector's labels_), not its scores")
    mask = given.astype(bool)
    order = top_indices(values)
    return mask, np.flatnonzero(~mask), order[mask[order]]


def _is_images(data: Any) -> bool:
    return isinstance(data, list | tuple) and all(
        isinstance(item, str | os.PathLike) for item in data)


def _is_frame(data: Any) -> bool:
    return hasattr(data, "iloc") and hasattr(data, "columns")


def _image_root(images: Sequence[StrPath], root: StrPath | None) -> Path:
    """The folder the images' relative paths are kept from: ``root``, else the deepest
    folder they all lie in; every image must be below it."""
    if root is None:
        if not images:
            return Path(".")
        root = os.path.commonpath([Path(image).parent for image in images])
    base = Path(root).expanduser()
    for image in images:
        if not Path(image).expanduser().is_relative_to(base):
            raise ValueError(f"image {image} is not below root {base}; give the folder the "
                             "images are in as root")
    return base


def _copy_images(images: Sequence[StrPath], rows: np.ndarray, root: Path, dest: Path,
                 progress: bool, what: str) -> None:
    """Copies of the images ``rows``, at their paths below ``root``, into ``dest``."""
    files = [Path(images[i]).expanduser() for i in rows]
    for file in bar(files, desc=f"copying {what}", unit="file", enabled=progress):
        target = dest / file.relative_to(root)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(file, target)
    dest.mkdir(exist_ok=True)  # even when there is nothing to copy


def _write_rows(data: Any, rows: np.ndarray, stem: Path, suffix: str | None,
                sep: str | None) -> str:
    """An array's, a table's or CSV records' ``rows``, in that order, to ``stem`` + the
    suffix (.npy for arrays); return the file's name."""
    if isinstance(data, np.ndarray):
        path = stem.with_suffix(".npy")
        with atomic_write(path, "wb") as handle:
            np.save(handle, np.asarray(data[rows]), allow_pickle=False)
        return path.name
    path = stem.with_suffix(suffix or ".csv")
    if isinstance(data, CsvRecords):  # the rows' text, byte for byte
        with atomic_write(path, "w", newline="") as handle:
            handle.write("".join([data.lines[0], *(data.lines[1 + i] for i in rows)]))
    else:
        write_table(data.iloc[rows], path, sep)
    return path.name


def _table_suffix(data: Any, suffix: str | None) -> str:
    """The suffix a table's rows are written with: ``suffix`` (".csv" if None), checked."""
    if suffix is None:
        return ".csv"
    suffix = suffix.lower() if suffix.startswith(".") else "." + suffix.lower()
    allowed = CSV_SUFFIXES if isinstance(data, CsvRecords) else TABLE_SUFFIXES
    if suffix not in allowed:
        raise ValueError(f"cannot write a table as {suffix!r}; use one of {allowed}")
    return suffix


def write_samples(folder: StrPath, data: Any, outliers: Any, scores: Any, *,
                  root: StrPath | None = None, suffix: str | None = None,
                  sep: str | None = None, progress: bool = False) -> str:
    """Write the kept samples of ``data`` into ``folder`` (``inliers.npy``, ``inliers.csv``
    or ``inliers/``) and the removed ones, most outlying first, into ``folder/outliers/``;
    return the kept samples' name there. The building block of :func:`write_clean_copy`,
    for writing into :meth:`CleanFolder.build`'s folder; see there for the arguments."""
    table = isinstance(data, CsvRecords) or _is_frame(data)
    if not (table or isinstance(data, np.ndarray) or _is_images(data)):
        raise TypeError("data must be a numpy array, a pandas DataFrame, CsvRecords or a "
                        f"list of image paths, not {type(data).__name__}")
    if suffix is not None and not table:
        raise ValueError(f"suffix {suffix!r} is for tables; an array is written as .npy, "
                         "images as they are")
    _, kept, removed = _split(outliers, scores, len(data))
    folder = Path(folder)
    review = folder / REVIEW_FOLDER
    if _is_images(data):
        base = _image_root(data, root)
        _copy_images(data, kept, base, folder / INLIERS, progress, "inliers")
        _copy_images(data, removed, base, review, progress, "outliers for review")
        return INLIERS + "/"
    suffix = _table_suffix(data, suffix) if table else None
    written = _write_rows(data, kept, folder / INLIERS, suffix, sep)
    review.mkdir()
    _write_rows(data, removed, review / REVIEW_STEM, suffix, sep)
    return written


def _inputs(data: Any, root: StrPath | None) -> list[Path]:
    """The files and folders on disk that ``data`` is read from, which the output may
    neither hold nor lie in: image files, the folders they really are in and ``root``; a
    memory-mapped array's file."""
    if _is_images(data):
        files = [Path(os.path.realpath(Path(image).expanduser())) for image in data]
        folders = {file.parent for file in files}
        return [*files, *sorted(folders), *([] if root is None else [Path(root)])]
    filename = data.filename if isinstance(data, np.memmap) else None  # np.load(mmap_mode=)
    return [] if filename is None else [Path(filename)]


def write_clean_copy(
    out: StrPath,
    data: Any,
    outliers: Any,
    scores: Any,
    *,
    names: Sequence[str] | None = None,
    key_column: str | None = None,
    root: StrPath | None = None,
    suffix: str | None = None,
    sep: str | None = None,
    overwrite: bool = False,
    progress: bool = False,
) -> CleanCopy:
    """Write a copy of ``data`` without its outliers to the folder ``out``, the removed
    samples apart for review and ``outliers.csv`` listing them, most outlying first: what
    ``mcod clean`` writes, from labels and scores you have (any detector's ``labels_`` and
    ``decision_scores_``). The input is only read.

    ``data``: a numpy array (rows are samples) -> ``inliers.npy``; a pandas DataFrame ->
    ``inliers.csv``, or the ``suffix`` ``.tsv``/``.parquet``/``.pq`` (``sep`` splits a CSV;
    the index is not written: ``reset_index()`` first to keep it); :class:`CsvRecords` ->
    the kept records' text as it was; a list of image paths -> ``inliers/``, copies at
    their paths below ``root`` (default: the deepest folder they all lie in).
    ``outliers``: a mask, True or 1 for each sample to remove. ``scores``: higher is more
    outlying; they order the removed samples and rank them in ``outliers.csv``, whose
    first column is ``names`` (default: the image paths, else the row index) under the
    header ``key_column`` (default ``path`` or ``index``).

    ``out`` is replaced whole and in one step, only if empty or ``overwrite``; it may not
    hold or lie in the input's files, and an interrupted write leaves what was there
    (:class:`CleanFolder`). ``progress`` shows bars while images are copied.
    """
    mask, kept, removed = _split(outliers, scores, len(data))  # refused before any write
    if names is None and _is_images(data):
        names = [str(image) for image in data]
    if names is not None and len(names) != len(mask):
        raise ValueError(f"names has {len(names):,} entries for {len(mask):,} samples")
    folder = CleanFolder(out, overwrite=overwrite, inputs=_inputs(data, root))
    with folder, folder.build() as work:
        name = write_samples(work, data, mask, scores, root=root, suffix=suffix, sep=sep,
                             progress=progress)
        write_outliers_csv(work / OUTLIERS_FILE, scores, mask, names, key_column)
    out = folder.out
    return CleanCopy(out, out / name.rstrip("/"), out / OUTLIERS_FILE, out / REVIEW_FOLDER,
                     kept, removed)
