"""The ``mcod`` command line: the parser and entry point (``main``), the shared options
(``arguments``), reading the inputs (``reading``), checking the output paths the options
name (``outputs``), ``detect``/``score`` (``detect``), ``mcod clean`` (``clean``), ``mcod export``
(``export``) and ``mcod bench`` (``bench``). The top layer, and the only one that sees
argparse."""
