"""Probe: does averaging several independently seeded tabular MCOD models help on ODDS?

    python benchmarks/explore/tabular_ensemble.py 5

Fits the `tabular` default with seeds 0..M-1 on each of the 25 ODDS sets (seed-0 subsample,
as in tabular_variants.py) and prints mean AUROC and mean rank against the seed-0 baselines
for one model, the mean score and the mean rank-normalised score of the M models. A lead for
the tabular default (benchmarks/DEVELOPMENT.md), not part of the benchmark.
"""

from __future__ import annotations

import sys
import time

import numpy as np
from scipy.stats import rankdata
from sklearn.metrics import roc_auc_score
from tabular_variants import baseline_aurocs

from mcod import MCOD
from mcod.bench.protocols import odds_subsample
from mcod.datasets import ODDS_NAMES, load_odds


def main() -> None:
    n_models = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    baselines = baseline_aurocs()
    aurocs: dict[str, list[float]] = {"one model": [], "mean score": [], "mean rank": []}
    ranks: dict[str, list[int]] = {name: [] for name in aurocs}
    start = time.time()
    for name in ODDS_NAMES:
        X, y = load_odds(name)
        keep = odds_subsample(len(X), seed=0)
        X, y = X[keep], y[keep]
        scores = [MCOD(random_state=seed).fit(X).decision_scores_ for seed in range(n_models)]
        combined = {
            "one model": scores[0],
            "mean score": np.mean(scores, axis=0),
            "mean rank": np.mean([rankdata(s) for s in scores], axis=0),
        }
        for variant, score in combined.items():
            aurocs[variant].append(roc_auc_score(y, score))
            better = sum(v > aurocs[variant][-1] for v in baselines.get(name, {}).values())
            ranks[variant].append(1 + better)
    summary = {v: f"AUROC {np.mean(aurocs[v]):.3f}, rank {np.mean(ranks[v]):.2f}" for v in aurocs}
    print(f"{n_models} models:", summary, f"{time.time() - start:.0f}s")


if __name__ == "__main__":
    main()
