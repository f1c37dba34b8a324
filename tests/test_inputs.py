"""Tests for mcod.data.inputs: layouts, scaling, error messages, image folders."""

from __future__ import annotations

import numpy as np
import pytest

from mcod.data.inputs import InputError, as_image_batch, as_table

RNG = np.random.default_rng(0)


def _u8(*shape: int) -> np.ndarray:
    return RNG.integers(0, 256, size=shape, dtype=np.uint8)


# --------------------------------------------------------------------------- layouts


@pytest.mark.parametrize(
    ("shape", "expected"),
    [
        ((5, 8, 9), (5, 1, 8, 9)),  # (N, H, W)
        ((5, 8, 9, 1), (5, 1, 8, 9)),  # channels-last grey
        ((5, 8, 9, 3), (5, 3, 8, 9)),  # channels-last RGB
        ((5, 8, 9, 4), (5, 3, 8, 9)),  # channels-last RGBA, alpha dropped
        ((5, 1, 8, 9), (5, 1, 8, 9)),  # channels-first grey
        ((5, 3, 8, 9), (5, 3, 8, 9)),  # channels-first RGB
        ((5, 3, 32, 3), (5, 3, 32, 3)),  # ambiguous: axis 1 of 3 wins (channels-first)
    ],
)
def test_layouts(shape, expected):
    out = as_image_batch(_u8(*shape))
    assert out.shape == expected
    assert out.dtype == np.float32
    assert out.flags.c_contiguous
    assert out.min() >= 0.0 and out.max() <= 1.0


def test_channels_last_values_are_moved_not_scrambled():
    x = _u8(2, 4, 5, 3)
    out = as_image_batch(x)
    np.testing.assert_allclose(out[1, 2], x[1, :, :, 2] / 255.0, rtol=1e-6)


def test_alpha_is_dropped():
    x = _u8(2, 4, 4, 4)
    out = as_image_batch(x)
    np.testing.assert_allclose(out.transpose(0, 2, 3, 1), x[..., :3] / 255.0, rtol=1e-6)


def test_uint8_divided_by_255():
    x = np.array([[[0, 255], [51, 102]]] * 2, dtype=np.uint8)
    out = as_image_batch(x)
    np.testing.assert_allclose(out[0, 0], [[0, 1], [0.2, 0.4]], rtol=1e-6)


def test_float_in_unit_range_kept():
    x = RNG.random((3, 4, 4)).astype(np.float64)
    np.testing.assert_allclose(as_image_batch(x)[:, 0], x, rtol=1e-6)


def test_float_0_255_divided():
    x = np.full((2, 3, 3), 200.0)
    x[0, 0, 0] = 0.0
    out = as_image_batch(x)
    assert out.max() == pytest.approx(200 / 255)
    assert out.min() == 0.0


def test_int_0_255_divided():
    x = np.full((2, 3, 3), 255, dtype=np.int64)
    assert as_image_batch(x).max() == pytest.approx(1.0)


def test_other_range_min_max_scaled_globally():
    x = np.stack([np.full((3, 3), -2.0), np.full((3, 3), 6.0)])  # e.g. standardised data
    out = as_image_batch(x)
    assert out[0].max() == 0.0 and out[1].min() == 1.0  # global, not per-sample, scaling
    x16 = np.array([[[0, 1000]], [[500, 65535]]], dtype=np.uint16)
    out16 = as_image_batch(x16)
    assert out16.min() == 0.0 and out16.max() == 1.0


def test_constant_out_of_range_is_zero_not_nan():
    out = as_image_batch(np.full((2, 3, 3), -5.0))
    assert np.all(out == 0.0)


def test_bool_and_lists_accepted():
    out = as_image_batch(np.eye(4, dtype=bool)[None].repeat(2, 0))
    assert out.dtype == np.float32 and out.max() == 1.0
    assert as_image_batch([[[0, 1]], [[1, 0]]]).shape == (2, 1, 1, 2)


# --------------------------------------------------------------------------- image errors


@pytest.mark.parametrize(
    ("x", "word"),
    [
        (np.zeros((0, 8, 8), np.uint8), "empty"),
        (np.zeros((1, 8, 8), np.uint8), "at least 2 samples"),
        (np.zeros((1, 8, 8, 3), np.uint8), "at least 2 samples"),
        (np.zeros((8, 8), np.uint8), "(8, 8)"),
        (np.zeros((2, 8, 8, 3, 1), np.uint8), "5-D"),
        (np.zeros((4, 5, 6, 7), np.uint8), "channel axis"),
        (np.array([["a", "b"], ["c", "d"]] * 2).reshape(2, 2, 2), "non-numeric"),
        (np.zeros((2, 2, 2), dtype=complex), "non-numeric"),
        ([[[1, 2]], [[3]]], "cannot convert"),
    ],
)
def test_image_errors(x, word):
    with pytest.raises(InputError) as info:
        as_image_batch(x)
    msg = str(info.value)
    assert word in msg
    assert "\n" not in msg


def test_nan_and_inf_counted():
    x = np.zeros((3, 4, 4), np.float32)
    x[0, 0, 0] = np.nan
    x[1, 1, 1] = np.nan
    x[2, 2, 2] = np.inf
    with pytest.raises(InputError, match=r"3 non-finite values \(2 NaN, 1 inf\)"):
        as_image_batch(x)


def test_input_error_is_value_error():
    assert issubclass(InputError, ValueError)


# --------------------------------------------------------------------------- tables


def test_table_ok():
    x = np.arange(12).reshape(4, 3)
    out = as_table(x)
    assert out.dtype == np.float64 and out.shape == (4, 3)
    np.testing.assert_array_equal(out, x)  # not rescaled


@pytest.mark.parametrize(
    ("x", "word"),
    [
        (np.zeros((0, 3)), "empty"),
        (np.zeros((1, 3)), "at least 2 samples"),
        (np.zeros((5, 0)), "zero columns"),
        (np.zeros(5), "2-D"),
        (np.zeros((2, 3, 4)), "2-D"),
        (np.array([[1.0, np.inf], [0.0, np.nan]]), "non-finite"),
        (np.array([["a", "b"], ["c", "d"]]), "non-numeric"),
    ],
)
def test_table_errors(x, word):
    with pytest.raises(InputError) as info:
        as_table(x)
    assert word in str(info.value)


# --------------------------------------------------------------------------- precision, range


def test_uint64_near_2_64_names_the_precision_and_column_not_identical_rows():
    top = np.iinfo(np.uint64).max
    x = np.array([[top, 1], [top - 1, 2], [top - 2, 3]], dtype=np.uint64)
    with pytest.raises(InputError, match=r"column\(s\) \[0\] vary only beyond float64's "
                       r"precision: integers above 2\*\*53 \(these reach 1\.84e\+19\)"):
        as_table(x)


def test_large_integers_that_stay_distinct_in_float64_are_accepted():
    x = np.array([[2**62, 1], [2**62 + 2**20, 2]], dtype=np.int64)  # nanosecond-like stamps
    np.testing.assert_array_equal(as_table(x)[:, 0], [2.0**62, 2.0**62 + 2**20])


def test_int64_extremes_do_not_overflow_the_check():
    x = np.array([[np.iinfo(np.int64).min], [np.iinfo(np.int64).max]], dtype=np.int64)
    assert as_table(x).shape == (2, 1)


def test_images_that_collapse_in_float64_are_refused():
    x = np.iinfo(np.uint64).max - np.arange(4 * 8 * 8, dtype=np.uint64).reshape(4, 8, 8) % 3
    with pytest.raises(InputError, match="^values vary only beyond float64's precision"):
        as_image_batch(x)


def test_float64_images_beyond_float32_range_are_refused_naming_it():
    x = np.ones((4, 8, 8))
    x[2, 3, 3] = -1e300
    with pytest.raises(InputError, match=r"image values reach magnitude 1e\+300, beyond "
                       r"float32's range \(±3\.4e\+38\)"):
        as_image_batch(x)


def test_long_double_tables_beyond_float64_range_are_refused():
    x = np.ones((3, 2), dtype=np.longdouble)
    x[0, 0] = np.longdouble("1e400")
    if not np.isfinite(x[0, 0]):  # long double is float64 on this platform
        pytest.skip("no long double wider than float64 here")
    with pytest.raises(InputError, match="beyond float64's range"):
        as_table(x)


@pytest.mark.parametrize(
    ("x", "expected"),
    [
        (np.array([-3e38, 0.0, 3e38], np.float32), [0.0, 0.5, 1.0]),  # span > float32 max
        (np.array([-1e-300, 0.0, 1e-300]), [0.0, 0.5, 1.0]),  # span < float32's tiniest
        (2**30 + np.arange(3, dtype=np.int64) * 64, [0.0, 0.5, 1.0]),  # 1e9 + small steps
    ],
    ids=["huge-span", "tiny-span", "wide-int"],
)
def test_scaling_keeps_spans_float32_cannot(x, expected):
    out = as_image_batch(x.reshape(3, 1, 1))
    assert out.dtype == np.float32
    np.testing.assert_allclose(out.ravel(), expected, atol=1e-6)


def test_a_constant_image_past_2_53_scales_to_finite_values():
    arr = np.full((2, 1, 1), 2**53, dtype=np.int64)  # one value, where 1.0 is below float64's step
    out = as_image_batch(arr)
    assert np.isfinite(out).all() and ((out >= 0) & (out <= 1)).all()
