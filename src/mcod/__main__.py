"""`python -m mcod ...` runs the command line, like the `mcod` script."""

import sys

from mcod.cli import main

sys.exit(main())
