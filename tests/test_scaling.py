"""Yeo-Johnson for table columns: the transform and the octile lambda by hand, the lambda
range, robustness to a tail of outliers, extremes kept."""

from __future__ import annotations

import numpy as np
import pytest

from mcod import MCOD, get_config
from mcod.data.scaling import fit_lambdas, lambda_from_octiles, octile_skewness, yeo_johnson


def test_transform_matches_the_formula_by_hand():
    z = np.array([[-1.0, -1.0, 2.0], [0.0, 0.0, 0.0], [3.0, 3.0, -2.0]])
    out = yeo_johnson(z, np.array([1.0, 0.0, 2.0]))
    np.testing.assert_allclose(out[:, 0], z[:, 0])  # lambda 1: the identity
    # lambda 0: log(1 + x) for x >= 0, -((1 - x)^2 - 1) / 2 for x < 0
    np.testing.assert_allclose(out[:, 1], [-1.5, 0.0, np.log(4.0)])
    # lambda 2: ((1 + x)^2 - 1) / 2 for x >= 0, -log(1 - x) for x < 0
    np.testing.assert_allclose(out[:, 2], [4.0, 0.0, -np.log(3.0)])


def test_octile_skewness_by_hand():
    assert octile_skewness(np.array([0.0, 1.0, 2.0])) == 0.0
    assert octile_skewness(np.array([0.0, 1.0, 5.0])) == pytest.approx((4 - 1) / 5)
    assert octile_skewness(np.array([-5.0, -1.0, 0.0])) == pytest.approx(-(4 - 1) / 5)


@pytest.mark.parametrize(
    ("octiles", "expected"),
    [
        ([0.0, 1.0, 2.0], 1.0),  # symmetric: the identity
        ([0.0, 1.0, 3.0], 0.0),  # log(1 + x) maps them to 0, log 2, log 4: symmetric
        ([-3.0, -1.0, 0.0], 2.0),  # -log(1 - x) maps them to -log 4, -log 2, 0
        ([0.0, 1.0, 8.0], 0.0),  # still right-skewed after log: the range's end
        ([0.0, 0.0, 1.0], 1.0),  # a tied median (binary column): left alone
    ],
)
def test_lambda_makes_the_octiles_symmetric(octiles: list[float], expected: float):
    assert lambda_from_octiles(np.array(octiles)) == pytest.approx(expected, abs=1e-3)


def test_a_tail_of_outliers_does_not_choose_the_transform():
    """Five percent of rows far out on one side: the inliers' symmetric bulk decides."""
    rng = np.random.default_rng(3)
    column = np.r_[rng.normal(size=1900), 8.0 + rng.normal(size=100)]
    assert fit_lambdas(column[:, None])[0] > 0.85  # maximum likelihood gives 0.35 here


def test_lambdas_are_clipped_to_the_range_where_both_tails_stay_unbounded():
    rng = np.random.default_rng(0)
    skewed = np.exp(2 * rng.normal(size=500))  # still right-skewed at lambda 0
    z = (skewed - skewed.mean()) / skewed.std()
    mirrored = -z
    lambdas = fit_lambdas(np.stack([z, mirrored, rng.normal(size=500)], axis=1))
    assert lambdas[0] == 0.0 and lambdas[1] == 2.0
    assert 0.5 < lambdas[2] < 1.5  # a symmetric column is left nearly as it is


def test_extreme_rows_stay_the_most_extreme_after_the_transform():
    rng = np.random.default_rng(1)
    z = np.exp(rng.normal(size=(300, 2)))
    z[7] = [80.0, 90.0]
    z = (z - z.mean(axis=0)) / z.std(axis=0)
    out = yeo_johnson(z, fit_lambdas(z))
    assert (out.argmax(axis=0) == 7).all()
    assert np.isfinite(out).all()


@pytest.mark.parametrize("on", [False, True])
def test_detector_transforms_tables_only_when_configured(on: bool):
    X = np.exp(np.random.default_rng(2).normal(size=(64, 3)))
    X[:, 2] = 4.0  # a constant column is harmless
    config = get_config("tabular").replace(members=1, table_yeo_johnson=on)
    detector = MCOD(config=config, epochs=1, random_state=0).fit(X)
    assert hasattr(detector, "power_lambdas_") == on
    prepared = detector.preprocessor_.transform(detector.preprocessor_.check(X))
    assert prepared.dtype.is_floating_point and bool(prepared.isfinite().all())
    if on:  # standardised again after the transform
        np.testing.assert_allclose(prepared[:, :2].mean(0).numpy(), 0.0, atol=1e-5)
        np.testing.assert_allclose(prepared[:, :2].numpy().std(0), 1.0, atol=1e-4)
