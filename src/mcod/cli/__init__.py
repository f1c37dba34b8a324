"""The ``mcod`` command line: the parser and entry point (``main``), the shared options
(``arguments``), reading the inputs (``reading``), checking the output paths the options
name (``outputs``), ``detect``/``score`` (``detect``) and ``mcod clean`` (``clean``). The top
layer, and with ``mcod.bench.cli`` the only one that sees argparse."""
