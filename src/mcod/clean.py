"""``mcod clean``: fit MCOD, then write a copy of the data without its outliers.

The input is only read, never modified or deleted. Everything is built in a temporary
folder next to ``--out`` and renamed into place at the end, so an interrupted run leaves
either no result or the previous one, never half of one.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from mcod.atomic import plain_mode
from mcod.folders import FolderScan

__all__ = ["register", "run_clean"]

CLEAN_EPILOG = """\
output (in DIR):
  inliers/        image folder input: copies of the kept images, same relative paths
  inliers.npy     .npy input: the kept rows of the array
  inliers.csv     table input: the kept rows, every original column, in the input's
                  format and suffix (inliers.tsv, inliers.parquet, inliers.pq)
  outliers.csv    the removed samples, most outlying first: index|path|id, score, rank
                  (rank among all samples, 1 = most outlying)

The cut: --contamination SHARE removes that share of the highest scores (default 0.1);
--threshold SCORE removes every sample scoring above SCORE (e.g. read off a scores.csv
from 'mcod detect'). The two are mutually exclusive.

examples:
  mcod clean photos/ --out photos_clean
  mcod clean data.csv --id-column id --contamination 0.02 --out data_clean
  mcod clean --npy images.npy --threshold 0.3 --out clean --overwrite
"""


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add ``clean`` to the main parser's subcommands."""
    from mcod.cli import add_input_arguments, add_model_arguments

    parser = subparsers.add_parser(
        "clean",
        help="train MCOD and write a copy of the data without its outliers",
        description="Train MCOD on unlabeled data and write the inliers (and a list of the "
        "removed outliers) to a new folder. The input is never modified.",
        epilog=CLEAN_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_input_arguments(parser, demo=False)
    add_model_arguments(parser)
    parser.set_defaults(contamination=None)  # None: not given (checked against --threshold)
    parser.add_argument(
        "--threshold",
        type=float,
        metavar="SCORE",
        help="remove samples scoring above SCORE instead of a --contamination share",
    )
    parser.add_argument("--out", required=True, metavar="DIR", help="folder for the results")
    parser.add_argument(
        "--overwrite", action="store_true", help="replace DIR if it exists and is not empty"
    )
    parser.add_argument(
        "--quiet", action="store_true", help="no progress bars or status lines, results only"
    )
    parser.set_defaults(func=run_clean, keep_text=True)  # tables: kept rows copied as written
    return parser


# --------------------------------------------------------------------------- checks


def _check_cut(args: argparse.Namespace) -> None:
    if args.threshold is not None and args.contamination is not None:
        raise ValueError("--threshold and --contamination are mutually exclusive; give one")
    if args.threshold is not None and not np.isfinite(args.threshold):
        raise ValueError(f"--threshold must be a finite number, got {args.threshold}")
    if args.contamination is None:
        args.contamination = 0.1  # the model still needs one; the cut uses --threshold


def _input_path(args: argparse.Namespace) -> Path | None:
    path = args.input or args.npy or getattr(args, "table", None)
    return None if path is None else Path(path).expanduser().resolve()


def _is_within(path: Path, other: Path) -> bool:
    return path == other or other in path.parents


def _check_out(args: argparse.Namespace) -> tuple[Path, FolderScan | None]:
    """The resolved output folder, and the input folder's scan (None for other input),
    which the input is then read from; refuse an output that holds or sits inside the input."""
    from mcod.cli import check_writable
    from mcod.folders import scan_folder

    check_writable("--out", args.out, folder=True)
    out = Path(args.out).expanduser().resolve()
    source = _input_path(args)
    scan = scan_folder(args.input) if source is not None and source.is_dir() else None
    # the folders read: linked ones lead outside the input
    read = scan.folders if scan is not None else [] if source is None else [source]
    for folder in read:
        if _is_within(folder, out) or _is_within(out, folder):
            through = "" if folder == source else f" (through a link to {folder})"
            raise ValueError(f"--out {out} overlaps the input {source}{through}; choose a "
                             "folder outside the input")
    if out.exists() and any(out.iterdir()) and not args.overwrite:
        raise FileExistsError(f"{out} exists; pass --overwrite to replace it")
    return out, scan


# --------------------------------------------------------------------------- writers


def _copy_images(
    names: list[str], keep: np.ndarray, root: Path, dest: Path, quiet: bool
) -> int:
    from tqdm import tqdm

    kept = [Path(names[i]) for i in np.flatnonzero(keep)]
    for file in tqdm(kept, desc="copying inliers", unit="file", disable=quiet):
        target = dest / file.relative_to(root)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(file, target)
    dest.mkdir(exist_ok=True)  # even when nothing is kept
    return len(kept)


def _write_npy(X: np.ndarray, keep: np.ndarray, path: Path) -> None:
    from mcod.atomic import atomic_write

    with atomic_write(path, "wb") as handle:
        np.save(handle, X[keep], allow_pickle=False)


def _write_inliers(args: argparse.Namespace, data: Any, keep: np.ndarray, work: Path) -> str:
    """Write the kept samples into ``work``; return the name of what was written."""
    from mcod.atomic import atomic_write
    from mcod.tables import write_table

    if data.table is not None:
        table, name = data.table, "inliers" + data.table.path.suffix.lower()
        if table.records is not None:  # CSV: the kept rows' text, byte for byte
            kept = [table.records[0]] + [table.records[1 + i] for i in np.flatnonzero(keep)]
            with atomic_write(work / name, "w", newline="") as handle:
                handle.write("".join(kept))
        else:
            write_table(table.frame.iloc[np.flatnonzero(keep)], work / name)
        return name
    if data.names is not None:  # an image folder
        root = Path(args.input).expanduser()
        _copy_images(data.names, keep, root, work / "inliers", args.quiet)
        return "inliers/"
    _write_npy(np.asarray(data.X), keep, work / "inliers.npy")
    return "inliers.npy"


def _replace_dir(work: Path, out: Path) -> None:
    """Move ``work`` to ``out``; an existing ``out`` is moved aside first, then removed."""
    old = None
    if out.exists():
        old = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.old-"))
        out.rename(old / "previous")
    try:
        work.rename(out)
    except BaseException:  # the previous result goes back where it was
        if old is not None:
            (old / "previous").rename(out)
            old.rmdir()
        raise
    if old is not None:  # the result is in place: finish removing the old one even if
        try:  # Ctrl-C or SIGTERM arrives meanwhile, then let that go on
            shutil.rmtree(old, ignore_errors=True)
        except BaseException:
            shutil.rmtree(old, ignore_errors=True)
            raise


# --------------------------------------------------------------------------- command


def run_clean(args: argparse.Namespace) -> int:
    """`mcod clean`: fit, cut, write inliers + outliers.csv into --out atomically."""
    from mcod.cli import _say, make_detector, note_if_too_few, read_input, train_on
    from mcod.results import OUTLIERS_FILE, counted, write_outliers_csv

    started = time.perf_counter()
    _check_cut(args)
    out, scan = _check_out(args)
    detector = make_detector(args)
    data = read_input(args, scan=scan)
    train_on(args, detector, data)
    scores = np.asarray(detector.decision_scores_, dtype=np.float64)
    if args.threshold is not None:
        threshold, how = float(args.threshold), f"--threshold {args.threshold:g}"
    else:
        threshold = float(detector.threshold_)
        how = f"contamination {detector.contamination:g}"
        note_if_too_few(len(scores), detector.contamination)
    outliers = scores > threshold
    keep = ~outliers
    if not keep.any():
        print(f"mcod: warning: {how} removes every sample", file=sys.stderr)

    out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.tmp-"))
    try:
        work.chmod(plain_mode(folder=True))  # mkdtemp makes 0700; give DIR mkdir's mode
        written = _write_inliers(args, data, keep, work)
        write_outliers_csv(
            work / OUTLIERS_FILE, scores, outliers, data.names, data.key_column
        )
        _replace_dir(work, out)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    n = len(scores)
    print(
        f"kept {int(keep.sum())} of {n} samples, removed {counted(int(outliers.sum()), 'outlier')} "
        f"(score > {threshold:.6g}, {how})"
    )
    print(f"wrote {out / written} and {out / OUTLIERS_FILE}")
    _say(args, f"wall time {time.perf_counter() - started:.1f} s")
    return 0
