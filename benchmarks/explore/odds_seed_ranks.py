"""ODDS mean rank of mcod-tabular seed by seed, for the shipped runs and earlier variants.

    python benchmarks/explore/odds_seed_ranks.py [VARIANT.jsonl ...]

Why: RESULTS part 6 ranks the mean AUROC over five seeds. Ranking each seed's runs on
their own (the baselines' runs of that seed as the field) shows how far the rank moves
with the seed alone, the noise any difference between variants must stand out from.
Each VARIANT file (e.g. results/superseded/odds_mcod-tabular_v10_*.jsonl) replaces
mcod-tabular's runs; the baselines stay those of results/odds.jsonl.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from mcod.bench.report import ODDS_REFERENCE, mean_ranks
from mcod.bench.results import read_results

ODDS_RUNS = Path(__file__).parents[1] / "results" / "odds.jsonl"
MCOD = "mcod-tabular"


def odds_cells(runs: list[dict]) -> dict[str, dict[str, float]]:
    """set -> detector -> AUROC, the mean over the given runs' seeds."""
    aurocs: dict[str, dict[str, list[float]]] = {}
    for run in runs:
        aurocs.setdefault(run["dataset"], {}).setdefault(run["detector"], []).append(run["auroc"])
    return {name: {det: float(np.mean(v)) for det, v in row.items()}
            for name, row in aurocs.items()}


def seed_ranks(runs: list[dict], mcod_runs: list[dict]) -> dict[int, tuple[float, float]]:
    """seed -> (mcod's mean rank, the reference's), over the sets with every detector."""
    baselines = [r for r in runs if r["detector"] != MCOD]
    detectors = sorted({r["detector"] for r in baselines} | {MCOD})
    ranks = {}
    for seed in sorted({r["seed"] for r in mcod_runs}):
        cells = odds_cells([r for r in baselines + mcod_runs if r["seed"] == seed])
        mean, _ = mean_ranks(cells, detectors)
        ranks[seed] = (mean[MCOD], mean[ODDS_REFERENCE])
    return ranks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("variants", nargs="*", help="results files with other mcod runs")
    args = parser.parse_args()
    runs = [r for r in read_results(ODDS_RUNS) if r["protocol"] == "odds"]
    sources = {"shipped": [r for r in runs if r["detector"] == MCOD]}
    sources |= {Path(v).stem: [r for r in read_results(v) if r["detector"] == MCOD]
                for v in args.variants}
    for name, mcod_runs in sources.items():
        ranks = seed_ranks(runs, mcod_runs)
        mine = [ranks[s][0] for s in ranks]
        print(f"{name}: mcod per seed " + " ".join(f"{v:.2f}" for v in mine)
              + f" (mean {np.mean(mine):.2f}, sd {np.std(mine, ddof=1):.2f});"
              f" {ODDS_REFERENCE} " + " ".join(f"{ranks[s][1]:.2f}" for s in ranks))


if __name__ == "__main__":
    main()
