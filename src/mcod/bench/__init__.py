"""Benchmark harness: protocols, baselines, resumable runs and the RESULTS.md report.

Modules, one job each:

- ``detectors``: registry of detectors with settings fixed in advance (mcod, ablations, PyOD).
- ``protocols``: the UOD and one-class tasks (which images are fitted, which scored).
- ``metrics``: AUROC, AP-out, AP-in.
- ``worker``: one (task, detector) run: fit, score, time, peak memory.
- ``results``: the JSON Lines results file (append, resume).
- ``runner``: the loop over tasks x detectors.
- ``report`` / ``figures``: RESULTS.md tables and PNG plots from results files alone.
- ``cli``: ``mcod bench run|report|list``.
"""
