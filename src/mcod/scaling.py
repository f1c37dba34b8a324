"""Yeo-Johnson per table column: skewed columns made roughly symmetric, both tails kept.

A network on standardised but skewed columns (lab values, counts, durations) sees most
rows squeezed together and a long tail of normal rows; tree detectors do not care, as
they are blind to monotone transforms. This module gives the encoder columns closer to
symmetric, as a monotone map that keeps extreme values extreme.
"""

from __future__ import annotations

import warnings

import numpy as np

LAMBDA_RANGE = (0.0, 2.0)


def fit_lambdas(z: np.ndarray) -> np.ndarray:
    """Per-column Yeo-Johnson lambdas of standardised columns z, clipped to [0, 2].

    Maximum likelihood (scikit-learn's PowerTransformer), then clipped: inside [0, 2] the
    transform is unbounded both ways, so an outlying value stays outlying; outside it one
    tail saturates, and near-constant columns drive the estimate to +-100.
    """
    from sklearn.preprocessing import PowerTransformer

    with warnings.catch_warnings():  # constant columns: any lambda fits, and 0 maps to 0
        warnings.simplefilter("ignore", RuntimeWarning)
        lambdas = PowerTransformer(method="yeo-johnson", standardize=False).fit(z).lambdas_
    return np.clip(lambdas, *LAMBDA_RANGE)


def yeo_johnson(z: np.ndarray, lambdas: np.ndarray) -> np.ndarray:
    """Each column of z through scipy's Yeo-Johnson transform with its lambda."""
    from scipy.stats import yeojohnson

    columns = [yeojohnson(z[:, j], lmbda=float(lam)) for j, lam in enumerate(lambdas)]
    return np.stack(columns, axis=1)
