"""``python -m mcod.bench run|report|list ...`` (same as ``mcod bench ...``): an entry point,
like ``mcod/__main__``, so it may start the command line (`mcod.cli.bench`)."""

import sys

from mcod.cli.bench import main

if __name__ == "__main__":
    sys.exit(main())
