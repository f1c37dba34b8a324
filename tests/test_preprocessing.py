"""The fitted preprocessors (mcod.data.preprocessing): fit / check / transform, against
values computed by hand, and their state saved and read back, or refused field by field."""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import pytest
import torch

import mcod.data.preprocessing as prep
from mcod import MCOD, get_config
from mcod.data.inputs import DataWarning, InputError
from mcod.data.preprocessing import (
    Z_LIMIT,
    EncodedPreprocessor,
    ImagePreprocessor,
    TablePreprocessor,
    preprocessor_for,
    preprocessor_from_state,
    standardisation,
)

TABLE = get_config("tabular")
IMAGES = get_config("scratch").replace(image_size=8)


def _encode(arr: np.ndarray, pixel_range: tuple[float, float]) -> tuple[np.ndarray, str]:
    """A stand-in encoder: each image's mean per channel, and a fixed digest."""
    low, high = pixel_range
    return ((arr.astype(np.float64) - low) / (high - low)).mean(axis=(2, 3)), "digest"


# ------------------------------------------------------------------ tables

def test_tables_are_standardised_in_float64_and_constant_columns_keep_scale_one():
    table = np.array([[1.0, 5.0, 10.0], [2.0, 5.0, 30.0], [6.0, 5.0, 20.0]])
    tables = TablePreprocessor()
    z = tables.fit_transform(table)
    # by hand: means 3, 5, 20; population sds sqrt(14/3), 1 (constant), sqrt(200/3)
    expected = np.array([[-2.0, 0.0, -10.0], [-1.0, 0.0, 10.0], [3.0, 0.0, 0.0]])
    expected /= np.array([math.sqrt(14 / 3), 1.0, math.sqrt(200 / 3)])
    assert z.dtype == torch.float32
    np.testing.assert_allclose(z.numpy(), expected, rtol=1e-6)
    assert tables.scale_mean_.tolist() == [3.0, 5.0, 20.0]
    assert tables.scale_std_[1].item() == 1.0 and tables.n_features_in_ == 3
    moved = tables.check([[3.0, 5.001, 20.0]])  # a small change in a column that never changed
    assert tables.transform(moved)[0, 1].item() == pytest.approx(0.001, rel=1e-3)
    shifted = table + np.array([1e8, 0.0, 1.7e9])  # timestamps: float32 would keep ~2 values
    np.testing.assert_allclose(TablePreprocessor().fit_transform(shifted).numpy(), expected,
                               rtol=1e-5, atol=1e-5)


def test_a_tiny_spread_is_kept_where_standardscaler_sees_a_constant():
    rng = np.random.default_rng(0)
    spread = rng.normal(0, 2000, 300).round()
    table = np.c_[1.7e18 + spread, 2.0**62 + 100 * spread, 1e-300 * spread, np.full(300, 3.0)]
    mean, std = standardisation(table)
    # nanosecond timestamps with a 2 µs spread: sd ~1850 ns, not "constant, scale 1"
    expected = np.std(table[:, 0] - np.median(table[:, 0]))
    assert std[0] == pytest.approx(expected, rel=1e-9) and 1000 < std[0] < 3000
    assert std[1] == pytest.approx(np.std(table[:, 1] - np.median(table[:, 1])), rel=1e-9)
    assert std[2] == pytest.approx(1e-300 * spread.std(), rel=1e-6)
    assert std[3] == 1.0 and mean[3] == 3.0  # truly constant: scale 1
    huge = np.c_[rng.normal(size=(20, 2)), np.full(20, 1e200)]
    mean, std = standardisation(huge)  # constant, however large: no weight, no overflow
    assert mean[2] == 1e200 and std[2] == 1.0


def test_new_rows_are_clipped_and_their_columns_checked():
    tables = TablePreprocessor().fit(np.array([[0.0, 1.0], [2.0, 3.0]]))  # means 1, 2; sds 1
    z = tables.transform(tables.check([[1e300, 2.0], [-1e300, 4.0]]))
    assert z.tolist() == [[Z_LIMIT, 0.0], [-Z_LIMIT, 2.0]]
    assert tables.z_scores(np.array([[1e300, 2.0]]))[0, 0] == 1e300  # reports: not clipped
    with pytest.raises(InputError, match="X has 3 features, the model was fitted on 2"):
        tables.check(np.zeros((1, 3)))
    with pytest.raises(InputError, match="every row is the same"):
        TablePreprocessor().fit(np.ones((4, 2)))


def test_yeo_johnson_rows_are_standardised_again():
    X = np.exp(np.random.default_rng(2).normal(size=(64, 3)))
    X[:, 2] = 4.0  # a constant column is harmless
    tables = TablePreprocessor(yeo_johnson=True)
    z = tables.fit_transform(X)
    assert tables.power_lambdas_.shape == (3,) and bool(z.isfinite().all())
    np.testing.assert_allclose(z[:, :2].mean(0).numpy(), 0.0, atol=1e-5)
    np.testing.assert_allclose(z[:, :2].numpy().std(0), 1.0, atol=1e-4)
    assert not hasattr(TablePreprocessor().fit(X), "power_lambdas_")


# ------------------------------------------------------------------ images

def test_images_are_scaled_by_the_training_range_and_resized():
    images = np.zeros((2, 1, 4, 4))
    images[1] = 200.0
    images[0, 0, 0, 0] = 100.0
    processor = ImagePreprocessor(image_size=4, input_size=4)
    out = processor.fit_transform(images)
    assert processor.pixel_range_ == (0.0, 255.0) and processor.n_channels_ == 1
    assert processor.image_size_in_ == (4, 4)
    np.testing.assert_allclose(out[:, 0, 0, 0].numpy(), [100 / 255, 200 / 255], rtol=1e-6)
    small = ImagePreprocessor(image_size=2, input_size=2).fit(images)
    assert small.transform(small.check(images)).shape == (2, 1, 2, 2)


def test_images_are_prepared_in_chunks_with_the_same_result(monkeypatch):
    images = np.random.default_rng(4).integers(0, 256, size=(9, 12, 10, 3), dtype=np.uint8)
    processor = ImagePreprocessor(image_size=8, input_size=8).fit(images)
    whole = processor.transform(processor.check(images))
    monkeypatch.setattr(prep, "IMAGE_CHUNK_BYTES", 2 * 4 * 12 * 10 * 3)  # 2 per chunk
    np.testing.assert_array_equal(processor.transform(processor.check(images)), whole)
    assert whole.shape == (9, 3, 8, 8)


def test_new_images_are_checked_against_the_training_images():
    images = np.random.default_rng(0).integers(0, 256, size=(4, 8, 8), dtype=np.uint8)
    processor = ImagePreprocessor(image_size=8, input_size=8).fit(images)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        processor.check(images[:2])  # as fitted: no warning
    with pytest.warns(DataWarning, match="but the model was fitted on"):
        processor.check(images / 255.0)
    with pytest.warns(DataWarning, match="they are resized to"):
        processor.check(np.full((1, 16, 16), 100, dtype=np.uint8))
    with pytest.raises(InputError, match="images have 3 channels, the model was fitted on 1"):
        processor.check(np.zeros((1, 8, 8, 3), dtype=np.uint8))


def test_encoded_images_are_scaled_as_a_tables_rows():
    images = np.random.default_rng(1).integers(0, 256, size=(6, 3, 5, 5), dtype=np.uint8)
    encoded = EncodedPreprocessor(input_size=5)
    z = encoded.fit_transform(images, _encode)
    rows = _encode(images, (0.0, 255.0))[0]
    expected = (rows - rows.mean(axis=0)) / rows.std(axis=0)
    np.testing.assert_allclose(z.numpy(), expected, rtol=1e-5, atol=1e-6)
    assert encoded.encoder_digest_ == "digest" and encoded.n_features_in_ == 3
    assert encoded.pixel_range_ == (0.0, 255.0) and encoded.n_channels_ == 3
    np.testing.assert_array_equal(encoded.transform(encoded.check(images), _encode), z)
    with pytest.raises(AttributeError, match="power_lambdas_"):
        _ = encoded.power_lambdas_


# ------------------------------------------------------------------ state

def _fitted(kind: str) -> tuple[Any, Any, tuple[int, ...], np.ndarray]:
    """(preprocessor, config, network input shape, data) of one kind, fitted."""
    rng = np.random.default_rng(3)
    if kind == "table":
        config = TABLE.replace(table_yeo_johnson=True)
        data = np.exp(rng.normal(size=(30, 4)))
        return preprocessor_for("table", config).fit(data), config, (4,), data
    data = rng.integers(0, 256, size=(5, 3, 6, 6), dtype=np.uint8)
    if kind == "encoded":
        config = get_config("default")
        processor = preprocessor_for("image", config)
        processor.fit_transform(data, _encode)
        return processor, config, (3,), data
    processor = preprocessor_for("image", IMAGES)
    processor.fit(data)
    return processor, IMAGES, (3, 8, 8), data


def _transformed(processor: Any, data: np.ndarray) -> torch.Tensor:
    if isinstance(processor, EncodedPreprocessor):
        return processor.transform(processor.check(data), _encode)
    return processor.transform(processor.check(data))


@pytest.mark.parametrize("kind", ["table", "image", "encoded"])
def test_state_round_trip_transforms_as_the_fit(kind):
    processor, config, shape, data = _fitted(kind)
    state = {**dict.fromkeys(prep.STATE_FIELDS), **processor.state()}
    assert all(not isinstance(v, np.ndarray) for v in state.values())  # tensors, plain values
    again = preprocessor_from_state(state, "table" if kind == "table" else "image", config, shape)
    assert type(again) is type(processor)
    torch.testing.assert_close(_transformed(again, data), _transformed(processor, data),
                               rtol=0, atol=0)
    assert again.state().keys() == processor.state().keys()


BAD_STATES = {
    "table": [
        ({"n_features_in": 5}, "n_features_in must be 4 (input_shape's)"),
        ({"scale_std": torch.zeros(4, dtype=torch.float64)}, "scale_std must be positive"),
        ({"scale_mean": [0.0] * 4}, "scale_mean must be a torch.float64 tensor of shape [4]"),
        ({"power_mean": torch.full((4,), math.nan, dtype=torch.float64)},
         "power_mean must be finite"),
        ({"pixel_range": [0.0, 1.0]}, "pixel_range must be None in a table model"),
    ],
    "image": [
        ({"n_channels": 1}, "n_channels must be 3 (input_shape's)"),
        ({"pixel_range": [1.0, 1.0]}, "pixel_range must be [low, high]"),
        ({"image_size_in": [6]}, "image_size_in must be None or [height, width]"),
        ({"scale_mean": torch.zeros(8, dtype=torch.float64)},
         "scale_mean must be None in an image model"),
    ],
    "encoded": [
        ({"encoder_digest": None}, "encoder_digest must be the encoder's weight digest"),
        ({"n_channels": 5}, "n_channels must be 1 to 4"),
        ({"power_lambdas": torch.ones(3, dtype=torch.float64)},
         "power_lambdas must be None without table_yeo_johnson"),
    ],
}


@pytest.mark.parametrize(("kind", "case"), [(k, i) for k, cases in BAD_STATES.items()
                                            for i in range(len(cases))])
def test_a_bad_state_is_refused_naming_the_field(kind, case):
    processor, config, shape, _ = _fitted(kind)
    change, message = BAD_STATES[kind][case]
    state = {**dict.fromkeys(prep.STATE_FIELDS), **processor.state(), **change}
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("(", r"\(")
                       .replace(")", r"\)")):
        preprocessor_from_state(state, "table" if kind == "table" else "image", config, shape)


def test_the_detector_reads_its_preprocessors_fit():
    X = np.random.default_rng(0).normal(size=(30, 3))
    detector = MCOD(epochs=1, batch_size=10, device="cpu", random_state=0).fit(X)
    assert isinstance(detector.preprocessor_, TablePreprocessor)
    assert detector.scale_mean_ is detector.preprocessor_.scale_mean_
    assert not hasattr(detector, "pixel_range_") and not hasattr(MCOD(), "scale_mean_")
