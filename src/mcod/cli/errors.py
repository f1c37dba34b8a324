"""How the ``mcod`` command line ends on an error: which errors a user can fix, their
one-line messages, and the exit codes (2 usage or input error, 130 Ctrl-C, 128 + signal
number for SIGTERM/SIGHUP)."""

from __future__ import annotations

import signal
import sys

from mcod.data.datasets import DatasetMissingError
from mcod.data.inputs import InputError

# What a user can fix: printed as `mcod: error: <message>`, exit code 2, no traceback.
USER_ERRORS: tuple[type[BaseException], ...] = (
    InputError,
    DatasetMissingError,
    ValueError,
    FileNotFoundError,
    OSError,
)

EXIT_USAGE = 2  # a usage error or an input a user can fix
EXIT_INTERRUPTED = 130  # Ctrl-C, as a shell reports SIGINT


def one_line(message: str) -> str:
    """A message of several lines as one, its lines joined by "; "."""
    return "; ".join(line.strip() for line in message.splitlines() if line.strip())


class Terminated(BaseException):
    """SIGTERM (``kill``, ``docker stop``, a job scheduler) or SIGHUP (the terminal closed,
    ssh dropped), raised where the program is, so that half-written outputs are removed as
    on Ctrl-C instead of being left behind."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def exit_code(error: BaseException) -> int | None:
    """Tell the user why mcod stops on ``error`` (one line on stderr) and return the exit
    code; None for an error that is a bug, to be raised with its traceback."""
    stop = signal_behind(error)
    if isinstance(stop, Terminated):
        print("mcod: terminated" if stop.signum == signal.SIGTERM else "mcod: hangup",
              file=sys.stderr)
        return 128 + stop.signum
    if stop is not None:
        print("mcod: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    if isinstance(error, USER_ERRORS):
        print(f"mcod: error: {one_line(str(error)) or type(error).__name__}", file=sys.stderr)
        return EXIT_USAGE
    return None


def signal_behind(error: BaseException) -> KeyboardInterrupt | Terminated | None:
    """The Ctrl-C or SIGTERM/SIGHUP that ``error`` is, or that it was raised while handling:
    a library being imported when the signal came (scipy) reports "initialization
    failed" instead, with the signal as its context."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        if isinstance(current, (KeyboardInterrupt, Terminated)):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None
