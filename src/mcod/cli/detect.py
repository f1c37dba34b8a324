"""``mcod detect`` (train on the input and rank it) and ``mcod score`` (score new data
with a saved model), and the training and output steps ``mcod clean`` shares with them."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mcod.cli.arguments import (
    add_command,
    add_cut_arguments,
    add_input_arguments,
    add_model_arguments,
    add_output_arguments,
    add_report_argument,
    say,
    table_options,
)
from mcod.cli.reading import InputData, describe, input_files, read_input, scan_input
from mcod.data.folders import FolderScan
from mcod.data.inputs import InputError
from mcod.data.tables import is_table_path
from mcod.io.results import counted

DETECT_EPILOG = """\
input:
  INPUT folder   every image below it (png, jpg, bmp, gif, tif, webp, pgm/ppm, ...);
                 of any sizes (--resize crop|pad); other files are left out and counted
  --npy FILE     a numpy array: images (N,H,W), (N,H,W,C) or (N,C,H,W), or a table (N,D)
  table          INPUT or --table ending in .csv/.tsv/.parquet/.pq: one row a sample
                 (--columns, --id-column, --categorical, --fill-missing)
  neither        the demo: digit --demo-class of sklearn's digits as inliers plus a
                 --contamination share of other digits (its AUROC is printed)

output:
  The top outliers, how many samples are labelled outliers at the threshold (the
  --contamination share of the highest scores, or with --contamination auto or
  --threshold-method NAME a cut found from the scores alone), and with --out DIR the
  file DIR/scores.csv: index (or path), score, label (1 = outlier), rank (1 = most
  outlying).

examples:
  mcod detect                                 demo, digit 0 as inliers
  mcod detect --demo-class 3 --epochs 5       quicker demo on digit 3
  mcod detect photos/ --out results --top 20
  mcod detect --npy images.npy --contamination 0.05 --save-model model.pt
  mcod detect photos/ --contamination auto --out results
  mcod detect photos/ --config release --device cuda
  mcod detect data.csv --id-column id --fill-missing median --out results
  mcod detect photos/ --config release --checkpoint ckpt --out results
                                              run again after a crash: goes on from ckpt
  mcod detect clean_photos/ --novelty --save-model model.pt
  mcod score model.pt new_photos/             novelty detection: fit on clean data only
"""

SCORE_EPILOG = """\
The threshold is the one fitted by 'mcod detect': a new sample is labelled an outlier
when its score is above it. --contamination SHARE|auto or --threshold-method NAME cut
these new scores instead, as 'mcod detect' cuts its training scores.

A table is read as the model's training table was (its --columns, --id-column,
--categorical and --fill-missing, with the training rows' fill values) unless an option
is given again.

examples:
  mcod score model.pt new_photos/
  mcod score model.pt --npy new_images.npy --out new_results
  mcod score model.pt new_rows.csv --out new_results
  mcod score model.pt new_photos/ --contamination auto
"""

def _register_detect(subparsers: argparse._SubParsersAction) -> None:
    parser = add_command(
        subparsers, "detect", "train MCOD on unlabeled data and rank its outliers",
        "Train MCOD on unlabeled data (no labels needed) and rank the samples from most to "
        "least outlying.", DETECT_EPILOG)
    add_input_arguments(parser, demo=True)
    add_cut_arguments(parser, default="0.1")
    add_model_arguments(parser)
    parser.add_argument(
        "--novelty", action="store_true",
        help="the input holds no outliers: fit on it to score new data with 'mcod score' "
             "(novelty detection; the default config's score then trusts all but 1%% of the "
             "input, not 70%%, and adds the distance to the nearest input sample and LOF); "
             "the threshold still labels the top --contamination share of the input, so that "
             "share is the rate of false alarms on normal data")
    add_output_arguments(parser)
    parser.add_argument(
        "--save-model", metavar="FILE", help="save the trained model to FILE (e.g. model.pt)"
    )
    add_report_argument(parser)
    parser.set_defaults(func=run_detect)


def _register_score(subparsers: argparse._SubParsersAction) -> None:
    parser = add_command(
        subparsers, "score", "score new data with a model saved by 'mcod detect --save-model'",
        "Score new data with a saved MCOD model.", SCORE_EPILOG)
    parser.add_argument("model", metavar="MODEL", help="model file from 'mcod detect --save-model'")
    add_input_arguments(parser, demo=False)
    parser.add_argument(
        "--device", default=None, help="default: the saved one, CPU where CUDA is absent"
    )
    add_cut_arguments(parser, default="the model's threshold")
    add_output_arguments(parser)
    add_report_argument(parser)
    parser.set_defaults(func=run_score)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``detect`` and ``score`` to a main parser's subparsers."""
    _register_detect(subparsers)
    _register_score(subparsers)


def chosen_cut(args: argparse.Namespace, default: float | None = 0.1) -> Any:
    """The cut of `add_cut_arguments` as MCOD's contamination: the share (checked), or a
    PyThresh thresholder for --contamination auto or --threshold-method NAME; ``default``
    when neither is given."""
    from mcod.cuts import AUTO, thresholder
    from mcod.data.inputs import check_contamination

    if args.threshold_method is not None or args.contamination == AUTO:
        return thresholder(args.threshold_method or AUTO)
    if args.contamination is None:
        return default
    return check_contamination(args.contamination, "--contamination")


def make_detector(args: argparse.Namespace):  # -> MCOD
    """An unfitted MCOD from the options of `add_cut_arguments` and `add_model_arguments`
    (validated)."""
    from mcod.config import get_config
    from mcod.detector import MCOD, resolve_device

    resolve_device(args.device)  # fail early and clearly on a bad device
    config = get_config(args.config).replace(image_float64=True) if args.float64 \
        else args.config
    return MCOD(
        contamination=chosen_cut(args),
        config=config,
        epochs=args.epochs,
        batch_size=args.batch_size,
        device=args.device,
        random_state=args.seed,
        verbose=not args.quiet,
        novelty=getattr(args, "novelty", False),  # detect's option; clean's input has outliers
    )


def _print_top(
    scores: np.ndarray, names: Sequence[str] | None, n: int, column: str
) -> None:
    from mcod.io.results import top_indices

    top = top_indices(scores, n)
    if len(top) == 0:
        return
    print(f"top {len(top):,} of {len(scores):,} (higher score = more outlying):")
    print(f"  {'rank':>4}  {'score':>12}  {column}")
    for rank, i in enumerate(top, start=1):
        name = str(i) if names is None else names[i]
        print(f"  {rank:>4,}  {scores[i]:>12.6g}  {_printable(name)}")


def _printable(name: str) -> str:
    """A name with a newline or other control character, quoted and escaped as Python
    writes it, so that it stays on its line (scores.csv keeps the name as it is)."""
    return name if name.isprintable() else repr(name)


def report_scores(
    args: argparse.Namespace,
    data: InputData,
    scores: np.ndarray,
    labels: np.ndarray,
    threshold: float,
    contamination: Any,
) -> None:
    """Print the top --top samples and the outlier count (at the cut ``contamination``
    set: a share or a thresholder); write --out DIR/scores.csv."""
    from mcod.cuts import describe_cut
    from mcod.io.results import SCORES_FILE, write_scores_csv

    names, key_column = data.names, data.key_column
    _print_top(scores, names, args.top, key_column)
    print(
        f"{int(labels.sum()):,} of {len(labels):,} samples labelled outliers "
        f"(score > threshold {threshold:.6g}, {describe_cut(contamination)})"
    )
    if args.out:
        out = Path(args.out).expanduser()
        out.mkdir(parents=True, exist_ok=True)
        path = write_scores_csv(out / SCORES_FILE, scores, labels, names, key_column)
        print(f"wrote {path}")


def write_report_for(
    args: argparse.Namespace,
    detector,
    data: InputData,
    scores: np.ndarray,
    fit_seconds: float | None = None,
    model: str | None = None,
) -> None:
    """--report DIR: write DIR/index.html (see mcod.report.page); ``model``: `score`'s file."""
    if not args.report:
        return
    from mcod.report.page import REPORT_FILE, write_report

    table = getattr(data, "table", None)
    say(args, f"writing report to {Path(args.report) / REPORT_FILE}")
    path = write_report(
        args.report,
        detector,
        data.X,
        files=data.names if data.key_column == "path" else None,  # an image folder's
        top=args.report_top,
        scores=scores,
        names=data.names,
        truth=data.truth,
        columns=None if table is None else table.columns,
        filled=None if table is None else table.filled,
        source=data.source,
        fit_seconds=fit_seconds,
        model=model,
    )
    print(f"wrote {path}")


def _check_outputs(args: argparse.Namespace, scan: FolderScan | None) -> None:
    """--out, --report and --save-model: never an input, each other or a device, and
    writable, checked before any training is spent (see mcod.cli.outputs)."""
    from mcod.cli.outputs import check_outputs, file_output, folder_output
    from mcod.io.results import SCORES_FILE, is_scores_csv
    from mcod.report.page import REPORT_FILE, is_report

    outputs = []
    if args.out:
        outputs.append(folder_output("--out", args.out, SCORES_FILE, is_scores_csv))
    if args.report:
        outputs.append(folder_output("--report", args.report, REPORT_FILE, is_report))
    if getattr(args, "save_model", None):
        outputs.append(file_output("--save-model", args.save_model))
    outputs += checkpoint_output(args)
    names = {output.path.name for output in outputs}  # only images of those names can clash
    if scan is not None:
        scan = FolderScan([p for p in scan.images if p.name in names], [], scan.folders)
    check_outputs(outputs, input_files(args, scan), overwrite=args.overwrite)


def checkpoint_output(args: argparse.Namespace) -> list:  # -> list[Output]
    """--checkpoint DIR as an output to check (DIR/checkpoint.pt), if given."""
    from mcod.cli.outputs import folder_output
    from mcod.nn.checkpoint import CHECKPOINT_FILE

    if not getattr(args, "checkpoint", None):  # `mcod score` trains nothing
        return []
    return [folder_output("--checkpoint", args.checkpoint, CHECKPOINT_FILE)]


def finish_checkpoint(args: argparse.Namespace) -> None:
    """The run's outputs are written: its checkpoint is no longer needed."""
    if args.checkpoint:
        from mcod.nn.checkpoint import remove_checkpoint

        remove_checkpoint(args.checkpoint)


def train_on(args: argparse.Namespace, detector, data: InputData) -> float:
    """Fit ``detector`` on the input (a table under its column names, kept for `score`),
    saying what was trained; return the seconds it took."""
    say(args, f"data: {describe(np.asarray(data.X))} ({data.source})")
    say(args, "training MCOD ...")  # the config it resolves to is named once trained
    started = time.perf_counter()
    detector.fit(data.X if data.table is None else data.table.named(),
                 checkpoint=args.checkpoint, checkpoint_every=args.checkpoint_every)
    seconds = time.perf_counter() - started
    say(args, f"trained {counted(detector.config_.epochs, 'epoch')} of config "
               f"{detector.config_.name} on {detector.device_} in {seconds:.1f} s")
    return seconds


def run_detect(args: argparse.Namespace) -> int:
    """`mcod detect`: train on the input, rank it, optionally save scores and model.
    Under torchrun every process trains (`mcod.nn.distributed`); process 0 alone reports
    and writes."""
    from mcod.nn.distributed import launch_from_env

    started = time.perf_counter()
    launch = launch_from_env()  # a wrong launch fails here, before any work
    worker = launch is not None and launch.rank != 0
    args.quiet = args.quiet or worker
    scan = scan_input(args)
    _check_outputs(args, scan)
    detector = make_detector(args)
    share = detector.contamination if isinstance(detector.contamination, float) else None
    data = read_input(args, contamination=share, scan=scan)
    fit_seconds = train_on(args, detector, data)
    if worker:  # it holds the same model as process 0
        return 0
    scores = detector.decision_scores_
    note_if_too_few(len(scores), detector.contamination)
    report_scores(
        args, data, scores, detector.labels_, detector.threshold_, detector.contamination
    )
    if data.truth is not None:
        from sklearn.metrics import roc_auc_score

        auroc = roc_auc_score(data.truth, scores)
        print(f"demo AUROC (planted outliers vs digit {args.demo_class}): {auroc:.4f}")
    write_report_for(args, detector, data, scores, fit_seconds)
    if args.save_model:
        from mcod.model_file import save_detector

        options = None if data.table is None else data.table.options
        print(f"saved model to {save_detector(detector, args.save_model, options)}")
    finish_checkpoint(args)
    print(f"wall time {time.perf_counter() - started:.1f} s")
    return 0


def note_if_too_few(n: int, contamination: Any) -> None:
    """Say so when fewer samples than one outlier's worth of a share are given: the
    percentile threshold (PyOD's) then still flags the top sample, a larger share than
    asked for (a thresholder's cut asks for no share)."""
    if isinstance(contamination, float) and n * contamination < 1:
        print(f"mcod: note: {n:,} samples at contamination {contamination:g} expect "
              f"{n * contamination:.2g} outliers; the threshold still flags the top one",
              file=sys.stderr)


def _check_input_kind(args: argparse.Namespace, fitted_kind: str) -> None:
    """Refuse a table for an image model and a folder for a table model, saying so."""
    path = args.table or args.input
    if path is None:
        return
    kind = "table" if is_table_path(path) else "image" if Path(path).is_dir() else None
    if kind is not None and kind != fitted_kind:
        given = "a table" if kind == "table" else "a folder of images"
        raise InputError(f"the model was fitted on {fitted_kind}s, but {path} is {given}")


def load_and_score(
    args: argparse.Namespace, scan: FolderScan | None
) -> tuple[Any, InputData, np.ndarray]:
    """(the model --model/MODEL names, the input read as the model's training data was,
    its scores): what `score`, and `clean --model`, cut."""
    from mcod.persistence import load_with_table_options

    detector, saved_options = load_with_table_options(args.model, device=args.device)
    _check_input_kind(args, detector.input_kind_)
    table_path = args.table or (args.input if is_table_path(args.input) else None)
    table_read = table_options(args)
    if saved_options is not None and table_path:
        from mcod.data.tables import apply_saved_options, table_header

        table_read, taken = apply_saved_options(table_read, saved_options,
                                                table_header(table_path, table_read.sep),
                                                table_path)
        if taken:
            say(args, f"table options from the model: {' '.join(taken)}")
    images = detector.input_kind_ == "image"
    data = read_input(args, channels=detector.n_channels_ if images else None, scan=scan,
                      image_size=detector.config_.input_size if images else None,
                      table_read=table_read)
    if data.table is not None and detector.feature_names_in_ is not None:
        from mcod.data.tables import align_columns

        data.table = align_columns(data.table, detector.feature_names_in_)
        data.X = data.table.X  # the report names the columns in the model's order too
    say(args, f"data: {describe(data.X)} ({data.source})")
    novelty = ", novelty: fitted on data said to hold no outliers" if detector.novelty else ""
    say(args, f"model: {args.model} (config {detector.config_.name}, device "
              f"{detector.device_}{novelty})")
    scores = detector.decision_function(data.X if data.table is None else data.table.named())
    return detector, data, scores


def run_score(args: argparse.Namespace) -> int:
    """`mcod score`: score new data with a saved model and its fitted threshold (or the
    cut given)."""
    started = time.perf_counter()
    scan = scan_input(args)
    _check_outputs(args, scan)
    detector, data, scores = load_and_score(args, scan)
    threshold, labels, how = cut_or_models(args, detector, scores)
    report_scores(args, data, scores, labels, threshold, how)
    write_report_for(args, detector, data, scores, model=args.model)
    print(f"wall time {time.perf_counter() - started:.1f} s")
    return 0


def cut_or_models(args: argparse.Namespace, detector, scores: np.ndarray,
                  ) -> tuple[float, np.ndarray, Any]:
    """(threshold, labels, the cut's contamination) for scores of a saved model: the
    model's own threshold, or the cut of `add_cut_arguments` applied to these scores."""
    from mcod.cuts import cut

    chosen = chosen_cut(args, default=None)
    if chosen is None:
        threshold = detector.threshold_
        return threshold, (scores > threshold).astype(np.int64), detector.contamination
    note_if_too_few(len(scores), chosen)
    threshold, labels = cut(scores, chosen)
    return threshold, labels, chosen
