"""Local terms of the novelty score: the fit rows' own geometry beside the whitened reference.

When the fit rows are clean (`MCOD(novelty=True)`), each of them is a trustworthy
neighbour, and two terms on the encoder's unit features follow what the reference's single
whitened centre flattens: the distance to the nearest fit row (a class of several looks),
and LOF (Breunig et al. 2000; scikit-learn's ``LocalOutlierFactor(novelty=True)``) on the
mid-level block where the encoder has one (`mcod.nn.encoders.mid_start`: strokes and
layout, where LOF separates digits best). Each term, the reference's distance too, is
standardised by its own training values (leave-self-out, cross-fitted), and the score is
``z(reference) + z(nearest) + LOF_WEIGHT * z(LOF)``. One-class development tasks (3 sets x
10 classes, seed 7): +0.009 AUROC on MNIST, +0.004 on Fashion-MNIST, +0.007 on CIFAR-10
over the reference alone (benchmarks/DEVELOPMENT.md, "Novelty, step 2").

Rows are kept in the model (at most `MAX_ROWS`, evenly spaced over the fit rows): 41 MB for
a class of 6,000 at 1,728 features (twice that in float64, with ``image_float64``).
Distances are computed in float64 as all scoring is. Tables (a custom config with a
reference) compare standardised rows: their columns' units must not decide who is near.
"""

from __future__ import annotations

import torch
from torch import nn

NEIGHBOURS = 10  # LOF's k (at most the kept rows less one)
LOF_WEIGHT = 0.5  # LOF-10 alone trails on Fashion-MNIST and CIFAR-10; at half weight it helps all
MAX_ROWS = 10_000  # rows kept: bounds the model's size and scoring time as the fit data grow
_BLOCK = 1024  # query rows per distance block at fit: memory stays (_BLOCK, MAX_ROWS)
_LRD_EPS = 1e-10  # as scikit-learn: duplicates give a finite reachability density
# a squared distance below this share of the two squared norms is the float64 expansion's
# cancellation noise (~D * 1e-16): the rows are the same, as scikit-learn finds them
_SAME = 1e-12


def rows_kept(n: int) -> int:
    """How many of ``n`` fit rows the local terms keep."""
    return min(n, MAX_ROWS)


class LocalTerms(nn.Module):
    """The nearest-row and LOF terms over ``n_rows`` kept fit rows of ``dim`` features, LOF
    on the columns from ``lof_start`` on. Buffers only, all zero until `fit`.

    Rows are compared in units ``scale`` sets at fit: the encoder's own (the sd that
    standardised each column, undone: cosine geometry), or the standardised ones of a
    table (ones). A row and its kept copy are made alike, bit for bit, so duplicates lie
    at distance 0: both rounded to float32, or with ``float64`` (`MCODConfig.image_float64`:
    float64 rows, scored so throughout) both kept in float64."""

    rows: torch.Tensor  # (M, D) kept fit rows in the units compared: float32 (float64)
    scale: torch.Tensor  # (D,) what turns a standardised row into those units
    k_distance: torch.Tensor  # (M,) each kept row's distance to its k-th other kept row (LOF)
    density: torch.Tensor  # (M,) each kept row's local reachability density (LOF)
    standard: torch.Tensor  # (3, 2) mean and spread of the training values of the three terms
    squares: torch.Tensor  # (2, M) derived, not saved: the kept rows' squared norms (all
    # columns, LOF's), so that an exported graph holds no float64 copy of the rows

    def __init__(self, n_rows: int, dim: int, lof_start: int = 0, float64: bool = False) -> None:
        super().__init__()
        if n_rows < 2 or not 0 <= lof_start < dim:
            raise ValueError(f"local terms need at least 2 kept rows and lof_start in "
                             f"[0, {dim}), got {n_rows} and {lof_start}")
        self.lof_start = lof_start
        self.rows_dtype = torch.float64 if float64 else torch.float32
        self.register_buffer("rows", torch.zeros(n_rows, dim, dtype=self.rows_dtype))
        self.register_buffer("scale", torch.zeros(dim))
        self.register_buffer("k_distance", torch.zeros(n_rows, dtype=torch.float64))
        self.register_buffer("density", torch.zeros(n_rows, dtype=torch.float64))
        self.register_buffer("standard", torch.zeros(3, 2, dtype=torch.float64))
        self.register_buffer("squares", torch.zeros(2, n_rows, dtype=torch.float64),
                             persistent=False)
        self.register_load_state_dict_post_hook(lambda module, _: module._derive())

    @property
    def k(self) -> int:
        return min(NEIGHBOURS, len(self.rows) - 1)

    @torch.no_grad()
    def fit(self, rows: torch.Tensor, reference: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
        """Keep the rows (standardised ones; ``scale``: see the class), learn the terms'
        training scales; return the training scores, each row's terms computed without
        itself (``reference``: its cross-fitted distances)."""
        n, m, device = len(rows), len(self.rows), self.rows.device
        if not 2 <= m <= n:
            raise ValueError(f"{m} rows to keep of {n}")
        kept = torch.arange(m) * (n - 1) // (m - 1)  # evenly spaced; all rows where m == n
        self.scale.copy_(scale)
        self.rows.copy_(self._units(rows[kept].to(device)))  # of rows_dtype's values: exact
        self._derive()
        stored, own = self.rows.double(), torch.arange(m)
        blocks = [_neighbours(stored[i:i + _BLOCK, self.lof_start:], stored[:, self.lof_start:],
                              self.squares[1], self.k, own[i:i + _BLOCK])
                  for i in range(0, m, _BLOCK)]
        # every kept row's k-distance is needed before any density
        self.k_distance.copy_(torch.cat([d[:, -1] for d, _ in blocks]))
        self.density.copy_(torch.cat([self._reach_density(d, i) for d, i in blocks]))
        itself = torch.full((n,), -1, dtype=torch.long)
        itself[kept] = own  # each row's place among the kept rows, or -1
        local = torch.cat([self._terms(self._units(rows[i:i + _BLOCK].to(device)), stored,
                                       itself[i:i + _BLOCK]).cpu() for i in range(0, n, _BLOCK)],
                          dim=1)
        terms = torch.cat([reference.double().cpu()[None], local])
        spread = terms.std(dim=1).nan_to_num(0)
        # a term that does not vary over the fit rows is taken in its own units
        spread = torch.where(spread > 0, spread, torch.ones_like(spread))
        self.standard.copy_(torch.stack([terms.mean(dim=1), spread], dim=1))
        return self._joined(terms.to(device)).cpu()

    @torch.no_grad()
    def forward(self, x: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
        """Scores of standardised rows ``x`` whose reference distances are ``reference``."""
        local = self._terms(self._units(x), self.rows.double())
        return self._joined(torch.cat([reference.double()[None], local]))

    def check(self) -> None:
        """Refuse (ValueError) fitted values no fit gives: a saved model's, once loaded."""
        for name, ok, expected in (
                ("k_distance", bool((self.k_distance >= 0).all()), "at least 0"),
                ("density", bool((self.density > 0).all()), "positive"),
                ("standard", bool((self.standard[:, 1] > 0).all()), "a positive spread")):
            if not ok:
                raise ValueError(f"state_dict['local.{name}'] must be {expected}")

    def _units(self, x: torch.Tensor) -> torch.Tensor:
        """Standardised rows in the units compared, rounded as the kept rows are."""
        return (x.to(self.rows_dtype) * self.scale.to(self.rows_dtype)).double()

    def _derive(self) -> None:
        stored = self.rows.double()
        self.squares.copy_(torch.stack([stored.square().sum(1),
                                        stored[:, self.lof_start:].square().sum(1)]))

    def _terms(self, rows: torch.Tensor, stored: torch.Tensor,
               exclude: torch.Tensor | None = None) -> torch.Tensor:
        """(2, N): the rows' distance to the nearest kept row, and their LOF against the
        kept rows (``stored``, in float64): the mean density of their k nearest kept rows
        over their own (scikit-learn's ``-score_samples``). Where LOF reads every column,
        its nearest neighbour is the nearest row: one search."""
        d, idx = _neighbours(rows[:, self.lof_start:], stored[:, self.lof_start:],
                             self.squares[1], self.k, exclude)
        near = d[:, 0] if self.lof_start == 0 else \
            _neighbours(rows, stored, self.squares[0], 1, exclude)[0][:, 0]
        return torch.stack([near, self.density[idx].mean(dim=1) / self._reach_density(d, idx)])

    def _reach_density(self, d: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        reach = torch.maximum(d, self.k_distance[idx])
        return 1 / (reach.mean(dim=1) + _LRD_EPS)

    def _joined(self, terms: torch.Tensor) -> torch.Tensor:
        """(3, N) terms -> the score: each standardised, LOF at LOF_WEIGHT."""
        mean, spread = self.standard[:, :1], self.standard[:, 1:]
        z = (terms - mean.to(terms.device)) / spread.to(terms.device)
        return z[0] + z[1] + LOF_WEIGHT * z[2]


def _neighbours(queries: torch.Tensor, rows: torch.Tensor, squares: torch.Tensor, k: int,
                exclude: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(distances, indices) of each query's k nearest rows, nearest first, in float64
    (``squares``: the rows' squared norms); ``exclude``: per query the index of a row it
    may not take (itself), or -1."""
    query_squares = queries.square().sum(1, keepdim=True)
    squared = query_squares + squares - 2 * queries @ rows.T
    squared = torch.where(squared <= _SAME * (query_squares + squares),
                          torch.zeros_like(squared), squared)
    if exclude is not None:
        own = exclude.to(queries.device)
        mine = torch.nonzero(own >= 0).flatten()
        squared[mine, own[mine]] = torch.inf
    d, idx = squared.topk(k, dim=1, largest=False)
    return d.sqrt(), idx
