"""Development tables outside ODDS: synthetic anomalies among real rows, or real classes.

    python benchmarks/explore/synthetic_tables.py '<json changes>'
        [plain|skewed|classes|natural] [--seeds 2,3] [--agreement]

Why: ODDS is the tabular benchmark, so choosing the `tabular` default with its labels would
be model selection on the test (benchmarks/DEVELOPMENT.md). These tasks are for choosing.
Inliers are the rows of six tables none of which is an ODDS set (sklearn's diabetes and
iris, the first training images of Fashion-MNIST and CIFAR-10 pooled, the latter all of one
class, a Gaussian mixture and a noisy swiss roll), standardised; anomalies (5 % of the
inliers) follow ADBench's four synthetic types (Han et al., 2022): *global* (uniform in
1.1x each column's range), *local* (the inliers' Gaussian mixture with covariances x5),
*clustered* (its means x5) and *dependency* (every column drawn independently from its
marginal). Two generation seeds give 48 tasks; `--seeds` draws fresh anomalies (other
seeds) for confirming a choice on tasks it was not made on.

With a second argument `skewed`, the same tasks for the four tables of at most 10 columns
(32 tasks) pass through exp() (columns skewed like lab values or counts) and every other
column is rounded to 0.5 (discrete). That field was added after seeing that mcod trails
IsolationForest on ODDS sets with few, skewed or discrete columns (no ODDS label was used).

With `classes`, the anomalies are real rows of another class, as in ODDS (whose sets are
classification data with a small class as the outliers): eight classification tables none
of which is an ODDS set (mlbench's Vehicle, Sonar, Vowel and DNA and MASS's crabs, read
through R: `apt-get install r-base-core r-cran-mlbench r-cran-mass`; sklearn's iris; pooled
Fashion-MNIST and CIFAR-10 pixels), raw. For each of up to four classes of a table, the
inliers are the rows of all other classes and the anomalies a random sample of that class,
5 % of the inliers (56 tasks). It was added because the synthetic fields order the ten
baselines unlike ODDS (benchmarks/DEVELOPMENT.md, step 12).

With `natural`, the anomalies are the rows the data's owners recorded as abnormal (spam,
disease, death, a bad loan, ...) in fifteen R data sets none of which is an ODDS set
(`NATURAL`; their R packages are in `R_PACKAGES`): all normal rows plus a sample of the
abnormal ones, 5 % of the normal rows (30 tasks), raw (step 14).

`--agreement` prints only the Spearman correlation between the field's ordering of the ten
baselines and ODDS's (results/odds.jsonl): the first check of whether a choice made on the
field can be expected to carry to ODDS.

The field is the ten ODDS baselines at their benchmark settings, fitted once and cached
beside this script (synthetic_tables[_field][_seeds_...]_baselines.json; delete to refit).
Prints, for the `tabular` config with the given changes, mean AUROC and mean rank in that
field, IsolationForest's rank in the same field, wins/ties/losses against it, and mean
AUROC per anomaly type (per table for `classes` and `natural`).
"""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from odds_seed_ranks import ODDS_RUNS, odds_cells  # beside this script
from scipy.stats import spearmanr
from sklearn.datasets import load_diabetes, load_iris, make_swiss_roll
from sklearn.metrics import roc_auc_score
from sklearn.mixture import GaussianMixture
from sklearn.preprocessing import StandardScaler

from mcod import MCOD, get_config
from mcod.bench.detectors import TABLE_BASELINES, registry
from mcod.bench.report import mean_ranks, wins_ties_losses
from mcod.bench.results import read_results
from mcod.data.datasets import load_dataset

FIELDS = ("plain", "skewed", "classes", "natural")
KINDS = ("global", "local", "clustered", "dependency")
SEEDS = (0, 1)
OUTLIER_SHARE = 0.05
MAX_CLASSES = 4  # classes field: tasks per table and seed, at most
R_PACKAGES = ("r-cran-mlbench", "r-cran-mass", "r-cran-kernlab", "r-cran-survival",
              "r-cran-modeldata", "r-cran-th.data", "r-cran-aer", "r-cran-caret")
# natural field: name -> (R package, data set, label column, its abnormal value, columns
# dropped because they record the outcome)
NATURAL = {
    "spam": ("kernlab", "spam", "type", "spam", ()),
    "wpbc": ("TH.data", "wpbc", "status", "R", ("time",)),  # R: the cancer recurred
    "glaucoma": ("TH.data", "GlaucomaM", "Class", "glaucoma", ()),
    "pbc": ("survival", "pbc", "status", "2", ("id", "time")),  # 2: died
    "flchain": ("survival", "flchain", "death", "1", ("futime", "chapter")),  # chapter: cause
    "lending-club": ("modeldata", "lending_club", "Class", "bad", ()),
    "credit": ("modeldata", "credit_data", "Status", "bad", ()),
    "alzheimer": ("modeldata", "ad_data", "Class", "Impaired", ()),
    "churn": ("modeldata", "mlc_churn", "churn", "yes", ()),
    "mortgage": ("AER", "HMDA", "deny", "yes", ()),
    "credit-card": ("AER", "CreditCard", "card", "no", ()),
    "german-credit": ("caret", "GermanCredit", "Class", "Bad", ()),
    "birthwt": ("MASS", "birthwt", "low", "1", ("bwt",)),  # bwt defines low
    "melanoma": ("MASS", "Melanoma", "status", "1", ("time",)),  # 1: died of melanoma
    "cells": ("modeldata", "cells", "class", "PS", ("case",)),  # PS: poorly segmented
}


def _pooled(name: str, n: int, block: int,
            spread: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """n training images, average-pooled over block x block pixels, in [0, 1], and their
    class labels: the first n, or with `spread` n evenly spaced over the split (CIFAR-10's
    training images are stored class by class)."""
    data = load_dataset(name)
    train = np.flatnonzero(data.split == "train")
    picked = train[np.linspace(0, len(train) - 1, n).round().astype(int)] if spread else train[:n]
    images = data.images[picked].astype(np.float64) / 255.0
    if images.ndim == 3:
        images = images[..., None]
    n_img, h, w, c = images.shape
    pooled = images.reshape(n_img, h // block, block, w // block, block, c).mean(axis=(2, 4))
    return pooled.reshape(n_img, -1), data.labels[picked]


def _r_frame(package: str, name: str) -> pd.DataFrame:
    """A data set shipped with an R package, read via Rscript."""
    script = f"library({package}); data({name}); write.csv({name}, stdout(), row.names=FALSE)"
    try:
        csv = subprocess.run(["Rscript", "-e", script], capture_output=True, text=True,
                             check=True).stdout
    except (OSError, subprocess.CalledProcessError) as err:
        raise SystemExit(f"this field reads R data sets ({package}::{name}): apt-get install "
                         f"r-base-core {' '.join(R_PACKAGES)}") from err
    return pd.read_csv(io.StringIO(csv))


def _r_table(package: str, name: str, label: tuple[str, ...] = ("Class",),
             drop: tuple[str, ...] = ()) -> tuple[np.ndarray, np.ndarray]:
    """(features, class labels) of an R data set; a class is the combination of the `label`
    columns."""
    table = _r_frame(package, name)
    labels = table[list(label)].astype(str).agg("/".join, axis=1).to_numpy()
    return table.drop(columns=[*label, *drop]).to_numpy(np.float64), labels


def _r_abnormal(package: str, name: str, label: str, abnormal: str,
                drop: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    """(features, is-abnormal) of an R data set: two-valued text columns become 0/1, other
    text columns are dropped, and so are rows with a missing value."""
    table = _r_frame(package, name).drop(columns=list(drop))
    is_abnormal = table.pop(label).astype(str) == abnormal
    for column in table.select_dtypes(exclude=["number", "bool"]).columns:
        values = sorted(table[column].dropna().unique())
        if len(values) == 2:
            table[column] = (table[column] == values[1]).where(table[column].notna())
        else:
            table = table.drop(columns=column)
    complete = table.notna().all(axis=1).to_numpy()
    return table[complete].to_numpy(np.float64), is_abnormal[complete].to_numpy()


def _gaussian_mixture(rng: np.random.Generator) -> np.ndarray:
    parts = []
    for _ in range(4):
        mean = rng.normal(0, 3, 8)
        mix = rng.normal(0, 1, (8, 8))
        parts.append(rng.normal(size=(500, 8)) @ mix + mean)
    return np.concatenate(parts)


def _swiss_roll(rng: np.random.Generator) -> np.ndarray:
    roll, _ = make_swiss_roll(1500, noise=0.3, random_state=0)
    return np.hstack([roll, rng.normal(0, 1, (1500, 2))])


def inlier_tables() -> dict[str, np.ndarray]:
    """The six inlier tables, standardised (generation is fixed: seed 0)."""
    rng = np.random.default_rng(0)
    tables = {
        "diabetes": load_diabetes().data,
        "iris": load_iris().data,
        "fashion-7x7": _pooled("fashion-mnist", 3000, 4)[0],
        "cifar-4x4": _pooled("cifar10", 2000, 8)[0],
        "mixture-8d": _gaussian_mixture(rng),
        "swiss-roll-5d": _swiss_roll(rng),
    }
    return {name: StandardScaler().fit_transform(X) for name, X in tables.items()}


def class_tables() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The eight classification tables of the `classes` field: (raw features, labels)."""
    return {
        "vehicle": _r_table("mlbench", "Vehicle"),
        "sonar": _r_table("mlbench", "Sonar"),
        "vowel": _r_table("mlbench", "Vowel", drop=("V1",)),  # V1: the speaker's id
        "dna": _r_table("mlbench", "DNA"),
        "crabs": _r_table("MASS", "crabs", label=("sp", "sex"), drop=("index",)),
        "iris": (load_iris().data, load_iris().target),
        "fashion-7x7": _pooled("fashion-mnist", 3000, 4, spread=True),
        "cifar-4x4": _pooled("cifar10", 2000, 8, spread=True),
    }


def natural_tasks(seeds: Sequence[int]) -> Iterator[tuple[str, np.ndarray, np.ndarray]]:
    """(name, rows, labels) of the `natural` field: the normal rows and a sample of the
    abnormal ones (5 % of the normal rows, or all if fewer)."""
    for table, spec in NATURAL.items():
        X, is_abnormal = _r_abnormal(*spec)
        inliers, abnormal = X[~is_abnormal], X[is_abnormal]
        n_out = min(max(5, round(OUTLIER_SHARE * len(inliers))), len(abnormal))
        for seed in seeds:
            outliers = np.random.default_rng(seed).choice(abnormal, n_out, replace=False)
            rows = np.vstack([inliers, outliers])
            yield f"{table}/{seed}", rows, np.r_[np.zeros(len(inliers)), np.ones(n_out)]


def anomalies(X: np.ndarray, kind: str, n: int, rng: np.random.Generator) -> np.ndarray:
    """n synthetic anomalies of one ADBench kind, generated from the inliers X."""
    d = X.shape[1]
    if kind == "global":
        return rng.uniform(1.1 * X.min(axis=0), 1.1 * X.max(axis=0), (n, d))
    if kind == "dependency":
        return np.stack([rng.choice(X[:, j], n) for j in range(d)], axis=1)
    mixture = GaussianMixture(
        n_components=min(5, len(X) // 30), covariance_type="full", reg_covar=1e-3,
        random_state=int(rng.integers(1 << 31)),
    ).fit(X)
    component = rng.choice(len(mixture.weights_), n, p=mixture.weights_)
    scale_cov, scale_mean = (5.0, 1.0) if kind == "local" else (1.0, 5.0)
    return np.stack([
        rng.multivariate_normal(scale_mean * mixture.means_[k], scale_cov * mixture.covariances_[k])
        for k in component
    ])


def class_tasks(seeds: Sequence[int]) -> Iterator[tuple[str, np.ndarray, np.ndarray]]:
    """(name, rows, labels) of the `classes` field: one class sampled as the anomalies."""
    for table, (X, y) in class_tables().items():
        for c_index, c in enumerate(np.unique(y)[:MAX_CLASSES]):
            inliers = X[y != c]
            for seed in seeds:
                rng = np.random.default_rng(1000 * seed + c_index)
                n_out = min(max(5, round(OUTLIER_SHARE * len(inliers))), int((y == c).sum()))
                outliers = rng.choice(X[y == c], n_out, replace=False)
                rows = np.vstack([inliers, outliers])
                labels = np.r_[np.zeros(len(inliers)), np.ones(n_out)]
                yield f"{table}/class {c}/{seed}", rows, labels


def tasks(field: str, seeds: Sequence[int] = SEEDS) -> Iterator[tuple[str, np.ndarray, np.ndarray]]:
    """(name, rows, labels) for every task of a field; 1 marks an anomaly."""
    if field == "classes":
        yield from class_tasks(seeds)
        return
    if field == "natural":
        yield from natural_tasks(seeds)
        return
    for table, X in inlier_tables().items():
        if field == "skewed" and X.shape[1] > 10:
            continue
        for kind in KINDS:
            for seed in seeds:
                rng = np.random.default_rng(1000 * seed + KINDS.index(kind))
                n_out = max(5, round(OUTLIER_SHARE * len(X)))
                rows = np.vstack([X, anomalies(X, kind, n_out, rng)])
                if field == "skewed":
                    rows = np.exp(rows)
                    rows[:, ::2] = np.round(rows[:, ::2] * 2) / 2
                labels = np.r_[np.zeros(len(X)), np.ones(n_out)]
                yield f"{table}/{kind}/{seed}", rows, labels


def baseline_aurocs(field: str, seeds: Sequence[int] = SEEDS) -> dict[str, dict[str, float]]:
    """AUROC of every baseline on every task, from the cache or fitted now (seed 0)."""
    suffix = "" if field == "plain" else f"_{field}"
    if tuple(seeds) != SEEDS:
        suffix += "_seeds_" + "_".join(map(str, seeds))
    cache = Path(__file__).with_name(f"synthetic_tables{suffix}_baselines.json")
    if cache.exists():
        return json.loads(cache.read_text())
    specs, aurocs = registry(), {}
    for name, X, y in tasks(field, seeds):
        Xs = StandardScaler().fit_transform(X)  # the ODDS protocol's input for baselines
        aurocs[name] = {
            b: round(float(roc_auc_score(y, specs[b].build(0, False).fit(Xs).decision_scores_)), 4)
            for b in TABLE_BASELINES
        }
        print(name, aurocs[name], flush=True)
    cache.write_text(json.dumps(aurocs, indent=1) + "\n")
    return aurocs


def odds_agreement(cells: dict[str, dict[str, float]]) -> float:
    """Spearman correlation between this field's ordering of the ten baselines (mean rank)
    and ODDS's (the recorded runs): how far a choice made here can be expected to carry."""
    baselines = [r for r in read_results(ODDS_RUNS) if r["detector"] in TABLE_BASELINES]
    here, _ = mean_ranks(cells, TABLE_BASELINES)
    there, _ = mean_ranks(odds_cells(baselines), TABLE_BASELINES)
    return float(spearmanr([here[b] for b in TABLE_BASELINES],
                           [there[b] for b in TABLE_BASELINES]).statistic)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("changes", nargs="?", default="{}", help="JSON config changes")
    parser.add_argument("field", nargs="?", default="plain", choices=FIELDS)
    parser.add_argument("--seeds", default=",".join(map(str, SEEDS)),
                        help="generation seeds of the anomalies, e.g. 2,3")
    parser.add_argument("--agreement", action="store_true",
                        help="only print how the field orders the baselines against ODDS")
    args = parser.parse_args()
    changes = json.loads(args.changes)
    field, seeds = args.field, tuple(int(s) for s in args.seeds.split(","))
    config = get_config("tabular").replace(**changes)
    cells, start = baseline_aurocs(field, seeds), time.time()
    if args.agreement:
        ranks, _ = mean_ranks(cells, TABLE_BASELINES)
        print(f"{field}: baseline ordering vs ODDS's, Spearman {odds_agreement(cells):.2f};",
              ", ".join(f"{b} {ranks[b]:.2f}" for b in sorted(TABLE_BASELINES, key=ranks.get)))
        return
    for name, X, y in tasks(field, seeds):
        scores = MCOD(config=config, random_state=0).fit(X).decision_scores_
        cells[name]["mcod"] = roc_auc_score(y, scores)
    ranks, _ = mean_ranks(cells, ["mcod", *TABLE_BASELINES])
    wins, ties, losses = wins_ties_losses(cells, "mcod")
    by_group: dict[str, list[dict[str, float]]] = {}  # anomaly kind, or table
    for name, row in cells.items():
        group = name.split("/")[1 if field in ("plain", "skewed") else 0]
        by_group.setdefault(group, []).append(row)
    print(
        field if seeds == SEEDS else f"{field} seeds {args.seeds}",
        json.dumps(changes),
        f"mean AUROC {np.mean([row['mcod'] for row in cells.values()]):.3f},"
        f" mean rank {ranks['mcod']:.2f} (iforest {ranks['iforest']:.2f}),"
        f" W/T/L vs iforest {wins}/{ties}/{losses};",
        ", ".join(
            f"{group} {np.mean([r['mcod'] for r in rows]):.3f}"
            f" (iforest {np.mean([r['iforest'] for r in rows]):.3f})"
            for group, rows in by_group.items()
        ),
        f"{time.time() - start:.0f}s",
    )


if __name__ == "__main__":
    main()
