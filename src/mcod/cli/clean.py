"""``mcod clean``: fit MCOD, then write a copy of the data without its outliers.

The input is only read, never modified or deleted. Everything is built in a temporary
folder next to ``--out`` and renamed into place at the end, so an interrupted run leaves
either no result or the previous one, never half of one.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from mcod.cli.arguments import add_command, add_input_arguments, add_model_arguments, say
from mcod.cli.detect import (
    checkpoint_output,
    finish_checkpoint,
    make_detector,
    note_if_too_few,
    train_on,
)
from mcod.cli.reading import input_files, read_input
from mcod.data.folders import FolderScan, scan_folder
from mcod.io.atomic import plain_mode
from mcod.io.results import OUTLIERS_FILE, counted, write_outliers_csv

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
    parser = add_command(
        subparsers, "clean", "train MCOD and write a copy of the data without its outliers",
        "Train MCOD on unlabeled data and write the inliers (and a list of the removed "
        "outliers) to a new folder. The input is never modified.", CLEAN_EPILOG)
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
    which the input is then read from; refuse an output that holds or sits inside the input,
    or that is a link or not ours to replace (mcod.cli.outputs)."""
    from mcod.cli.outputs import check_outputs, folder_output

    output = folder_output("--out", args.out)
    source = _input_path(args)
    scan = scan_folder(args.input) if source is not None and source.is_dir() else None
    checkpoint = checkpoint_output(args)
    check_outputs([output, *checkpoint], input_files(args, None))
    out = Path(args.out).expanduser().resolve()
    if checkpoint and _is_within(checkpoint[0].path.parent.resolve(), out):
        raise ValueError(f"--checkpoint {args.checkpoint} lies inside --out {out}, which is "
                         "replaced at the end; choose a folder outside it")
    # the folders read: linked ones lead outside the input
    read = scan.folders if scan is not None else [] if source is None else [source]
    for folder in read:
        if _is_within(folder, out) or _is_within(out, folder):
            through = "" if folder == source else f" (through a link to {folder})"
            raise ValueError(f"--out {out} overlaps the input {source}{through}; choose a "
                             "folder outside the input")
    return out, scan


def _check_empty(out: Path, overwrite: bool) -> frozenset[tuple[str, int, int]]:
    """What DIR holds now (to see at the end whether it changed); refused if it holds
    anything and --overwrite was not given."""
    from mcod.io.folder_swap import fingerprint

    content = fingerprint(out) or frozenset()
    if content and not overwrite:
        raise FileExistsError(f"{out} exists; pass --overwrite to replace it")
    return content


# --------------------------------------------------------------------------- writers


def _copy_images(
    names: list[str], keep: np.ndarray, root: Path, dest: Path, quiet: bool
) -> int:
    from mcod.io.progress import progress

    kept = [Path(names[i]) for i in np.flatnonzero(keep)]
    for file in progress(kept, desc="copying inliers", unit="file", enabled=not quiet):
        target = dest / file.relative_to(root)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(file, target)
    dest.mkdir(exist_ok=True)  # even when nothing is kept
    return len(kept)


def _write_npy(X: np.ndarray, keep: np.ndarray, path: Path) -> None:
    from mcod.io.atomic import atomic_write

    with atomic_write(path, "wb") as handle:
        np.save(handle, X[keep], allow_pickle=False)


def _write_inliers(args: argparse.Namespace, data: Any, keep: np.ndarray, work: Path) -> str:
    """Write the kept samples into ``work``; return the name of what was written."""
    from mcod.data.tables import write_table
    from mcod.io.atomic import atomic_write

    if data.table is not None:
        table, name = data.table, "inliers" + data.table.path.suffix.lower()
        if table.records is not None:  # CSV: the kept rows' text, byte for byte
            kept = [table.records[0]] + [table.records[1 + i] for i in np.flatnonzero(keep)]
            with atomic_write(work / name, "w", newline="") as handle:
                handle.write("".join(kept))
        else:
            write_table(table.frame.iloc[np.flatnonzero(keep)], work / name,
                        None if table.csv is None else table.csv.sep)
        return name
    if data.names is not None:  # an image folder
        root = Path(args.input).expanduser()
        _copy_images(data.names, keep, root, work / "inliers", args.quiet)
        return "inliers/"
    _write_npy(np.asarray(data.X), keep, work / "inliers.npy")
    return "inliers.npy"


# --------------------------------------------------------------------------- command


def run_clean(args: argparse.Namespace) -> int:
    """`mcod clean`: fit, cut, write inliers + outliers.csv into --out. DIR is locked for
    the whole run and replaced in one step at the end (mcod.io.folder_swap)."""
    from mcod.io.folder_swap import FolderLock, recover

    started = time.perf_counter()
    _check_cut(args)
    out, scan = _check_out(args)
    out.parent.mkdir(parents=True, exist_ok=True)
    with FolderLock(out):
        for line in recover(out):
            print(f"mcod: note: {line}", file=sys.stderr)
        before = _check_empty(out, args.overwrite)
        written, kept, removed, cut = _clean_into(args, out, scan, before)
    finish_checkpoint(args)
    n = kept + removed
    print(f"kept {kept:,} of {n:,} samples, removed {counted(removed, 'outlier')} ({cut})")
    print(f"wrote {out / written} and {out / OUTLIERS_FILE}")
    say(args, f"wall time {time.perf_counter() - started:.1f} s")
    return 0


def _clean_into(
    args: argparse.Namespace, out: Path, scan: FolderScan | None,
    before: frozenset[tuple[str, int, int]],
) -> tuple[str, int, int, str]:
    """Fit, cut and put the result in place of ``out`` (unless ``out`` changed from
    ``before`` meanwhile); return what was written, the kept and removed counts and the cut."""
    from mcod.io.folder_swap import fingerprint, replace_folder, work_folder

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

    work = work_folder(out, plain_mode(folder=True))
    try:
        written = _write_inliers(args, data, keep, work)
        write_outliers_csv(work / OUTLIERS_FILE, scores, outliers, data.names, data.key_column)
        if (fingerprint(out) or frozenset()) != before:
            raise FileExistsError(f"{out} changed while mcod clean ran; it is left as it is "
                                  "and this result is discarded")
        replace_folder(work, out)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return written, int(keep.sum()), int(outliers.sum()), f"score > {threshold:.6g}, {how}"
