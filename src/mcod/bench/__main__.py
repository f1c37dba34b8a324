"""``python -m mcod.bench run|report|list ...`` (same as ``mcod bench ...``)."""

import sys

from mcod.bench.cli import main

if __name__ == "__main__":
    sys.exit(main())
