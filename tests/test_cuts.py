"""Label-free cuts: a PyThresh thresholder as MCOD's contamination, as in PyOD, turned into
one stored threshold that predict, a saved model and the command line apply."""

from __future__ import annotations

import numpy as np
import pytest
from pythresh.thresholds.iqr import IQR
from pythresh.thresholds.mad import MAD
from sklearn.base import clone
from tiny import TINY

import mcod
from mcod import MCOD
from mcod.cuts import (
    DEFAULT_METHOD,
    METHODS,
    describe_cut,
    is_thresholder,
    rebuild_thresholder,
    saved_thresholder,
    thresholder,
    thresholder_cut,
)

# 30 small scores and 3 far above them: every sensible cut flags exactly the 3
SCORES = np.r_[np.linspace(0.0, 1.0, 30), [9.0, 9.5, 10.0]]


def _images(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).random((n, 8, 8)).astype(np.float32)


@pytest.fixture(scope="module")
def fitted() -> MCOD:
    return MCOD(contamination=IQR(), config=TINY, epochs=1, batch_size=12, device="cpu",
                random_state=0).fit(_images(40, 0))


class FlagEvery:
    """A thresholder that labels every other sample, whatever its score."""

    def eval(self, scores: np.ndarray) -> np.ndarray:
        return np.arange(len(scores)) % 2


def test_a_cut_follows_the_thresholders_labels_in_score_units():
    threshold, labels = thresholder_cut(IQR(), SCORES)
    np.testing.assert_array_equal(labels, IQR().eval(SCORES))
    assert labels.sum() == 3
    assert threshold == 1.0  # the highest score left unflagged
    np.testing.assert_array_equal(labels, threshold < SCORES)


def test_labels_that_are_not_a_cut_flag_as_many_of_the_highest_scores():
    threshold, labels = thresholder_cut(FlagEvery(), SCORES)
    assert labels.sum() == 16
    np.testing.assert_array_equal(np.flatnonzero(labels), np.arange(17, 33))
    assert threshold == SCORES[16]


def test_a_thresholder_flagging_all_keeps_a_finite_threshold_below_every_score():
    class FlagAll:
        def eval(self, scores):
            return np.ones(len(scores), int)

    threshold, labels = thresholder_cut(FlagAll(), SCORES)
    assert labels.all() and np.isfinite(threshold) and threshold < SCORES.min()


def test_bad_labels_are_refused():
    class Broken:
        def eval(self, scores):
            return np.full(len(scores), 2)

    with pytest.raises(ValueError, match="no 0/1 label"):
        thresholder_cut(Broken(), SCORES)


def test_the_thresholder_given_is_not_fitted_by_the_cut():
    cutter = IQR()
    thresholder_cut(cutter, SCORES)
    assert cutter.labels_ is None and cutter.thresh_ is None


def test_methods_by_name_and_auto():
    assert type(thresholder("auto")).__name__ == DEFAULT_METHOD.upper()
    for name in METHODS:
        assert is_thresholder(thresholder(name))
    with pytest.raises(ValueError, match="unknown threshold method 'otsu'; choose auto or one "
                                         "of mixmod"):
        thresholder("otsu")


def test_shares_and_text_are_not_thresholders():
    assert not any(map(is_thresholder, [0.1, 1, "auto", None, np.float32(0.1)]))
    assert is_thresholder(IQR()) and is_thresholder(FlagEvery())
    assert describe_cut(0.05) == "contamination 0.05"
    assert describe_cut(IQR()) == "threshold method IQR"


def test_a_saved_thresholder_is_rebuilt_with_its_settings():
    saved = saved_thresholder(MAD(factor=2))
    assert saved == {"pythresh": "MAD", "params": {"factor": 2, "random_state": 1234}}
    rebuilt = rebuild_thresholder(saved)
    assert type(rebuilt) is MAD and rebuilt.factor == 2
    with pytest.raises(ValueError, match="PyThresh thresholders only"):
        saved_thresholder(FlagEvery())


def test_mcod_takes_a_thresholder_as_contamination(fitted):
    scores = fitted.decision_scores_
    expected_threshold, expected = thresholder_cut(IQR(), scores)
    np.testing.assert_array_equal(fitted.labels_, expected)
    assert fitted.threshold_ == expected_threshold
    np.testing.assert_array_equal(fitted.labels_, scores > fitted.threshold_)
    X = _images(40, 0)
    np.testing.assert_array_equal(fitted.predict(X), fitted.labels_)
    labels, confidence = fitted.predict(X, return_confidence=True)
    assert confidence.shape == (40,) and ((confidence >= 0) & (confidence <= 1)).all()
    assert fitted.predict_proba(X).shape == (40, 2)
    assert fitted.get_params()["contamination"].labels_ is None  # left as given


def test_clone_keeps_the_thresholder_settings():
    detector = MCOD(contamination=MAD(factor=3), config=TINY)
    assert clone(detector).get_params()["contamination"].factor == 3


def test_a_saved_model_keeps_its_cut_and_its_method(fitted, tmp_path):
    path = fitted.save(tmp_path / "m.pt")
    loaded = mcod.load(path)
    assert loaded.threshold_ == fitted.threshold_
    np.testing.assert_array_equal(loaded.labels_, fitted.labels_)
    assert type(loaded.contamination) is IQR
    new = _images(15, 3)
    np.testing.assert_array_equal(loaded.predict(new), fitted.predict(new))
    np.testing.assert_array_equal(loaded.predict(new),
                                  fitted.decision_function(new) > fitted.threshold_)


def test_another_thresholder_object_fits_but_cannot_be_saved(tmp_path):
    detector = MCOD(contamination=FlagEvery(), config=TINY, epochs=1, batch_size=12,
                    device="cpu", random_state=0).fit(_images(20, 1))
    assert detector.labels_.sum() == 10
    with pytest.raises(ValueError, match="FlagEvery object"):
        detector.save(tmp_path / "m.pt")


# --------------------------------------------------------------------------- command line

FAST = ["--epochs", "1", "--batch-size", "20", "--device", "cpu", "--quiet"]


def _scores_csv(path) -> tuple[np.ndarray, np.ndarray]:
    import csv

    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    return (np.array([float(r["score"]) for r in rows]),
            np.array([int(r["label"]) for r in rows]))


@pytest.fixture(scope="module")
def auto_run(tmp_path_factory):
    """`mcod detect --contamination auto --save-model` on 40 tiny images: the folder."""
    from mcod.cli.main import main

    folder = tmp_path_factory.mktemp("auto")
    images = np.random.default_rng(0).integers(0, 256, size=(40, 8, 8), dtype=np.uint8)
    images[:3] = 255
    np.save(folder / "images.npy", images)
    assert main(["detect", "--npy", str(folder / "images.npy"), *FAST, "--contamination",
                 "auto", "--out", str(folder / "out"), "--save-model", str(folder / "m.pt")]) == 0
    return folder


def test_detect_auto_labels_by_the_default_method(auto_run):
    scores, labels = _scores_csv(auto_run / "out" / "scores.csv")
    np.testing.assert_array_equal(labels, thresholder_cut(thresholder("auto"), scores)[1])
    model = mcod.load(auto_run / "m.pt")
    assert type(model.contamination).__name__ == DEFAULT_METHOD.upper()
    np.testing.assert_array_equal(model.labels_, labels)


def test_score_keeps_the_models_cut_or_cuts_the_new_scores_by_a_method(auto_run, capsys):
    from mcod.cli.main import main

    model = mcod.load(auto_run / "m.pt")
    args = ["score", str(auto_run / "m.pt"), "--npy", str(auto_run / "images.npy"), "--quiet"]
    assert main([*args, "--out", str(auto_run / "kept")]) == 0
    assert f"threshold method {DEFAULT_METHOD.upper()}" in capsys.readouterr().out
    scores, labels = _scores_csv(auto_run / "kept" / "scores.csv")
    np.testing.assert_array_equal(labels, scores > model.threshold_)
    assert main([*args, "--threshold-method", "mad", "--out", str(auto_run / "mad")]) == 0
    assert "threshold method MAD" in capsys.readouterr().out
    scores, labels = _scores_csv(auto_run / "mad" / "scores.csv")
    np.testing.assert_array_equal(labels, thresholder_cut(MAD(), scores)[1])


@pytest.mark.parametrize(("args", "message"), [
    (["--contamination", "many"], "--contamination: must be a share such as 0.05, or auto, "
                                  "got 'many'"),
    (["--threshold-method", "otsu"], "--threshold-method: invalid choice: 'otsu' (choose from "
                                     "'mixmod'"),
    (["--contamination", "0.1", "--threshold-method", "iqr"], "not allowed with argument"),
    (["--contamination", "0.7"], "--contamination must be in (0, 0.5], got 0.7"),
])
def test_bad_cuts_are_one_line_errors(args, message, capsys):
    from mcod.cli.main import main

    assert main(["detect", *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("mcod: error: ") and message in err and err.count("\n") == 1
