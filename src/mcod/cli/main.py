"""The ``mcod`` command line: ``mcod detect`` finds outliers, ``mcod score`` reuses a model.

Adding a subcommand: write a module with ``register(subparsers)`` that calls
``subparsers.add_parser(...)`` and sets ``func=<function(args) -> int>`` with
``parser.set_defaults``, then list the module in ``SUBCOMMAND_MODULES`` below. Reuse
``add_input_arguments`` / ``read_input``, ``add_model_arguments`` / ``make_detector``,
``add_output_arguments`` and ``report_scores`` so that every subcommand reads data, trains
and prints the same way. Errors a user can fix (bad input, missing files) are raised as
``ValueError`` / ``OSError`` subclasses; ``main`` prints them on one line and exits with 2.
"""

from __future__ import annotations

import argparse
import importlib
import math
import signal
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, NoReturn

import numpy as np

from mcod import __version__
from mcod.config import CONFIGS, MAX_SEED
from mcod.data.datasets import DatasetMissingError
from mcod.data.folders import RESIZE_POLICIES, FolderScan, ImageFiles, scan_folder
from mcod.data.inputs import DataWarning, InputError
from mcod.data.tables import TableData, is_table_path, table_options_given
from mcod.io.results import counted
from mcod.io.signals import handlers_set

__all__ = [
    "SUBCOMMAND_MODULES",
    "InputData",
    "add_input_arguments",
    "add_model_arguments",
    "add_output_arguments",
    "build_parser",
    "main",
    "make_detector",
    "read_input",
    "report_scores",
]

# Modules that add subcommands through `register(subparsers)`.
SUBCOMMAND_MODULES: tuple[str, ...] = ("mcod.bench.cli", "mcod.cli.clean")

# What a user can fix: printed as `mcod: error: <message>`, exit code 2, no traceback.
USER_ERRORS: tuple[type[BaseException], ...] = (
    InputError,
    DatasetMissingError,
    ValueError,
    FileNotFoundError,
    OSError,
)

EXIT_USAGE = 2

MAIN_EPILOG = """\
examples:
  mcod detect                           built-in demo: sklearn digits with planted outliers
  mcod detect photos/ --out results     score a folder of images, write results/scores.csv
  mcod detect --npy images.npy --contamination 0.05 --save-model model.pt
  mcod score model.pt new_photos/ --out new_results

Run 'mcod COMMAND --help' for the options of one command.
"""

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
  --contamination share of the highest scores), and with --out DIR the file
  DIR/scores.csv: index (or path), score, label (1 = outlier), rank (1 = most outlying).

examples:
  mcod detect                                 demo, digit 0 as inliers
  mcod detect --demo-class 3 --epochs 5       quicker demo on digit 3
  mcod detect photos/ --out results --top 20
  mcod detect --npy images.npy --contamination 0.05 --save-model model.pt
  mcod detect photos/ --config release --device cuda
  mcod detect data.csv --id-column id --fill-missing median --out results
"""

SCORE_EPILOG = """\
The threshold is the one fitted by 'mcod detect': a new sample is labelled an outlier
when its score is above it.

A table is read as the model's training table was (its --columns, --id-column,
--categorical and --fill-missing, with the training rows' fill values) unless an option
is given again.

examples:
  mcod score model.pt new_photos/
  mcod score model.pt --npy new_images.npy --out new_results
  mcod score model.pt new_rows.csv --out new_results
"""


# --------------------------------------------------------------------------- parser


class _Parser(argparse.ArgumentParser):
    """ArgumentParser whose usage errors are one line, like every other mcod error."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"mcod: error: {message} (see '{self.prog} --help')\n")

    def parse_known_args(self, args=None, namespace=None):  # noqa: ANN001, ANN201 - argparse's
        """Also record the innermost (sub)command's parser, for `main` to report an
        unknown option against that command's --help rather than mcod's."""
        namespace, extras = super().parse_known_args(args, namespace)
        if not hasattr(namespace, "command_parser"):
            namespace.command_parser = self
        return namespace, extras


def _integer(text: str, least: int, most: int | None = None) -> int:
    """An option's integer in [least, most], or a message naming the problem (argparse
    would otherwise name the converting function)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer, got {text!r}") from None
    if value < least or (most is not None and value > most):
        span = f"at least {least}" if most is None else f"in {least}..{most}"
        raise argparse.ArgumentTypeError(f"must be {span}, got {value}")
    return value


def _positive_int(text: str) -> int:
    return _integer(text, 1)


def _non_negative_int(text: str) -> int:
    return _integer(text, 0)


def _batch_size(text: str) -> int:
    return _integer(text, 2)  # contrastive pairs need another sample in the batch


def _seed(text: str) -> int:
    return _integer(text, 0, MAX_SEED)


def add_input_arguments(parser: argparse.ArgumentParser, demo: bool) -> None:
    """INPUT (image folder or .npy file), --npy, and for `demo` commands --demo-class."""
    parser.add_argument(
        "input",
        nargs="?",
        metavar="INPUT",
        help="folder of images (searched recursively), a .npy file, or a table (.csv, "
        ".tsv, .parquet)" + ("; omit it for the built-in demo" if demo else ""),
    )
    parser.add_argument("--npy", metavar="FILE", help="numpy .npy array of images or a table")
    parser.add_argument(
        "--resize",
        choices=sorted(RESIZE_POLICIES),
        help="image folders: how an image is made square at the network's input size; "
        "crop: shorter side to the size, centre kept; pad: longer side to the size, "
        "centred on black (default: crop where sizes differ; a folder of one size is read "
        "as it is and the network resizes it)",
    )
    from mcod.data.tables import add_table_arguments

    add_table_arguments(parser)
    if demo:
        parser.add_argument(
            "--demo-class",
            type=int,
            choices=range(10),
            default=0,
            metavar="DIGIT",
            help="demo only: the inlier digit, 0-9 (default: 0)",
        )


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of a training run: contamination, config, epochs, batch size, device, seed."""
    parser.add_argument(
        "--contamination",
        type=float,
        default=0.1,
        metavar="SHARE",
        help="expected share of outliers, in (0, 0.5]; sets the threshold (default: 0.1)",
    )
    parser.add_argument(
        "--config",
        choices=sorted(CONFIGS),
        default="default",
        help="'default' (mcod's settings; tables use 'tabular') or 'release' "
        "(the authors' settings) (default: default)",
    )
    parser.add_argument(
        "--epochs",
        type=_positive_int,
        metavar="N",
        help="training epochs (default: the config's, 20 for 'default', raised on small "
        "data to reach its minimum number of steps)",
    )
    parser.add_argument(
        "--batch-size", type=_batch_size, metavar="N", help="at least 2 (default: the config's)"
    )
    parser.add_argument(
        "--device", default="auto", help="auto (CUDA if present), cpu, cuda, cuda:1 (default: auto)"
    )
    parser.add_argument("--seed", type=_seed, default=0,
                        help="random seed, 0 to 2**32 - 1 (default: 0)")


def add_output_arguments(parser: argparse.ArgumentParser) -> None:
    """--out DIR, --top N, --quiet."""
    parser.add_argument(
        "--out", metavar="DIR", help="write DIR/scores.csv (DIR is created if needed)"
    )
    parser.add_argument(
        "--top",
        type=_non_negative_int,
        default=10,
        metavar="N",
        help="print the N highest-scoring samples (default: 10)",
    )
    parser.add_argument(
        "--quiet", action="store_true", help="no progress bars or status lines, results only"
    )


def _add_report_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--report",
        metavar="DIR",
        help="write DIR/index.html: a self-contained visual report (plots, top outliers, "
        "memory items), viewable offline",
    )


def _register_detect(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "detect",
        help="train MCOD on unlabeled data and rank its outliers",
        description="Train MCOD on unlabeled data (no labels needed) and rank the samples "
        "from most to least outlying.",
        epilog=DETECT_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_input_arguments(parser, demo=True)
    add_model_arguments(parser)
    add_output_arguments(parser)
    parser.add_argument(
        "--save-model", metavar="FILE", help="save the trained model to FILE (e.g. model.pt)"
    )
    _add_report_argument(parser)
    parser.set_defaults(func=run_detect)


def _register_score(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "score",
        help="score new data with a model saved by 'mcod detect --save-model'",
        description="Score new data with a saved MCOD model.",
        epilog=SCORE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("model", metavar="MODEL", help="model file from 'mcod detect --save-model'")
    add_input_arguments(parser, demo=False)
    parser.add_argument(
        "--device", default=None, help="default: the saved one, CPU where CUDA is absent"
    )
    add_output_arguments(parser)
    _add_report_argument(parser)
    parser.set_defaults(func=run_score)


def _registrars() -> list[Callable[[argparse._SubParsersAction], None]]:
    """detect and score here; the other subcommands from their modules (imported lazily
    because they import this module's helpers)."""
    modules = [importlib.import_module(name) for name in SUBCOMMAND_MODULES]
    return [_register_detect, _register_score, *(module.register for module in modules)]


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="mcod",
        description="Find the outliers in unlabeled data with MCOD "
        "(memory + contrastive learning).",
        epilog=MAIN_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"mcod {__version__}")
    parser.set_defaults(func=None)
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND")
    for register in _registrars():
        register(subparsers)
    return parser


# --------------------------------------------------------------------------- input


@dataclass
class InputData:
    """What a command scores: the array, sample names, and (demo only) the truth."""

    X: np.ndarray
    names: list[str] | None  # image paths; None means rows are named by their index
    source: str  # one line: where the data came from
    truth: np.ndarray | None = None  # demo only, 1 = planted outlier; never used for training
    table: TableData | None = None  # tables only: ids, column names, the frame as read
    key_column: str = "index"  # header naming the samples in outputs: index, path or the id


NPY_MAGIC = b"\x93NUMPY"  # how every .npy file begins


def _npy_header(handle: BinaryIO, file: Path) -> tuple[tuple[int, ...], np.dtype]:
    """The shape and dtype a .npy file declares, read from its header alone, so that a
    damaged or hostile header is caught before numpy allocates what it claims."""
    from numpy.lib import format as npy_format

    try:
        version = npy_format.read_magic(handle)
    except ValueError as error:
        raise InputError(f"cannot read {file} as a .npy array: {error}") from None
    readers = {(1, 0): npy_format.read_array_header_1_0, (2, 0): npy_format.read_array_header_2_0}
    if version not in readers:  # 3.0 is for structured arrays with non-latin-1 field names
        raise InputError(f"{file} is a .npy file of format version {version[0]}.{version[1]}; "
                         "mcod reads versions 1.0 and 2.0, which numpy.save writes for numbers")
    try:
        shape, _, dtype = readers[version](handle)
    except ValueError as error:
        raise InputError(f"cannot read {file} as a .npy array: {error}") from None
    return shape, dtype


def _check_npy_size(file: Path, shape: tuple[int, ...], dtype: np.dtype, start: int) -> None:
    """Refuse a header that declares more data than the file holds (truncated, or a 1 KB
    file claiming terabytes): numpy would otherwise try to allocate it all."""
    if any(n < 0 for n in shape):
        raise InputError(f"cannot read {file} as a .npy array: its header declares the "
                         f"negative shape {shape}")
    declared = math.prod(shape) * dtype.itemsize
    held = file.stat().st_size - start
    if declared > held:
        raise InputError(f"cannot read {file} as a .npy array: its header declares shape "
                         f"{shape} of {dtype} ({declared:,} bytes), but the file holds "
                         f"{held:,} bytes of data (truncated, or a damaged header)")


def _load_npy(path: str) -> np.ndarray:
    """The array in a .npy file, memory-mapped read-only: reading it copies no more than
    is used (scoring in batches reads a batch at a time). Bad files raise InputError."""
    file = Path(path).expanduser()
    if file.is_dir():
        raise InputError(f"{file} is a folder, not a .npy file (a folder of images is INPUT)")
    if not file.is_file():
        raise FileNotFoundError(f"no such file: {file}")
    with file.open("rb") as handle:
        if handle.read(len(NPY_MAGIC)) != NPY_MAGIC:
            raise InputError(f"{file} is not a .npy file (it lacks the .npy header); save "
                             "arrays with numpy.save")
        handle.seek(0)
        shape, dtype = _npy_header(handle, file)
        start = handle.tell()
    if dtype.hasobject:  # an object array: loading it would run pickle
        raise InputError(f"{file} holds Python objects, not numbers; mcod does not "
                         "unpickle files")
    _check_npy_size(file, shape, dtype, start)
    try:  # np.asarray: a plain (read-only) ndarray view, not the np.memmap subclass
        return np.asarray(np.load(file, mmap_mode="r", allow_pickle=False))
    except (ValueError, OSError, EOFError) as error:
        raise InputError(f"cannot read {file} as a .npy array: {error}") from None


def _load_demo(inlier: int, contamination: float, seed: int) -> InputData:
    from mcod.data.datasets import load_dataset, uod_split

    digits = load_dataset("digits")
    index, truth = uod_split(digits.labels, inlier, rho=contamination, seed=seed)
    n_out = int(truth.sum())
    source = (
        f"demo: sklearn digits, digit {inlier} as inliers + {n_out} other digits "
        f"planted as outliers (seed {seed})"
    )
    return InputData(digits.images[index], None, source, truth)


def read_input(args: argparse.Namespace, contamination: float | None = None,
               channels: int | None = None, scan: FolderScan | None = None,
               image_size: int | None = None) -> InputData:
    """The data named by INPUT / --npy; the demo when neither is given and the command has
    --demo-class (``contamination`` then sets the planted share). ``channels`` and
    ``image_size``: a fitted model's, so that a folder's images are all read as grey (1) or
    RGB (3), and images of several sizes at its input size (default: --config's);
    ``scan``: the INPUT folder's, when the caller has walked it already."""
    table = getattr(args, "table", None)
    if sum(bool(x) for x in (args.input, args.npy, table)) > 1:
        raise InputError("give one of INPUT, --npy FILE or --table FILE, not both")
    npy = args.npy or (args.input and Path(args.input).suffix.lower() == ".npy")
    if args.resize and (table or npy or not args.input or is_table_path(args.input)):
        raise InputError("--resize applies only to image folders")
    if table or is_table_path(args.input):
        from mcod.data.tables import table_from_args

        path = table or args.input
        data = table_from_args(path, args)
        # no column count here: the "data:" line counts the columns the model is given
        source = f"table {path}" + (f", rows named by {data.id_column!r}" if data.id_column else "")
        repeats = 0 if data.ids is None else len(data.ids) - len(set(data.ids))
        if repeats:
            print(f"mcod: warning: --id-column {data.id_column!r} repeats {repeats} value(s); "
                  "the outputs cannot tell those rows apart", file=sys.stderr)
        return InputData(data.X, data.ids, source, table=data, key_column=data.key_column)
    given = table_options_given(args)
    if given:
        verb = "applies" if len(given) == 1 else "apply"
        raise InputError(f"{', '.join(given)} {verb} only to tables (.csv, .tsv, .parquet)")
    if npy:
        path = args.npy or args.input
        return InputData(_load_npy(path), None, f"array {path}")
    if args.input:
        size = image_size or CONFIGS[args.config].input_size
        return _read_folder(args, scan, channels, size)
    if getattr(args, "demo_class", None) is None:
        raise InputError("no input: give an image folder, a table (.csv, .parquet) or --npy FILE")
    return _load_demo(args.demo_class, 0.1 if contamination is None else contamination, args.seed)


def _read_folder(args: argparse.Namespace, scan: FolderScan | None, channels: int | None,
                 network_size: int) -> InputData:
    """The images below INPUT: as they are when they share one size no larger than the
    network's input and no --resize is given (the network resizes them), else decoded and
    shrunk one by one to the network's input size by --resize (crop by default), so that
    memory does not grow with the photos' size; saying which."""
    scan = scan or scan_folder(args.input)
    note = scan.skipped_note()
    if note:
        print(f"mcod: note: below {args.input}, {note}", file=sys.stderr)
    files = ImageFiles(scan.images, channels)
    policy = args.resize or "crop"
    one_size = files.one_size()
    as_they_are = one_size is not None and max(one_size) <= network_size and not args.resize
    if as_they_are:
        _say(args, f"images: {counted(len(files), 'file')} of {one_size[0]}x{one_size[1]}, "
                   f"read as they are (the network resizes them to "
                   f"{network_size}x{network_size})")
    else:
        _say(args, f"images: {counted(len(files), 'file')} of "
                   f"{counted(len(set(files.sizes)), 'size')}, read at "
                   f"{network_size}x{network_size} ({RESIZE_POLICIES[policy]})")
    images = files.load(None if as_they_are else network_size, policy, progress=not args.quiet)
    return InputData(images, [str(f) for f in scan.images], f"images in {args.input}",
                     key_column="path")


def _describe(X: np.ndarray) -> str:
    if X.ndim == 2:
        return f"{X.shape[0]} rows of {counted(X.shape[1], 'column')}, dtype {X.dtype}"
    kind = "images" if X.ndim in (3, 4) else "samples"
    shape = "x".join(str(n) for n in X.shape[1:]) or "scalar"
    return f"{X.shape[0] if X.ndim else 0} {kind} of shape {shape}, dtype {X.dtype}"



# --------------------------------------------------------------------------- model


def make_detector(args: argparse.Namespace):  # -> MCOD
    """An unfitted MCOD from the options of `add_model_arguments` (validated)."""
    from mcod.detector import MCOD, check_contamination, resolve_device

    resolve_device(args.device)  # fail early and clearly on a bad device
    return MCOD(
        contamination=check_contamination(args.contamination, "--contamination"),
        config=args.config,
        epochs=args.epochs,
        batch_size=args.batch_size,
        device=args.device,
        random_state=args.seed,
        verbose=not args.quiet,
    )


# --------------------------------------------------------------------------- output


def _say(args: argparse.Namespace, message: str) -> None:
    if not args.quiet:
        print(message, flush=True)


def _print_top(
    scores: np.ndarray, names: Sequence[str] | None, n: int, column: str
) -> None:
    from mcod.io.results import top_indices

    top = top_indices(scores, n)
    if len(top) == 0:
        return
    print(f"top {len(top)} of {len(scores)} (higher score = more outlying):")
    print(f"  {'rank':>4}  {'score':>12}  {column}")
    for rank, i in enumerate(top, start=1):
        name = str(i) if names is None else names[i]
        print(f"  {rank:>4}  {scores[i]:>12.6g}  {_printable(name)}")


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
    contamination: float,
) -> None:
    """Print the top --top samples and the outlier count; write --out DIR/scores.csv."""
    from mcod.io.results import SCORES_FILE, write_scores_csv

    names, key_column = data.names, data.key_column
    _print_top(scores, names, args.top, key_column)
    print(
        f"{int(labels.sum())} of {len(labels)} samples labelled outliers "
        f"(score > threshold {threshold:.6g}, contamination {contamination:g})"
    )
    if args.out:
        out = Path(args.out).expanduser()
        out.mkdir(parents=True, exist_ok=True)
        path = write_scores_csv(out / SCORES_FILE, scores, labels, names, key_column)
        print(f"wrote {path}")


def _write_report(
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
    _say(args, f"writing report to {Path(args.report) / REPORT_FILE}")
    path = write_report(
        args.report,
        detector,
        data.X,
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


# --------------------------------------------------------------------------- commands


def input_files(args: argparse.Namespace, scan: FolderScan | None) -> list[Path]:
    """The files a command reads (array, table, model and, for a folder, its images),
    for :func:`mcod.io.output_paths.check_outputs` to keep every output off them."""
    named = [getattr(args, name, None) for name in ("npy", "table", "model", "input")]
    files = [Path(value).expanduser() for value in named if value]
    if scan is not None:
        files += scan.images
    return files


def _check_outputs(args: argparse.Namespace, scan: FolderScan | None) -> None:
    """--out, --report and --save-model: never an input, each other or a device, and
    writable, checked before any training is spent (see mcod.io.output_paths)."""
    from mcod.io.output_paths import check_outputs, file_output, folder_output
    from mcod.io.results import SCORES_FILE
    from mcod.report.page import REPORT_FILE

    outputs = []
    if args.out:
        outputs.append(folder_output("--out", args.out, SCORES_FILE))
    if args.report:
        outputs.append(folder_output("--report", args.report, REPORT_FILE))
    if getattr(args, "save_model", None):
        outputs.append(file_output("--save-model", args.save_model))
    names = {output.path.name for output in outputs}  # only images of those names can clash
    if scan is not None:
        scan = FolderScan([p for p in scan.images if p.name in names], [], scan.folders)
    check_outputs(outputs, input_files(args, scan))


def _scan_input(args: argparse.Namespace) -> FolderScan | None:
    """The INPUT folder's scan (None for other input): read once, for the output check
    and then the images."""
    from mcod.data.folders import scan_folder

    other = args.npy or getattr(args, "table", None)  # both given: read_input refuses
    if args.input and not other and Path(args.input).expanduser().is_dir():
        return scan_folder(args.input)
    return None


def train_on(args: argparse.Namespace, detector, data: InputData) -> float:
    """Fit ``detector`` on the input (a table under its column names, kept for `score`),
    saying what was trained; return the seconds it took."""
    _say(args, f"data: {_describe(np.asarray(data.X))} ({data.source})")
    _say(args, "training MCOD ...")  # the config it resolves to is named once trained
    started = time.perf_counter()
    detector.fit(data.X if data.table is None else data.table.named())
    seconds = time.perf_counter() - started
    _say(args, f"trained {counted(detector.config_.epochs, 'epoch')} of config "
               f"{detector.config_.name} on {detector.device_} in {seconds:.1f} s")
    return seconds


def run_detect(args: argparse.Namespace) -> int:
    """`mcod detect`: train on the input, rank it, optionally save scores and model."""
    started = time.perf_counter()
    scan = _scan_input(args)
    _check_outputs(args, scan)
    detector = make_detector(args)
    data = read_input(args, contamination=args.contamination, scan=scan)
    fit_seconds = train_on(args, detector, data)
    scores = detector.decision_scores_
    note_if_too_few(len(scores), detector.contamination)
    report_scores(
        args, data, scores, detector.labels_, detector.threshold_, detector.contamination
    )
    if data.truth is not None:
        from sklearn.metrics import roc_auc_score

        auroc = roc_auc_score(data.truth, scores)
        print(f"demo AUROC (planted outliers vs digit {args.demo_class}): {auroc:.4f}")
    _write_report(args, detector, data, scores, fit_seconds)
    if args.save_model:
        from mcod.persistence import save_detector

        options = None if data.table is None else data.table.options
        print(f"saved model to {save_detector(detector, args.save_model, options)}")
    print(f"wall time {time.perf_counter() - started:.1f} s")
    return 0


def note_if_too_few(n: int, contamination: float) -> None:
    """Say so when fewer samples than one outlier's worth are given: the percentile
    threshold (PyOD's) then still flags the top sample, a larger share than asked for."""
    if n * contamination < 1:
        print(f"mcod: note: {n} samples at contamination {contamination:g} expect "
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


def run_score(args: argparse.Namespace) -> int:
    """`mcod score`: score new data with a saved model and its fitted threshold."""
    from mcod.persistence import load_with_table_options

    started = time.perf_counter()
    scan = _scan_input(args)
    _check_outputs(args, scan)
    detector, table_options = load_with_table_options(args.model, device=args.device)
    _check_input_kind(args, detector.input_kind_)
    table_path = args.table or (args.input if is_table_path(args.input) else None)
    if table_options is not None and table_path:
        from mcod.data.tables import apply_saved_options, table_header

        taken = apply_saved_options(args, table_options, table_header(table_path))
        if taken:
            _say(args, f"table options from the model: {' '.join(taken)}")
    images = detector.input_kind_ == "image"
    data = read_input(args, channels=detector.n_channels_ if images else None, scan=scan,
                      image_size=detector.config_.input_size if images else None)
    if data.table is not None and detector.feature_names_in_ is not None:
        from mcod.data.tables import align_columns

        data.table = align_columns(data.table, detector.feature_names_in_)
        data.X = data.table.X  # the report names the columns in the model's order too
    _say(args, f"data: {_describe(data.X)} ({data.source})")
    _say(args, f"model: {args.model} (config {detector.config_.name}, device {detector.device_})")
    scores = detector.decision_function(data.X if data.table is None else data.table.named())
    labels = (scores > detector.threshold_).astype(np.int64)
    report_scores(args, data, scores, labels, detector.threshold_, detector.contamination)
    _write_report(args, detector, data, scores, model=args.model)
    print(f"wall time {time.perf_counter() - started:.1f} s")
    return 0


# --------------------------------------------------------------------------- entry point


def _one_line(message: str) -> str:
    return "; ".join(line.strip() for line in message.splitlines() if line.strip())


class Terminated(BaseException):
    """SIGTERM (``kill``, ``docker stop``, a job scheduler) or SIGHUP (the terminal closed,
    ssh dropped), raised where the program is, so that half-written outputs are removed as
    on Ctrl-C instead of being left behind."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


TERMINATING = (signal.SIGTERM, signal.SIGHUP)


def _raise_terminated(signum: int, frame: object) -> NoReturn:
    raise Terminated(signum)


def _one_line_for_ours(show: Callable[..., None]) -> Callable[..., None]:
    """mcod's own warnings (new data unlike the training data) as one line on stderr, the
    way its errors are shown; a library's warning keeps Python's display (``show``)."""
    package = Path(__file__).parents[1]  # mcod/, above mcod/cli/

    def show_warning(message, category, filename, lineno, file=None, line=None) -> None:
        if issubclass(category, DataWarning) or Path(filename).is_relative_to(package):
            print(f"mcod: warning: {_one_line(str(message))}", file=sys.stderr)
        else:
            show(message, category, filename, lineno, file, line)

    return show_warning


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit code (0 ok, 2 usage or input error)."""
    parser = build_parser()
    try:
        args, unknown = parser.parse_known_args(argv)
        if unknown:
            args.command_parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    except SystemExit as exit_:  # --help, --version, usage errors
        return exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
    if args.func is None:
        parser.print_help()
        return EXIT_USAGE
    try:
        # catch_warnings: restores the warnings' display afterwards
        with handlers_set(TERMINATING, _raise_terminated), warnings.catch_warnings():
            warnings.showwarning = _one_line_for_ours(warnings.showwarning)
            return int(args.func(args))
    except USER_ERRORS as error:
        print(f"mcod: error: {_one_line(str(error)) or type(error).__name__}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("mcod: interrupted", file=sys.stderr)
        return 130
    except Terminated as stop:
        print("mcod: terminated" if stop.signum == signal.SIGTERM else "mcod: hangup",
              file=sys.stderr)
        return 128 + stop.signum


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
