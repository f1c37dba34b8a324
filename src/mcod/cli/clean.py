"""``mcod clean``: score the data (training MCOD on it, with a saved model, or from the
scores ``mcod detect`` wrote), then write a copy of it without its outliers, and the
removed samples apart for review.

The input is only read, never modified or deleted. Everything is built in a temporary
folder next to ``--out`` and renamed into place at the end, so an interrupted run leaves
either no result or the previous one, never half of one.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mcod.cli.arguments import (
    add_command,
    add_cut_arguments,
    add_input_arguments,
    add_model_arguments,
    add_report_argument,
    say,
)
from mcod.cli.detect import (
    checkpoint_output,
    chosen_cut,
    finish_checkpoint,
    load_and_score,
    make_detector,
    note_if_too_few,
    train_on,
    write_report_for,
)
from mcod.cli.reading import InputData, input_files, read_input
from mcod.data.folders import FolderScan, scan_folder
from mcod.data.inputs import InputError
from mcod.io.cleaning import REVIEW_FOLDER, CleanFolder, CsvRecords, is_within, write_samples
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
  outliers/       the removed samples themselves, for review: copies of the images
                  (same relative paths), or removed.csv (.tsv, .parquet) / removed.npy
                  with the removed rows, most outlying first (as in outliers.csv)

The scores: by default clean trains MCOD on the input; --model FILE scores it with a
model saved by 'mcod detect --save-model' instead, and --scores FILE takes the
scores.csv that 'mcod detect --out' wrote for this same input (checked: the same
number of samples, named alike). Neither trains.

The cut: --contamination SHARE removes that share of the highest scores;
--contamination auto or --threshold-method NAME finds the cut from the scores alone;
--threshold SCORE removes every sample scoring above SCORE. Without one: a share of
0.1 when clean trains, the model's threshold with --model, the file's labels with
--scores.

examples:
  mcod clean photos/ --out photos_clean
  mcod clean data.csv --id-column id --contamination 0.02 --out data_clean
  mcod clean --npy images.npy --threshold 0.3 --out clean --overwrite
  mcod detect photos/ --save-model m.pt --out scored
  mcod clean photos/ --model m.pt --out photos_clean        no training again
  mcod clean photos/ --scores scored/scores.csv --contamination auto --out photos_clean
"""

TRAINING_ONLY = {"config": "--config", "epochs": "--epochs", "batch_size": "--batch-size"}


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add ``clean`` to the main parser's subcommands."""
    parser = add_command(
        subparsers, "clean", "write a copy of the data without its outliers",
        "Score unlabeled data (train MCOD on it, or use a saved model or the scores "
        "'mcod detect' wrote), then write the inliers, a list of the removed outliers and "
        "copies of them for review to a new folder. The input is never modified.",
        CLEAN_EPILOG)
    add_input_arguments(parser, demo=False)
    cut = add_cut_arguments(parser, default="0.1 when training; see below")
    cut.add_argument(
        "--threshold",
        type=float,
        metavar="SCORE",
        help="remove samples scoring above SCORE instead of a --contamination share",
    )
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--model", metavar="FILE",
                        help="score with this model from 'mcod detect --save-model' "
                        "(no training)")
    source.add_argument("--scores", metavar="FILE",
                        help="cut this scores.csv that 'mcod detect --out' wrote for the "
                        "same input (no model, no training)")
    add_model_arguments(parser)
    parser.set_defaults(config=None)  # None: not given (refused with --model / --scores)
    parser.add_argument("--save-model", metavar="FILE",
                        help="save the model clean trains to FILE (e.g. model.pt)")
    add_report_argument(parser)
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


def _check_source(args: argparse.Namespace) -> None:
    """Refuse options that --model or --scores leave without use, and a --threshold that
    is not a number; a run that trains gets the default config."""
    if args.threshold is not None and not np.isfinite(args.threshold):
        raise InputError(f"--threshold must be a finite number, got {args.threshold}")
    given = args.model or args.scores
    unused = [flag for key, flag in TRAINING_ONLY.items() if getattr(args, key) is not None]
    args.config = args.config or "default"  # also how --scores reads images, as detect did
    if given is None:
        return
    source = "--model" if args.model else "--scores"
    unused += [flag for flag, on in (("--float64", args.float64),
                                     ("--save-model", args.save_model)) if on]
    if unused:
        raise InputError(f"{', '.join(unused)} apply only when clean trains; {source} "
                         f"{given} is scored without training")
    if args.scores and args.report:
        raise InputError("--report needs a model to show; give --model FILE, or let clean "
                         "train")


def _input_path(args: argparse.Namespace) -> Path | None:
    path = args.input or args.npy or getattr(args, "table", None)
    return None if path is None else Path(path).expanduser().resolve()


def _check_out(args: argparse.Namespace) -> tuple[Path, FolderScan | None]:
    """The resolved output folder, and the input folder's scan (None for other input),
    which the input is then read from; refuse an output that holds or sits inside the input,
    or that is a link or not ours to replace (mcod.cli.outputs), and a --report or
    --save-model inside DIR, which is replaced whole."""
    from mcod.cli.outputs import check_outputs, file_output, folder_output, resolved
    from mcod.report.page import REPORT_FILE

    outputs = [folder_output("--out", args.out)]
    if args.report:
        outputs.append(folder_output("--report", args.report, REPORT_FILE))
    if args.save_model:
        outputs.append(file_output("--save-model", args.save_model))
    outputs += checkpoint_output(args)
    source = _input_path(args)
    scan = scan_folder(args.input) if source is not None and source.is_dir() else None
    check_outputs(outputs, input_files(args, scan))
    out = Path(args.out).expanduser().resolve()
    for output in outputs[1:]:
        if is_within(resolved(output.value), out):
            raise InputError(f"{output.option} {output.value} is inside --out {args.out}, "
                             "which clean replaces whole; give a path outside it")
    # the folders read: linked ones lead outside the input
    read = scan.folders if scan is not None else [] if source is None else [source]
    for folder in read:
        if is_within(folder, out) or is_within(out, folder):
            through = "" if folder == source else f" (through a link to {folder})"
            raise ValueError(f"--out {out} overlaps the input {source}{through}; choose a "
                             "folder outside the input")
    return out, scan


def _check_scores_match(file: str, keys: list[str], key_column: str, data: InputData,
                        root: Path | None) -> None:
    """The scores file is of this input: as many rows, named as `mcod detect` names this
    input's samples (an image's path may differ only in the folder above the input)."""
    n = len(data.X)
    stale = "; run 'mcod detect --out' on this input again"
    if key_column != data.key_column:
        raise InputError(f"--scores {file} names its rows by {key_column!r}, this input's "
                         f"samples are named by {data.key_column!r}{stale}")
    if len(keys) != n:
        raise InputError(f"--scores {file} has {len(keys)} rows, the input {n} samples: "
                         f"the scores are of other data{stale}")
    names = [str(i) for i in range(n)] if data.names is None else data.names
    for i, (key, name) in enumerate(zip(keys, names, strict=True)):
        if key != name and not _same_image(key, name, root):
            raise InputError(f"--scores {file} line {i + 2} is {key!r}, but the input's "
                             f"sample {i} is {name!r}: the scores are of other data{stale}")


def _same_image(key: str, name: str, root: Path | None) -> bool:
    """Whether a path in a scores file names the image ``name`` below ``root``: the same
    file, or the same path below the input folder (given another way, or moved)."""
    if root is None:
        return False
    if os.path.realpath(key) == os.path.realpath(name):
        return True
    below = Path(name).relative_to(root).parts
    return Path(key).parts[-len(below):] == below


# --------------------------------------------------------------------------- writing


class _CleanOut(CleanFolder):
    """--out, held while clean scores and replaced at the end (mcod.io.cleaning); its
    refusals name clean's options."""

    overwrite_hint = "pass --overwrite to replace it"
    changed_message = "{out} changed while mcod clean ran"


def _note(line: str) -> None:
    print(f"mcod: note: {line}", file=sys.stderr)


def _samples(args: argparse.Namespace, data: InputData) -> dict[str, Any]:
    """The input as mcod.io.cleaning.write_samples takes it: the image paths and their
    folder, the CSV records (copied byte for byte) or the table as read, or the array."""
    if data.names is not None and data.table is None:  # an image folder
        return {"data": data.names, "root": Path(args.input).expanduser()}
    table = data.table
    if table is None:
        return {"data": np.asarray(data.X)}
    suffix = table.path.suffix.lower()
    if table.records is not None:
        return {"data": CsvRecords(table.records), "suffix": suffix}
    return {"data": table.frame, "suffix": suffix,
            "sep": None if table.csv is None else table.csv.sep}


# --------------------------------------------------------------------------- scoring


@dataclass
class Scored:
    """What clean cuts: the input, its scores, the model (None with --scores), the cut
    that applies when none is given (threshold, labels, how it was set) and the training
    seconds (None: no training)."""

    data: InputData
    scores: np.ndarray
    detector: Any
    default: tuple[float | None, np.ndarray, str]
    fit_seconds: float | None = None


def _score(args: argparse.Namespace, scan: FolderScan | None) -> Scored:
    """Train on the input, score it with --model, or read --scores."""
    from mcod.cuts import describe_cut

    if args.model:
        detector, data, scores = load_and_score(args, scan)
        threshold = float(detector.threshold_)
        how = f"the model's threshold, {describe_cut(detector.contamination)}"
        return Scored(data, scores, detector, (threshold, scores > threshold, how))
    if args.scores:
        from mcod.io.results import read_scores_csv

        saved = read_scores_csv(args.scores)  # a wrong file fails before any image is read
        data = read_input(args, scan=scan)
        root = Path(args.input).expanduser() if scan is not None else None
        _check_scores_match(args.scores, saved.keys, saved.key_column, data, root)
        say(args, f"scores: {args.scores} ({counted(len(saved.keys), 'sample')})")
        labels = saved.labels.astype(bool)
        return Scored(data, saved.scores, None, (None, labels, f"the labels in {args.scores}"))
    detector = make_detector(args)
    data = read_input(args, scan=scan)
    seconds = train_on(args, detector, data)
    scores = np.asarray(detector.decision_scores_, dtype=np.float64)
    note_if_too_few(len(scores), detector.contamination)
    how = describe_cut(detector.contamination)
    cut = (float(detector.threshold_), detector.labels_.astype(bool), how)
    return Scored(data, scores, detector, cut, seconds)


def _cut(args: argparse.Namespace, scored: Scored) -> tuple[np.ndarray, str, str]:
    """The outliers (a mask), the threshold as a message says it ('score > X, ', or ''
    for a file's labels) and how it was set: --threshold, the cut asked for, or the
    default (when training, the cut asked for is the model's own)."""
    from mcod.cuts import cut, describe_cut

    if args.threshold is not None:
        given = float(args.threshold)
        return scored.scores > given, f"score > {given:.6g}, ", f"--threshold {given:g}"
    chosen = chosen_cut(args, default=None)
    threshold, labels, how = scored.default
    if chosen is not None and scored.fit_seconds is None:  # cut the scores given anew
        note_if_too_few(len(scored.scores), chosen)
        threshold, labels = cut(scored.scores, chosen)
        how = describe_cut(chosen)
    above = "" if threshold is None else f"score > {threshold:.6g}, "
    return np.asarray(labels, dtype=bool), above, how


# --------------------------------------------------------------------------- command


def run_clean(args: argparse.Namespace) -> int:
    """`mcod clean`: score, cut, write inliers, outliers.csv and outliers/ into --out; then
    --report and --save-model. DIR is locked for the whole run and replaced in one step at
    the end (mcod.io.cleaning)."""
    started = time.perf_counter()
    _check_source(args)
    out, scan = _check_out(args)
    with _CleanOut(out, overwrite=args.overwrite, on_note=_note) as folder:
        scored = _score(args, scan)
        outliers, above, how = _cut(args, scored)
        if outliers.all():
            print(f"mcod: warning: {how} removes every sample", file=sys.stderr)
        data = scored.data
        with folder.build() as work:
            written = write_samples(work, **_samples(args, data), outliers=outliers,
                                    scores=scored.scores, progress=not args.quiet)
            write_outliers_csv(work / OUTLIERS_FILE, scored.scores, outliers, data.names,
                               data.key_column)
    kept, removed = int((~outliers).sum()), int(outliers.sum())
    print(f"kept {kept:,} of {kept + removed:,} samples, removed {counted(removed, 'outlier')} "
          f"({above}{how})")
    print(f"wrote {out / written}, {out / OUTLIERS_FILE} and the removed samples in "
          f"{out / REVIEW_FOLDER}/")
    if args.report:
        write_report_for(args, scored.detector, scored.data, scored.scores,
                         scored.fit_seconds, model=args.model)
    if args.save_model:
        from mcod.model_file import save_detector

        table = scored.data.table
        path = save_detector(scored.detector, args.save_model,
                             None if table is None else table.options)
        print(f"saved model to {path}")
    finish_checkpoint(args)
    say(args, f"wall time {time.perf_counter() - started:.1f} s")
    return 0
