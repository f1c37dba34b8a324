"""The HTML report of a run (``page``) and the figures drawn into it (``figures``)."""
