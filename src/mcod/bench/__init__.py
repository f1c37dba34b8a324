"""Benchmark harness: protocols, baselines, resumable runs and the RESULTS.md report.

Modules, one job each:

- ``detectors``: registry of detectors with settings fixed in advance (mcod, ablations, PyOD).
- ``protocols``: the UOD and one-class tasks (which images are fitted, which scored).
- ``metrics``: AUROC, AP-out, AP-in.
- ``worker``: one (task, detector) run: fit, score, time, peak memory.
- ``results``: the JSON Lines results file (append, resume).
- ``runner``: the loop over tasks x detectors.
- ``report`` / ``figures``: RESULTS.md tables and PNG plots from results files alone; the
  prose around the tables is ``results_template.md``.
- ``options``: the options of a run (defaults, --quick, config files) as plain values; the
  command line ``mcod bench run|report|list`` that gathers them is `mcod.cli.bench`.
"""
