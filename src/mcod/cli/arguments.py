"""The command line's shared options, so that every subcommand reads data, trains and
prints the same way: input (with the table options), model, output and report options,
their checked types, and the conversion of the table options to
:class:`mcod.data.tables.TableOptions` (the library below never sees a Namespace)."""

from __future__ import annotations

import argparse
import math

from mcod.config import CONFIGS, MAX_SEED
from mcod.cuts import AUTO, DEFAULT_METHOD, METHODS
from mcod.data.csv_format import DECIMALS, parse_separator
from mcod.data.folders import RESIZE_POLICIES
from mcod.data.inputs import InputError
from mcod.data.tables import CATEGORICAL_CHOICES, FILL_CHOICES, TableOptions


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


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number of seconds, got {text!r}") from None
    if not (math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(f"must be a number of seconds >= 0, got {text}")
    return value


def add_command(subparsers: argparse._SubParsersAction, name: str, summary: str,
                description: str, epilog: str) -> argparse.ArgumentParser:
    """A subcommand's parser: ``summary`` in ``mcod --help``, ``description`` and the
    ``epilog`` (examples, laid out as written) in its own ``--help``."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        name, help=summary, description=description, epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    return parser


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


def _share_or_auto(text: str) -> float | str:
    """--contamination's value: 'auto', or a number (its range is checked with the model's
    other settings)."""
    if text == AUTO:
        return AUTO
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a share such as 0.05, or {AUTO}, "
                                         f"got {text!r}") from None


def add_cut_arguments(parser: argparse.ArgumentParser,
                      default: str) -> argparse._MutuallyExclusiveGroup:
    """--contamination SHARE|auto and --threshold-method NAME, one at most (both unset:
    None, and the command's ``default`` cut, named in the help, applies); the group, for a
    command that adds another way to cut."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--contamination",
        type=_share_or_auto,
        metavar="SHARE|auto",
        help=f"expected share of outliers, in (0, 0.5], which sets the threshold; or {AUTO}: "
        f"no share given, the cut is found from the scores alone by --threshold-method "
        f"{DEFAULT_METHOD} (default: {default})",
    )
    group.add_argument(
        "--threshold-method",
        choices=list(METHODS),
        metavar="NAME",
        help="a label-free cut by this PyThresh method: "
        + "; ".join(f"{name}: {what}" for name, what in METHODS.items()),
    )
    return group


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of a training run: config, epochs, batch size, device, seed."""
    parser.add_argument(
        "--config",
        choices=sorted(CONFIGS),
        default="default",
        help="'default' (images through a frozen ImageNet encoder; tables use 'tabular'), "
        "'scratch' (image features learnt from the pixels), 'release' (the authors' settings) "
        "or 'tabular' (default: default)",
    )
    parser.add_argument(
        "--epochs",
        type=_positive_int,
        metavar="N",
        help="training epochs (default: the config's: 5 of the head for 'default', 20 for "
        "'scratch'; raised on small data to reach its minimum number of steps)",
    )
    parser.add_argument(
        "--batch-size", type=_batch_size, metavar="N", help="at least 2 (default: the config's)"
    )
    parser.add_argument(
        "--device", default="auto", help="auto (CUDA if present), cpu, cuda, cuda:1 (default: auto)"
    )
    parser.add_argument("--seed", type=_seed, default=0,
                        help="random seed, 0 to 2**32 - 1 (default: 0)")
    parser.add_argument(
        "--float64", action="store_true",
        help="images: the networks score, and a pretrained encoder encodes, in float64 "
        "(about 3.5x slower to encode on CPU): scores that do not move with the batch, "
        "and that an exported ONNX graph (mcod export) gives to float64 rounding from the "
        "same input (images resized as mcod resizes them)")
    parser.add_argument(
        "--checkpoint", metavar="DIR",
        help="save the training state in DIR/checkpoint.pt as training goes; the same "
        "command run again after an interruption (even kill -9) goes on from it and ends "
        "as an uninterrupted run would; removed once the outputs are written")
    parser.add_argument(
        "--checkpoint-every", type=_seconds, default=60.0, metavar="SECONDS",
        help="seconds between checkpoint writes, 0 = after every step (default: 60)")


def add_output_arguments(parser: argparse.ArgumentParser) -> None:
    """--out DIR, --overwrite, --top N, --quiet."""
    parser.add_argument(
        "--out", metavar="DIR", help="write DIR/scores.csv (DIR is created if needed)"
    )
    parser.add_argument(
        "--overwrite", action="store_true",
        help="replace DIR/scores.csv (and --report's index.html) even if mcod did not write "
        "it (default: only mcod's own is replaced, told by its header)",
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


def add_report_argument(parser: argparse.ArgumentParser) -> None:
    """--report DIR, --report-top N."""
    parser.add_argument(
        "--report",
        metavar="DIR",
        help="write DIR/index.html: a self-contained visual report (plots, top outliers, "
        "memory items), viewable offline",
    )
    parser.add_argument(
        "--report-top",
        type=_non_negative_int,
        metavar="N",
        help="show the N highest-scoring samples in the report (default: every flagged "
        "one, at least 10 and at most 200)",
    )


def add_table_arguments(parser: argparse.ArgumentParser) -> None:
    """--table FILE, --columns, --id-column, --keep-index-columns, --categorical,
    --fill-missing, --sep, --decimal."""
    group = parser.add_argument_group(
        "tables (INPUT or --table ending in .csv, .tsv, .parquet or .pq)"
    )
    group.add_argument("--table", metavar="FILE", help="a CSV or Parquet table, one row a sample")
    group.add_argument(
        "--columns",
        metavar="A,B,C",
        help="comma-separated columns to use (default: all but --id-column)",
    )
    group.add_argument(
        "--id-column",
        metavar="NAME",
        help="column that names each row; written to the outputs instead of the row index",
    )
    group.add_argument(
        "--keep-index-columns",
        action="store_true",
        default=None,  # None: not given, so that a saved model's choice applies
        help="use integer columns that look like a row index (pandas' unnamed index, "
        "0..N-1 or 1..N in file order, an id's name with a different integer in every "
        "row) as features (default: left out, with a warning naming them)",
    )
    group.add_argument(
        "--categorical",
        choices=CATEGORICAL_CHOICES,
        help="non-numeric columns: 'refuse' them with an error, or 'onehot' encode them "
        "(default: refuse; 'mcod score': the model's)",
    )
    group.add_argument(
        "--fill-missing",
        choices=FILL_CHOICES,
        help="missing values: 'none' (an error), or fill each numeric column with its "
        "'mean', 'median' or 'zero' (default: none; 'mcod score': the model's, with the "
        "values computed on its training rows)",
    )
    group.add_argument(
        "--sep",
        metavar="CHAR",
        help="CSV separator: one character (quoted for the shell: --sep ';'), or tab "
        "(default: sniffed from the first lines among , ; tab |, else tab for .tsv and "
        "comma otherwise)",
    )
    group.add_argument(
        "--decimal",
        choices=DECIMALS,
        metavar="MARK",
        help="CSV decimal mark, . or , (default: sniffed: , where the separator is not a "
        "comma and the numbers are written 1,5)",
    )


def _split_columns(text: str | None) -> list[str] | None:
    if text is None:
        return None
    items = [c.strip() for c in text.split(",") if c.strip()]
    if not items:
        raise InputError("--columns is empty; give comma-separated column names")
    return items


def table_options(args: argparse.Namespace) -> TableOptions:
    """The table options of :func:`add_table_arguments` as the table reader takes them
    (an option not given stays None, for a saved model's to fill in)."""
    sep = getattr(args, "sep", None)
    return TableOptions(
        columns=_split_columns(getattr(args, "columns", None)),
        id_column=getattr(args, "id_column", None),
        categorical=getattr(args, "categorical", None),
        fill_missing=getattr(args, "fill_missing", None),
        keep_text=getattr(args, "keep_text", False),
        sep=None if sep is None else parse_separator(sep),
        decimal=getattr(args, "decimal", None),
        index_columns=[] if getattr(args, "keep_index_columns", None) else None,
    )


def table_options_given(args: argparse.Namespace) -> list[str]:
    """Table-only options set on the command line (to refuse them for other input)."""
    flags = {"columns": "--columns", "id_column": "--id-column",
             "keep_index_columns": "--keep-index-columns", "categorical": "--categorical",
             "fill_missing": "--fill-missing", "sep": "--sep", "decimal": "--decimal"}
    return [flag for key, flag in flags.items() if getattr(args, key, None) is not None]


def say(args: argparse.Namespace, message: str) -> None:
    """A status line, unless --quiet."""
    if not args.quiet:
        print(message, flush=True)
