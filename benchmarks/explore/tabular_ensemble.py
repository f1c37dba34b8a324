"""Probe: do several seeded tabular MCOD models help on ODDS?

    python benchmarks/explore/tabular_ensemble.py 5

Fits the `tabular` default with seeds 0..M-1 on each of the 25 ODDS sets (seed-0 subsample,
as in tabular_variants.py) and scores the rows with each model's shipped score. Prints mean
AUROC, mean rank against the seed-0 baselines, IsolationForest's mean rank in that same
field, and wins/ties/losses against it, for one model, the mean score of the M models, and
the mean of their median-scaled scores. A lead for the tabular default
(benchmarks/DEVELOPMENT.md), not part of the benchmark. Before step 9 of the tables the
script also scored each model by its distance times the feature norm; that is now the
default's own score (`score_by_norm`), and each model is itself five networks (`members`).
"""

from __future__ import annotations

import sys
import time

import numpy as np
from sklearn.metrics import roc_auc_score
from tabular_variants import baseline_aurocs

from mcod import MCOD
from mcod.bench.protocols import odds_subsample
from mcod.data.datasets import ODDS_NAMES, load_odds

TIE = 0.005


def main() -> None:
    n_models = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    baselines = baseline_aurocs()
    rows: dict[str, list[tuple[float, int, int, float]]] = {}
    start = time.time()
    for name in ODDS_NAMES:
        X, y = load_odds(name)
        keep = odds_subsample(len(X), seed=0)
        X, y = X[keep], y[keep]
        runs = [MCOD(random_state=seed).fit(X).decision_scores_ for seed in range(n_models)]
        field = baselines.get(name, {})
        iforest = field["iforest"]
        combined = {
            "one model": runs[0],
            "mean score": np.mean(runs, axis=0),
            "mean median-scaled": np.mean([r / np.median(r) for r in runs], axis=0),
        }
        for how, values in combined.items():
            auroc = roc_auc_score(y, values)
            rank = 1 + sum(v > auroc for v in field.values())
            iforest_rank = 1 + sum(v > iforest for v in [*field.values(), auroc])
            rows.setdefault(how, []).append((auroc, rank, iforest_rank, auroc - iforest))
    print(f"{n_models} models, {time.time() - start:.0f}s")
    for variant, values in rows.items():
        a = np.array(values)
        wtl = f"{(a[:, 3] > TIE).sum()}/{(abs(a[:, 3]) <= TIE).sum()}/{(a[:, 3] < -TIE).sum()}"
        print(
            f"  {variant:34s} AUROC {a[:, 0].mean():.3f} rank {a[:, 1].mean():.2f}"
            f"  iforest rank {a[:, 2].mean():.2f}  W/T/L vs iforest {wtl}"
        )


if __name__ == "__main__":
    main()
