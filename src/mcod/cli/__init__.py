"""The ``mcod`` command line: the parser and entry point (``main``), the shared argument
groups, reading the inputs, the detect/score commands and ``mcod clean``. The only layer
that sees argparse (with ``mcod.bench.cli``)."""
