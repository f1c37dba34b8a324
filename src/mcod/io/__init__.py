"""Writing outputs safely: atomic files, swapping a folder into place, the signal handling
that needs, the score files, table files, and the cleaned copies `mcod clean` writes
(mcod.io.cleaning). The bottom layer: it imports nothing else from mcod, so
every layer above can write files the same way."""
