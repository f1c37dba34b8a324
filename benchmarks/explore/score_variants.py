"""Score one trained default model several ways on a few UOD tasks; print AUROC of each.

    python benchmarks/explore/score_variants.py '{"ds": "fashion-mnist", "classes": [0, 5]}'

Variants besides mcod's score (`memory`): the negative log-likelihood of the features under
a mixture with one component per memory item, exp(cos(f, m_j) / t), weighted uniformly
(`nll_uniform`) or by each item's usage (`nll_soft`: mean attention; `nll_hard`: share of
top attention). The usage weights test whether down-weighting rarely used items (which
hold mostly outliers, benchmarks/DEVELOPMENT.md) helps. UOD rho = 0.1, seed 0; a probe
for development, not part of the benchmark.
"""

from __future__ import annotations

import json
import sys

import numpy as np
from scipy.special import logsumexp
from sklearn.metrics import roc_auc_score

from mcod import MCOD, get_config
from mcod.data.datasets import load_dataset, uod_split


def mixture_scores(features: np.ndarray, attention: np.ndarray, items: np.ndarray) -> dict:
    cosine = features @ items.T
    usage = {
        "uniform": np.full(items.shape[0], 1.0 / items.shape[0]),
        "soft": attention.mean(axis=0),
        "hard": np.bincount(attention.argmax(axis=1), minlength=items.shape[0]) / len(attention),
    }
    return {
        f"nll_{name}_t{t}": -logsumexp(np.log(weights + 1e-6) + cosine / t, axis=1)
        for t in (0.05, 0.1, 0.2)
        for name, weights in usage.items()
    }


def main() -> None:
    options = json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}
    dataset = load_dataset(options.pop("ds", "fashion-mnist"))
    classes = options.pop("classes", [0, 5])
    config = get_config("default").replace(**options)
    results: dict[str, list[float]] = {}
    for inlier_class in classes:
        index, is_outlier = uod_split(dataset.labels, inlier_class, 0.1, seed=0)
        images = dataset.images[index]
        detector = MCOD(config=config, random_state=0).fit(images)
        features, attention = detector.embed(images)
        scores = {"memory": detector.decision_scores_}
        scores |= mixture_scores(features, attention, detector.memory_items_)
        for name, values in scores.items():
            results.setdefault(name, []).append(roc_auc_score(is_outlier, values))
        print(inlier_class, {k: round(v[-1], 3) for k, v in results.items()}, flush=True)
    print(sys.argv[1:], {k: round(float(np.mean(v)), 3) for k, v in results.items()})


if __name__ == "__main__":
    main()
