"""Writing outputs safely: atomic files, output-path checks, swapping a folder into place,
signal handling while doing so, and the score files. The bottom layer: it imports nothing
else from mcod but the input errors."""
