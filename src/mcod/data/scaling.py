"""Yeo-Johnson per table column: skewed columns made roughly symmetric, both tails kept.

A network on standardised but skewed columns (lab values, counts, durations) sees most
rows squeezed together and a long tail of normal rows; tree detectors do not care, as
they are blind to monotone transforms. This module gives the encoder columns closer to
symmetric, as a monotone map that keeps extreme values extreme.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import brentq
from scipy.stats import yeojohnson

LAMBDA_RANGE = (0.0, 2.0)
OCTILES = (0.125, 0.5, 0.875)


def octile_skewness(q: np.ndarray) -> float:
    """Skewness of a column from its (1/8, 1/2, 7/8) quantiles: 0 when they are symmetric."""
    low, mid, high = q
    return float(((high - mid) - (mid - low)) / (high - low))


def lambda_from_octiles(q: np.ndarray) -> float:
    """The lambda in [0, 2] whose transform makes these octiles symmetric.

    Yeo-Johnson is monotone, so the octiles of the transformed column are the transformed
    octiles, and their skewness rises with lambda: one root, or the nearer end of the
    range. Columns with a tied median (binary, mostly constant) keep lambda 1.
    """
    low, mid, high = q
    if not low < mid < high:
        return 1.0

    def skew(lam: float) -> float:
        return octile_skewness(yeojohnson(q, lmbda=lam))

    lo_end, hi_end = LAMBDA_RANGE
    if skew(lo_end) >= 0:
        return lo_end
    if skew(hi_end) <= 0:
        return hi_end
    return float(brentq(skew, lo_end, hi_end, xtol=1e-4))


def fit_lambdas(z: np.ndarray) -> np.ndarray:
    """Per-column Yeo-Johnson lambdas of standardised columns z, in [0, 2].

    Each lambda makes the column's octiles symmetric. Unlike maximum likelihood, this
    ignores the outer eighth of each tail, so the outliers being looked for (often the
    cause of a column's skew) do not choose a transform that pulls them in. Inside [0, 2]
    the transform is unbounded both ways, so an outlying value stays outlying.
    """
    quantiles = np.quantile(z, OCTILES, axis=0).T
    return np.array([lambda_from_octiles(q) for q in quantiles])


def yeo_johnson(z: np.ndarray, lambdas: np.ndarray) -> np.ndarray:
    """Each column of z through scipy's Yeo-Johnson transform with its lambda."""
    columns = [yeojohnson(z[:, j], lmbda=float(lam)) for j, lam in enumerate(lambdas)]
    return np.stack(columns, axis=1)
