"""The ``mcod`` command (also ``python -m mcod``): a Ctrl-C while the libraries load ends
it quietly like one during work (exit 130), not with a traceback."""

from __future__ import annotations

import sys


def main() -> int:
    try:
        from mcod.cli.main import main as run
    except KeyboardInterrupt:
        print("mcod: interrupted", file=sys.stderr)
        return 130
    return run()


if __name__ == "__main__":
    sys.exit(main())
