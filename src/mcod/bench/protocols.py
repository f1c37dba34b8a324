"""Benchmark tasks: which images a detector is fitted on, which it scores, and their labels.

- ``uod`` (transductive, contaminated): fit on the mix of one inlier class and a rho share of
  other classes, score that same mix (``score_idx is None``; metrics use the fit scores).
- ``oneclass``: fit on the inlier class's train split, score its test split plus other-class
  test images at ratio rho.

- ``odds`` (tabular, transductive): fit on every row of an ODDS set and score those rows; sets
  above ``ODDS_MAX_N`` rows (cover, http, smtp, shuttle) are cut to a uniform random subsample
  of ``ODDS_MAX_N`` rows drawn without replacement with ``default_rng([seed, ODDS_SALT])``
  (labels unused; kept in file order). The rule was fixed before any run.

Labels only ever reach the metrics, never a detector. ``max_n`` (quick mode) subsamples the
fitted and the scored sets deterministically, keeping the outlier ratio.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from mcod.data.datasets import (
    n_outliers,  # the splits' own count, one home
    oneclass_split,
    uod_split,
)

PROTOCOLS = ("uod", "oneclass", "odds")
ODDS_MAX_N = 20_000  # rows per ODDS task at most (uniform subsample above it)
ODDS_SALT = 20_000_011  # mixed into the subsample's seed, so it differs from other draws


@dataclass(frozen=True, eq=False)
class Task:
    protocol: str
    dataset: str
    inlier_class: int | None  # None for odds
    rho: float | None  # None for odds (the set's own outlier share)
    seed: int
    fit_idx: np.ndarray  # indices into the dataset
    score_idx: np.ndarray | None  # None: score the fitted set (uod)
    y: np.ndarray  # 1 = outlier, aligned with score_idx (or fit_idx for uod)
    max_n: int | None = None

    @property
    def n_scored(self) -> int:
        return len(self.y)

    @property
    def n_out(self) -> int:
        return int(self.y.sum())

    @property
    def label(self) -> str:
        """One line naming the task, for progress logs."""
        if self.protocol == "odds":
            return f"{self.dataset} odds n={self.n_scored} seed={self.seed}"
        return (f"{self.dataset} {self.protocol} c={self.inlier_class} rho={self.rho:g} "
                f"seed={self.seed}")

    def key_fields(self) -> dict[str, object]:
        return {
            "protocol": self.protocol,
            "dataset": self.dataset,
            "class": self.inlier_class,
            "rho": self.rho,
            "seed": self.seed,
            "max_n": self.max_n,
        }


def _subsample(
    idx: np.ndarray, y: np.ndarray, max_n: int, rho: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """At most ~max_n of (idx, y), outlier ratio kept, original (shuffled) order kept."""
    if len(idx) <= max_n:
        return idx, y
    n_in = min(int((y == 0).sum()), max(1, math.ceil(max_n * (1.0 - rho))))
    n_out = min(int(y.sum()), n_outliers(n_in, rho))
    keep_in = rng.choice(np.flatnonzero(y == 0), size=n_in, replace=False)
    keep_out = rng.choice(np.flatnonzero(y == 1), size=n_out, replace=False)
    keep = np.sort(np.concatenate([keep_in, keep_out]))
    return idx[keep], y[keep]


def build_tasks(
    protocol: str,
    dataset_name: str,
    labels: np.ndarray,
    split: np.ndarray | None,
    classes: Iterable[int],
    rhos: Iterable[float],
    seeds: Iterable[int],
    max_n: int | None = None,
) -> list[Task]:
    """One task per (class, rho, seed), in that nesting order (seed innermost)."""
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r}; choose one of {PROTOCOLS}")
    labels = np.asarray(labels)
    tasks = []
    for c in classes:
        for rho in rhos:
            for seed in seeds:
                rng = np.random.default_rng([int(seed), int(c), 1_000_003])
                if protocol == "uod":
                    idx, y = uod_split(labels, int(c), float(rho), int(seed))
                    if max_n:
                        idx, y = _subsample(idx, y, max_n, float(rho), rng)
                    task = Task(protocol, dataset_name, int(c), float(rho), int(seed),
                                idx, None, y, max_n)
                else:
                    if split is None:
                        raise ValueError(f"{dataset_name}: the one-class protocol needs a split")
                    train_idx, test_idx, y = oneclass_split(
                        labels, split, int(c), float(rho), int(seed)
                    )
                    if max_n:
                        if len(train_idx) > max_n:
                            train_idx = np.sort(rng.choice(train_idx, size=max_n, replace=False))
                        test_idx, y = _subsample(test_idx, y, max_n, float(rho), rng)
                    task = Task(protocol, dataset_name, int(c), float(rho), int(seed),
                                train_idx, test_idx, y, max_n)
                tasks.append(task)
    return tasks


def odds_subsample(n: int, seed: int, max_n: int | None = ODDS_MAX_N) -> np.ndarray:
    """Row indices of an ODDS task: all ``n`` rows, or ``max_n`` of them drawn uniformly
    without replacement (seeded by ``seed``; no labels involved), in file order."""
    if not max_n or n <= max_n:
        return np.arange(n, dtype=np.int64)
    rng = np.random.default_rng([int(seed), ODDS_SALT])
    return np.sort(rng.choice(n, size=int(max_n), replace=False)).astype(np.int64)


def build_odds_tasks(
    dataset_name: str, y: np.ndarray, seeds: Iterable[int], max_n: int | None = ODDS_MAX_N
) -> list[Task]:
    """One unsupervised task per seed: fit on the (subsampled) rows and score them."""
    y = np.asarray(y).ravel().astype(np.int64)
    tasks = []
    for seed in seeds:
        idx = odds_subsample(len(y), int(seed), max_n)
        capped = max_n if max_n and len(y) > max_n else None
        tasks.append(Task("odds", dataset_name, None, None, int(seed), idx, None, y[idx], capped))
    return tasks
