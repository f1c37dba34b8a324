"""The ``mcod`` command (also ``python -m mcod``): a Ctrl-C while the libraries load ends
it quietly like one during work (exit 130), not with a traceback."""

from __future__ import annotations

import signal
import sys


def main() -> int:
    try:
        from mcod.cli.main import main as run
    except KeyboardInterrupt:
        print("mcod: interrupted", file=sys.stderr)
        return 130
    code = run()
    # the work is done and its outputs written: a Ctrl-C while the interpreter shuts down
    # (torch's exit hooks take a while) ends the process as the signal does by default,
    # not with a KeyboardInterrupt traceback from an exit hook
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    return code


if __name__ == "__main__":
    sys.exit(main())
