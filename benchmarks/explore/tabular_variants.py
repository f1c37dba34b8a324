"""Try a tabular configuration variant on all 25 ODDS sets (seed 0); print AUROC and rank.

    python benchmarks/explore/tabular_variants.py '{"read_weight": 10}'

The rank of each set is against the seed-0 baselines in benchmarks/results/odds.jsonl.
Sets above 20,000 rows are subsampled as in the benchmark. This is the probe used while
developing the tabular default (benchmarks/DEVELOPMENT.md); the benchmark proper is
`mcod bench run --config benchmarks/configs/part6_odds.toml`.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

from mcod import MCOD, get_config
from mcod.bench.protocols import odds_subsample
from mcod.data.datasets import ODDS_NAMES, load_odds

RESULTS = Path(__file__).resolve().parents[1] / "results" / "odds.jsonl"


def baseline_aurocs() -> dict[str, dict[str, float]]:
    table: dict[str, dict[str, float]] = {}
    for line in RESULTS.read_text().splitlines():
        run = json.loads(line)
        if run["seed"] == 0 and not run["detector"].startswith("mcod"):
            table.setdefault(run["dataset"], {})[run["detector"]] = run["auroc"]
    return table


def main() -> None:
    changes = json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}
    config = get_config("tabular").replace(**changes)
    baselines = baseline_aurocs()
    aurocs, ranks, start = [], [], time.time()
    for name in ODDS_NAMES:
        X, y = load_odds(name)
        keep = odds_subsample(len(X), seed=0)
        X, y = X[keep], y[keep]
        scores = MCOD(config=config, random_state=0).fit(X).decision_scores_
        aurocs.append(roc_auc_score(y, scores))
        ranks.append(1 + sum(v > aurocs[-1] for v in baselines.get(name, {}).values()))
    print(
        json.dumps(changes),
        f"mean AUROC {np.mean(aurocs):.3f}, mean rank {np.mean(ranks):.2f}",
        [round(a, 2) for a in aurocs],
        f"{time.time() - start:.0f}s",
    )


if __name__ == "__main__":
    main()
