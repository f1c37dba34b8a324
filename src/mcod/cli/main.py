"""The ``mcod`` command line's parser and entry point: the subcommands, one-line errors and
the signals that stop a run (``mcod detect`` finds outliers, ``mcod score`` reuses a model,
``mcod clean`` writes the data without them, ``mcod export`` writes a model as ONNX,
``mcod bench`` benchmarks).

Adding a subcommand: write a module with ``register(subparsers)`` that calls
``subparsers.add_parser(...)`` and sets ``func=<function(args) -> int>`` with
``parser.set_defaults``, then add its ``register`` to ``SUBCOMMANDS`` below. Reuse
``add_input_arguments`` / ``read_input``, ``add_model_arguments`` / ``make_detector``,
``add_output_arguments`` and ``report_scores`` (from :mod:`mcod.cli.arguments`,
:mod:`mcod.cli.reading` and :mod:`mcod.cli.detect`) so that every subcommand reads data,
trains and prints the same way. Errors a user can fix (bad input, missing files) are raised as
``ValueError`` / ``OSError`` subclasses; ``main`` prints them on one line and exits with 2.
"""

from __future__ import annotations

import argparse
import signal
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

from mcod import __version__
from mcod.cli import bench, clean, detect, export
from mcod.cli.errors import EXIT_USAGE, Terminated, exit_code, one_line
from mcod.data.inputs import DataWarning
from mcod.io.signals import handlers_set
from mcod.nn.allocator import keep_freed_memory

# What adds each subcommand to the main parser, in --help's order.
SUBCOMMANDS: tuple[Callable[[argparse._SubParsersAction], object], ...] = (
    detect.register,
    bench.register,
    clean.register,
    export.register,
)

MAIN_EPILOG = """\
examples:
  mcod detect                           built-in demo: sklearn digits with planted outliers
  mcod detect photos/ --out results     score a folder of images, write results/scores.csv
  mcod detect --npy images.npy --contamination 0.05 --save-model model.pt
  mcod score model.pt new_photos/ --out new_results

Run 'mcod COMMAND --help' for the options of one command.
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
    for register in SUBCOMMANDS:
        register(subparsers)
    return parser


# --------------------------------------------------------------------------- entry point


TERMINATING = (signal.SIGTERM, signal.SIGHUP)


def _raise_terminated(signum: int, frame: object) -> NoReturn:
    raise Terminated(signum)


def _one_line_for_ours(show: Callable[..., None]) -> Callable[..., None]:
    """mcod's own warnings (new data unlike the training data) as one line on stderr, the
    way its errors are shown; a library's warning keeps Python's display (``show``)."""
    package = Path(__file__).parents[1]  # mcod/, above mcod/cli/

    def show_warning(message, category, filename, lineno, file=None, line=None) -> None:
        if issubclass(category, DataWarning) or Path(filename).is_relative_to(package):
            print(f"mcod: warning: {one_line(str(message))}", file=sys.stderr)
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
    keep_freed_memory()
    try:
        # catch_warnings: restores the warnings' display afterwards
        with handlers_set(TERMINATING, _raise_terminated), warnings.catch_warnings():
            warnings.showwarning = _one_line_for_ours(warnings.showwarning)
            if args.func is not detect.run_detect:  # only detect trains under torchrun
                from mcod.nn.distributed import one_process_only

                one_process_only(args.command_parser.prog)
            return int(args.func(args))
    except BaseException as error:
        code = exit_code(error)
        if code is None:
            raise
        return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
