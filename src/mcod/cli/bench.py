"""``mcod bench``: the command line that runs the benchmark and renders its report.

Wire it into the main CLI with ``register(subparsers)``; it sets ``func=run`` on the parser,
and ``run(args)`` returns an exit code. ``python -m mcod.bench ...`` works on its own
(``main``). The options and their rules are plain values in `mcod.bench.options`; every
``run`` option may also come from ``--config FILE`` (TOML or JSON).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from mcod.bench.options import QUICK_CLASSES, QUICK_MAX_N, QUICK_SEEDS, resolve_run_options
from mcod.cli.errors import EXIT_USAGE
from mcod.nn.allocator import keep_freed_memory

RUN_EXAMPLES = """\
  mcod bench run --quick --datasets digits --results /tmp/quick.jsonl   # smoke run, minutes
  mcod bench run --protocol odds --datasets wbc --detectors iforest,mcod-tabular --seeds 0 \\
      --results /tmp/wbc.jsonl         # your own runs: keep them out of benchmarks/results
  mcod bench run --config benchmarks/configs/part6_odds.toml   # RESULTS.md part 6 (ODDS)
  mcod bench run --config benchmarks/configs/part6_odds.toml --dry-run   # left (reads data)"""
BENCH_EPILOG = f"""\
examples:
{RUN_EXAMPLES}
  mcod bench report                    # RESULTS.md from benchmarks/results/*.jsonl
  mcod bench list                      # detector names and groups for --detectors

Datasets are read from --data-dir or $MCOD_DATA_DIR (digits needs no files)."""
RUN_EPILOG = f"examples:\n{RUN_EXAMPLES}"
REPORT_EPILOG = """\
examples:
  mcod bench report
  mcod bench report --results /tmp/quick.jsonl --include-quick --out /tmp/QUICK.md"""


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``bench`` (with ``run``, ``report``, ``list``) to a main parser's subparsers."""
    raw = argparse.RawDescriptionHelpFormatter
    bench = subparsers.add_parser(
        "bench", help="benchmark mcod and baselines, render benchmarks/RESULTS.md",
        description="Benchmark mcod against baselines on images and the ODDS tables, and "
        "render benchmarks/RESULTS.md (protocols and parts: benchmarks/README.md).",
        epilog=BENCH_EPILOG, formatter_class=raw,
    )
    bench.set_defaults(func=run, bench_command=None)
    sub = bench.add_subparsers(dest="bench_command", metavar="COMMAND")

    p = sub.add_parser("run", help="run (or resume) benchmark runs, appending to a results file",
                       description="Run every (dataset, class, share, seed, detector) not yet "
                       "in the results file, one JSON line per run as it ends.",
                       epilog=RUN_EPILOG, formatter_class=raw)
    p.add_argument("--config", help="TOML/JSON file with any of these options")
    p.add_argument("--datasets", help="comma list: mnist,fashion-mnist,cifar10,digits; for "
                   "--protocol odds, ODDS set names or 'all'")
    p.add_argument("--protocol", choices=["uod", "oneclass", "odds"])
    p.add_argument("--rhos", help="outlier shares, e.g. 0.05,0.1,0.15,0.2,0.25")
    p.add_argument("--classes", help="inlier classes, e.g. 0-9 or 0,3,5 (default: all)")
    p.add_argument("--seeds", help="e.g. 0,1,2")
    p.add_argument("--detectors",
                   help="names or groups (all, baselines, mcod, pretrained, ablations, "
                   "head-ablations, odds, table-baselines); see `bench list`")
    p.add_argument("--results", help="JSON Lines file to append to (resumes from it)")
    p.add_argument("--quick", action="store_true", default=None,
                   help=f"smoke profile: classes {QUICK_CLASSES}, seed {QUICK_SEEDS}, "
                   f"<= {QUICK_MAX_N} images per task, few epochs, in-process")
    p.add_argument("--max-n", dest="max_n", type=int,
                   help="subsample each task to about this many images (ratio kept); odds: "
                   "rows per set at most (default 20000, uniform subsample)")
    p.add_argument("--data-dir", dest="data_dir", help="dataset folder (else $MCOD_DATA_DIR)")
    p.add_argument("--threads", type=int, help="threads per run (OMP/MKL/torch)")
    p.add_argument("--tag", help="label stored with each run and part of its identity")
    iso = p.add_mutually_exclusive_group()
    iso.add_argument("--isolate", dest="isolate", action="store_true", default=None,
                     help="each run in a fresh process (default except --quick)")
    iso.add_argument("--in-process", dest="isolate", action="store_false",
                     help="runs in this process (faster start; memory via VmHWM reset)")
    p.add_argument("--dry-run", dest="dry_run", action="store_true", default=None,
                   help="list pending runs, run nothing")
    p.add_argument("--cold-features", dest="cold_features", action="store_true", default=None,
                   help="each run encodes its images afresh into an empty feature cache "
                   "(the cost of a first fit; part 5), not a dataset encoded once up front")

    r = sub.add_parser("report", help="render RESULTS.md and figures from results files",
                       description="Render the tables and figures of RESULTS.md from "
                       "recorded runs (nothing is run).", epilog=REPORT_EPILOG,
                       formatter_class=raw)
    r.add_argument("--results", nargs="+", default=["benchmarks/results/*.jsonl"],
                   help="results files or glob patterns")
    r.add_argument("--out", default="benchmarks/RESULTS.md",
                   help="Markdown file to write (default: benchmarks/RESULTS.md)")
    r.add_argument("--figures", help="folder for PNGs (default: <out folder>/figures)")
    r.add_argument("--include-quick", action="store_true",
                   help="also count --quick runs (excluded by default)")

    sub.add_parser("list", help="list detectors, groups and ablations",
                   description="List the detectors, the groups --detectors takes, and the "
                   "ablations.")
    return bench


def run(args: argparse.Namespace) -> int:
    command = getattr(args, "bench_command", None)
    if command == "run":
        from mcod.bench.runner import run_bench

        try:
            opts = resolve_run_options(vars(args))
        except (OSError, ValueError) as error:  # TOMLDecodeError is a ValueError
            print(f"mcod bench: {error}", file=sys.stderr)
            return EXIT_USAGE
        try:
            summary = run_bench(**opts)
        except (ValueError, NotImplementedError, FileNotFoundError) as error:
            print(f"mcod bench: {error}", file=sys.stderr)
            return EXIT_USAGE
        return 1 if summary.failed else 0
    if command == "report":
        from mcod.bench.report import write_report

        out = write_report(args.results, args.out, figures_dir=args.figures,
                           include_quick=args.include_quick)
        print(f"wrote {out}")
        return 0
    if command == "list":
        from mcod.bench import detectors as det

        for name, spec in det.registry().items():
            print(f"{name:20s} {spec.family:9s} input={spec.input}")
        for group, members in det.groups().items():
            print(f"group {group}: {', '.join(members)}")
        for ab, changes in det.ABLATIONS.items():
            print(f"ablation {ab}: {changes}")
        return 0
    print("usage: mcod bench {run,report,list} ... (see --help)", file=sys.stderr)
    return EXIT_USAGE


def main(argv: list[str] | None = None) -> int:
    """Standalone entry: ``python -m mcod.bench run ...`` = ``mcod bench run ...``."""
    parser = argparse.ArgumentParser(prog="mcod")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["bench", *(sys.argv[1:] if argv is None else argv)])
    keep_freed_memory()  # as `mcod` does: the up-front encoding runs in this process
    return args.func(args)
