"""MCOD keeps PyOD's / scikit-learn's detector contract (tiny data, one epoch, CPU)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from tiny import TINY

from mcod import MCOD, get_config
from mcod.data.inputs import DataWarning, InputError

PARAMS = dict(contamination=0.1, config=TINY, epochs=1, batch_size=12, device="cpu", random_state=0)


def _images(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random(shape).astype(np.float32)


X = _images((24, 8, 8))


@pytest.fixture(scope="module")
def fitted() -> MCOD:
    return MCOD(**PARAMS).fit(X)


def test_get_params_returns_constructor_arguments():
    detector = MCOD(**PARAMS, verbose=True)
    assert detector.get_params() == {**PARAMS, "verbose": True, "feature_cache": "auto",
                                     "novelty": False}


def test_clone_keeps_parameters():
    detector = MCOD(contamination=0.05, config="release", epochs=3, random_state=7)
    copy = clone(detector)
    assert copy is not detector
    assert copy.get_params() == detector.get_params()


def test_fit_returns_self():
    detector = MCOD(**PARAMS)
    assert detector.fit(X) is detector


def test_fitted_attributes(fitted):
    n = len(X)
    assert fitted.decision_scores_.shape == (n,)
    assert np.all(np.isfinite(fitted.decision_scores_))
    assert set(np.unique(fitted.labels_)) <= {0, 1}
    assert abs(fitted.labels_.mean() - PARAMS["contamination"]) <= 1 / n + 1e-9
    np.testing.assert_array_equal(fitted.labels_, fitted.decision_scores_ > fitted.threshold_)
    assert fitted.input_kind_ == "image"
    assert len(fitted.history_) == 1


def test_predict_and_predict_proba(fitted):
    new = _images((7, 8, 8), seed=3)
    labels = fitted.predict(new)
    assert labels.shape == (7,)
    assert set(np.unique(labels)) <= {0, 1}
    proba = fitted.predict_proba(new)
    assert proba.shape == (7, 2)
    assert np.all((proba >= 0) & (proba <= 1))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_array_equal(fitted.predict_proba(new.tolist()), proba)  # a list of rows too
    with pytest.raises(ValueError, match="not a valid probability"):  # PyOD checks it still
        fitted.predict_proba(new, method="neither")


def test_decision_function_matches_training_scores(fitted):
    np.testing.assert_allclose(fitted.decision_function(X), fitted.decision_scores_, atol=1e-6)


def test_decision_function_single_sample(fitted):
    # Scoring one new sample must work (fitting on one sample need not).
    one = fitted.decision_function(X[:1])
    assert one.shape == (1,)
    np.testing.assert_allclose(one, fitted.decision_scores_[:1], rtol=1e-5, atol=1e-6)


def test_decision_function_before_fit_raises():
    with pytest.raises(NotFittedError):
        MCOD().decision_function(X)


@pytest.mark.parametrize("contamination", [0.0, -0.1, 0.51, 0.7, 1.0])
def test_contamination_out_of_range_raises(contamination):
    with pytest.raises(ValueError, match="contamination"):
        MCOD(**{**PARAMS, "contamination": contamination}).fit(X)


def test_y_is_ignored(fitted):
    y = np.r_[np.zeros(20, int), np.ones(4, int)]
    with_y = MCOD(**PARAMS).fit(X, y)
    np.testing.assert_array_equal(with_y.decision_scores_, fitted.decision_scores_)


def test_same_seed_gives_identical_scores(fitted):
    again = MCOD(**PARAMS).fit(X)
    np.testing.assert_array_equal(again.decision_scores_, fitted.decision_scores_)


@pytest.mark.parametrize(
    "shape",
    [(12, 8, 8), (12, 8, 8, 1), (12, 1, 8, 8), (12, 8, 8, 3), (12, 3, 8, 8)],
    ids=["NHW", "NHW1", "N1HW", "NHW3", "N3HW"],
)
def test_image_layouts(shape):
    data = _images(shape)
    detector = MCOD(**{**PARAMS, "batch_size": 6}).fit(data)
    assert detector.decision_scores_.shape == (12,)
    assert detector.n_channels_ == (3 if 3 in shape[1:] else 1)
    assert detector.decision_function(data[:4]).shape == (4,)


def _with(value: float) -> np.ndarray:
    bad = X.copy()
    bad[3, 2, 2] = value
    return bad


@pytest.mark.parametrize(
    "data",
    [
        _with(np.nan),
        _with(np.inf),
        np.arange(10, dtype=np.float32),
        np.empty((0, 8, 8), np.float32),
        X[:1],
    ],
    ids=["nan", "inf", "1-D", "empty", "single-sample"],
)
def test_bad_inputs_raise_input_error(data):
    with pytest.raises(InputError):
        MCOD(**PARAMS).fit(data)


def test_wrong_channel_count_at_scoring_raises(fitted):
    with pytest.raises(InputError, match="channels"):
        fitted.decision_function(_images((4, 8, 8, 3)))


def test_the_other_kind_of_data_at_scoring_is_named(fitted):
    with pytest.raises(InputError, match=r"fitted on images, but X is a 2-D array .* \(tables\)"):
        fitted.decision_function(np.zeros((4, 3)))
    table_model = MCOD(epochs=1, device="cpu").fit(np.random.default_rng(0).normal(size=(20, 3)))
    with pytest.raises(InputError, match="fitted on tables, but X is a 3-D array"):
        table_model.decision_function(_images((4, 8, 8)))


def test_new_images_are_scaled_with_the_training_range():
    # standardised-looking float images: min-max scaled over the training set; a new
    # batch with other extremes must not be rescaled by its own min and max
    rng = np.random.default_rng(0)
    train = rng.normal(size=(40, 8, 8)).astype(np.float32)
    detector = MCOD(**PARAMS).fit(train)
    lo, hi = detector.pixel_range_
    assert (lo, hi) == (float(train.min()), float(train.max()))
    one = train[:1]
    dimmed = np.concatenate([one, np.full_like(one, lo)])  # new extremes: lo .. max(one)
    np.testing.assert_allclose(
        detector.decision_function(dimmed)[0], detector.decision_function(one)[0], rtol=1e-5
    )


# --------------------------------------------------------------------------- data frames


def _table_frame(n: int = 40, seed: int = 0):
    import pandas as pd

    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "x": rng.normal(size=n),
        "count": pd.array(rng.integers(0, 5, n), dtype="Int64"),  # nullable integers
        "flag": rng.random(n) < 0.5,
    })


def test_data_frame_columns_are_matched_by_name():
    frame = _table_frame()
    detector = MCOD(epochs=1, random_state=0, device="cpu").fit(frame)
    assert detector.feature_names_in_ == ["x", "count", "flag"]
    reordered = frame[["flag", "x", "count"]]
    np.testing.assert_array_equal(detector.decision_function(reordered),
                                  detector.decision_function(frame))
    with pytest.raises(InputError, match=r"missing \['flag'\], unexpected \['other'\]"):
        detector.decision_function(frame.rename(columns={"flag": "other"}))
    with pytest.raises(InputError, match=r"non-numeric column\(s\) \['word'\]"):
        MCOD(epochs=1).fit(frame.assign(word="a"))
    twice = frame.iloc[:, [0, 1, 2, 0]]  # "x" twice
    with pytest.raises(InputError, match=r"repeated column name\(s\) \['x'\]"):
        MCOD(epochs=1).fit(twice)
    refit = MCOD(epochs=1, random_state=0, device="cpu").fit(frame.to_numpy(dtype=float))
    assert refit.feature_names_in_ is None  # an array carries no names


def test_names_given_at_only_one_of_fit_and_scoring_warn_and_go_by_position():
    frame = _table_frame()
    named = MCOD(epochs=1, random_state=0, device="cpu").fit(frame)
    values = frame.to_numpy(dtype=float)
    with pytest.warns(UserWarning, match="X has no column names, but the model was fitted with"):
        scores = named.decision_function(values)
    np.testing.assert_array_equal(scores, named.decision_function(frame))
    unnamed = MCOD(epochs=1, random_state=0, device="cpu").fit(values)
    renamed = frame.set_axis(["a", "a", "b"], axis=1)  # repeated names: a model without names
    with pytest.warns(UserWarning, match="X has column names, but the model was fitted without"):
        scores = unnamed.decision_function(renamed)  # ... takes them by position
    np.testing.assert_array_equal(scores, unnamed.decision_function(values))
    import warnings

    frame_of = type(frame)  # pandas.DataFrame
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # integer names are no names, as in scikit-learn:
        by_position = MCOD(epochs=1, random_state=0, device="cpu").fit(frame_of(values))
        assert by_position.feature_names_in_ is None
        by_position.decision_function(values)
        unnamed.decision_function(frame_of(values))
        with pytest.raises(InputError, match="must be array-like"):  # an error, no warning
            named.decision_function(row for row in values)


def test_a_refused_refit_leaves_the_model_usable():
    table = np.random.default_rng(1).normal(size=(30, 3))
    detector = MCOD(epochs=1, random_state=0, device="cpu").fit(table)
    before = detector.decision_function(table)
    bad_images = X.copy()
    bad_images[0, 0, 0] = np.nan
    with pytest.raises(InputError, match="non-finite"):
        detector.fit(bad_images)
    assert detector.input_kind_ == "table"
    np.testing.assert_array_equal(detector.decision_function(table), before)
    for bad_setting, match in (({"device": "cuda:99"}, "device"),
                               ({"random_state": np.random.RandomState(0)}, "random_state")):
        detector.set_params(**bad_setting)  # refused before the data replace anything
        with pytest.raises(ValueError, match=match):
            detector.fit(table[:, :2] * 100 + 50)
        detector.set_params(device="cpu", random_state=0)
        assert detector.n_features_in_ == 3
        np.testing.assert_array_equal(detector.decision_function(table), before)
    broken = get_config("tabular").replace(lr=float("nan"))  # fails inside training
    detector.set_params(config=broken)
    with pytest.raises(ValueError, match="learning rate"):
        detector.fit(table[:, :2] * 100 + 50)
    detector.set_params(config=get_config("tabular").replace(lr=1e30))  # NaN scores
    with pytest.raises(ValueError, match="training diverged"):
        detector.fit(table[:, :2] * 100 + 50)
    detector.set_params(config="default")
    assert detector.n_features_in_ == 3 and detector.config_.lr == get_config("tabular").lr
    np.testing.assert_array_equal(detector.decision_function(table), before)


def test_a_new_row_far_beyond_float32_scores_finite_and_highest():
    table = np.random.default_rng(0).normal(size=(40, 3))
    detector = MCOD(epochs=1, random_state=0, device="cpu").fit(table)
    new = np.vstack([table[:5], [[1e30, 0.0, 0.0]], [[-3e38, 0.0, 0.0]]])
    scores = detector.decision_function(new)
    assert np.isfinite(scores).all() and scores[5:].min() > scores[:5].max()
    assert detector.predict(new)[5:].tolist() == [1, 1]
    assert np.isfinite(detector.predict_proba(new)).all()


def test_a_customised_image_config_is_refused_on_tables():
    custom = get_config("default").replace(n_memory=3)
    with pytest.raises(InputError, match="this customised 'default' config is for images; "
                       "for tables customise get_config\\('tabular'\\)"):
        MCOD(config=custom, epochs=1).fit(np.random.default_rng(0).normal(size=(20, 3)))


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: np.zeros(10), "1-D array.*reshape"),
        (lambda: [[1.0, 2.0], [3.0]], "cannot convert input"),
        (lambda: np.random.default_rng(0).normal(size=(100, 2)) * 1e160, "too large to stand"),
        (lambda: np.full((20, 3), 7.0), "every row is the same"),
        (lambda: __import__("scipy.sparse").sparse.csr_matrix(np.eye(5)), "sparse input.*toarray"),
        (lambda: (row for row in np.eye(5)), "must be array-like.*got a generator"),
        (lambda: {"a": [1.0, 2.0]}, "must be array-like.*got a dict"),
    ],
)
@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
def test_unusable_arrays_are_named(make, match):
    with pytest.raises(InputError, match=match):
        MCOD(epochs=1, device="cpu").fit(make())


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"batch_size": 1}, "batch_size must be an integer of at least 2"),
        ({"batch_size": 0}, "batch_size must be"),
        ({"epochs": 1.5}, "epochs must be an integer of at least 1"),
        ({"epochs": 0}, "epochs must be"),
        ({"epochs": float("nan")}, "epochs must be"),
        ({"batch_size": float("inf")}, "batch_size must be"),
        ({"epochs": True}, "epochs must be"),
        ({"random_state": 2**32}, r"random_state must be an integer seed in 0\.\.2\*\*32 - 1"),
        ({"random_state": -1}, "random_state must be"),
        ({"random_state": True}, "random_state must be"),
    ],
)
def test_training_sizes_and_seeds_are_checked(params, match):
    with pytest.raises(ValueError, match=match):
        MCOD(device="cpu", **params).fit(X)


def test_numpy_float32_contamination_is_named_as_the_problem():
    with pytest.raises(ValueError, match="must be a Python float.*float32"):
        MCOD(**{**PARAMS, "contamination": np.float32(0.25)}).fit(X)


def test_a_seeded_fit_leaves_the_global_torch_random_state_alone():
    import torch

    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    first = MCOD(**PARAMS).fit(X).decision_scores_
    assert torch.equal(torch.rand(3), expected)
    np.testing.assert_array_equal(MCOD(**PARAMS).fit(X).decision_scores_, first)  # repeatable


def test_images_on_another_scale_than_training_warn():
    images = (np.random.default_rng(3).random((24, 8, 8)) * 255).astype(np.uint8)
    detector = MCOD(**PARAMS).fit(images)
    with pytest.warns(UserWarning, match=r"span 0\.\.0\.99.*fitted on 0\.\.255"):
        detector.decision_function(images / 255.0)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        detector.decision_function(images[:5])  # the same scale: no warning
        detector.decision_function(np.zeros((1, 8, 8), np.uint8))  # an all-black frame
        detector.decision_function(images[:2] % 3)  # dark 8-bit frames: the same scale


def test_images_of_another_size_than_training_warn():
    images = (np.random.default_rng(3).random((24, 8, 8)) * 255).astype(np.uint8)
    detector = MCOD(**PARAMS).fit(images)
    assert detector.image_size_in_ == (8, 8)
    larger = (np.random.default_rng(4).random((3, 12, 10)) * 255).astype(np.uint8)  # 12 rows
    with pytest.warns(UserWarning, match=r"images are 10x12, the model was fitted on 8x8") as got:
        detector.decision_function(larger)
    assert got[0].filename == __file__  # the user's line, not mcod's
    with pytest.warns(DataWarning, match=r"images are 10x12") as got:
        detector.predict(larger)  # through PyOD's predict too
    assert got[0].filename == __file__
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        detector.decision_function(images[:5])  # the training size: no warning


def test_a_refit_on_the_other_kind_of_data_keeps_nothing_of_the_first_fit():
    detector = MCOD(**{**PARAMS, "config": "default"})
    detector.fit(np.random.default_rng(0).normal(size=(30, 4)))  # 'default' means tabular here
    assert detector.n_features_in_ == 4
    detector.set_params(config=TINY).fit(X)  # images, learnt from the pixels
    assert not hasattr(detector, "n_features_in_") and not hasattr(detector, "scale_mean_")
    detector.set_params(config="default").fit(np.random.default_rng(1).normal(size=(30, 3)))
    assert not hasattr(detector, "pixel_range_") and not hasattr(detector, "image_size_in_")


def test_a_cuda_device_this_machine_lacks_is_named(monkeypatch):
    import torch

    from mcod.detector import resolve_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)  # as on a one-GPU machine
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert resolve_device("cuda:0") == torch.device("cuda:0")
    with pytest.raises(ValueError, match=r"'cuda:7' asked for, but this machine has 1 CUDA"):
        resolve_device("cuda:7")
