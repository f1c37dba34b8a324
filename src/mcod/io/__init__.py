"""Writing outputs safely: atomic files, swapping a folder into place, the signal handling
that needs, and the score files. The bottom layer: it imports nothing else from mcod, so
every layer above can write files the same way."""
