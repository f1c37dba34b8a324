"""``novelty=True``: a fit told that its data hold no outliers whitens by all but 1% of them."""

from __future__ import annotations

import contextlib
import io

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

import mcod
from mcod import MCOD
from mcod.cli.main import main
from mcod.config import NOVELTY_TRIM
from mcod.data.inputs import InputError

# tables scored by a whitened reference: the default's head, without an encoder
REFERENCE = mcod.get_config("tabular").replace(name="reference", reference_trim=0.3, members=1)


def _clean_fit_and_new_rows(seed: int = 0):
    """Clean training rows with a rare look (6% shifted along column 0), and new rows: half
    of each look, and outliers that depart along column 2 (labels: 1 = outlier)."""
    rng = np.random.default_rng(seed)

    def inliers(n: int, rare: float) -> np.ndarray:
        rows = rng.normal(size=(n, 8))
        rows[: int(n * rare), 0] += 4
        return rows

    fit = inliers(1500, 0.06)
    outliers = rng.normal(size=(100, 8))
    outliers[:, 2] -= 4
    new = np.vstack([inliers(400, 0.5), outliers])
    return fit, new, np.r_[np.zeros(400), np.ones(100)]


def _fitted(novelty: bool, fit: np.ndarray) -> MCOD:
    return MCOD(config=REFERENCE, epochs=5, random_state=0, verbose=False,
                novelty=novelty).fit(fit)


def test_novelty_keeps_the_rare_looks_of_clean_data_in_the_reference():
    """Trimming 30% of clean rows drops the rare look from the reference, so its new
    samples score as far as the outliers; told the data are clean, mcod keeps them."""
    fit, new, y = _clean_fit_and_new_rows()
    told, untold = _fitted(True, fit), _fitted(False, fit)
    assert told.config_.reference_trim == NOVELTY_TRIM
    assert untold.config_.reference_trim == 0.3
    auroc_told = roc_auc_score(y, told.decision_function(new))
    auroc_untold = roc_auc_score(y, untold.decision_function(new))
    assert auroc_told > auroc_untold + 0.04, (auroc_told, auroc_untold)


def test_novelty_survives_a_save_and_load(tmp_path):
    fit, new, _ = _clean_fit_and_new_rows()
    model = _fitted(True, fit)
    loaded = mcod.load(model.save(tmp_path / "model.pt"))
    assert loaded.novelty is True and loaded.config_.reference_trim == NOVELTY_TRIM
    np.testing.assert_array_equal(loaded.decision_function(new), model.decision_function(new))


@pytest.mark.parametrize("config", ["tabular", "scratch"])
def test_novelty_is_refused_where_no_reference_scores(config):
    data = (np.random.default_rng(0).normal(size=(40, 4)) if config == "tabular"
            else np.random.default_rng(0).integers(0, 256, (40, 8, 8), dtype=np.uint8))
    with pytest.raises(InputError, match=f"config '{config}' .*has no whitened reference"):
        MCOD(config=config, epochs=1, novelty=True, verbose=False).fit(data)


def test_novelty_is_refused_on_a_table_with_the_default_config():
    """'default' on a table is 'tabular', which scores by no reference: refused, not
    ignored (the constructor's default config must not fit as if novelty were False)."""
    table = np.random.default_rng(0).normal(size=(40, 4))
    with pytest.raises(InputError,
                       match=r"config 'tabular' \(on tables\) has no whitened reference"):
        MCOD(epochs=1, novelty=True, verbose=False).fit(table)


def test_novelty_never_trims_more_than_the_config_does():
    fit, _, _ = _clean_fit_and_new_rows()
    config = REFERENCE.replace(reference_trim=NOVELTY_TRIM / 2)
    model = MCOD(config=config, epochs=1, random_state=0, verbose=False, novelty=True).fit(fit)
    assert model.config_.reference_trim == NOVELTY_TRIM / 2


@pytest.mark.parametrize("value", ["yes", 1, None])
def test_novelty_must_be_a_bool(value):
    with pytest.raises(ValueError, match="novelty must be True or False"):
        MCOD(novelty=value).fit(np.zeros((10, 3)))


def test_detect_novelty_saves_a_model_that_trusts_its_input(tmp_path):
    images = np.random.default_rng(0).integers(0, 256, size=(40, 8, 8), dtype=np.uint8)
    np.save(tmp_path / "images.npy", images)
    with contextlib.redirect_stdout(io.StringIO()):
        rc = main(["detect", "--npy", str(tmp_path / "images.npy"), "--novelty", "--epochs", "1",
                   "--device", "cpu", "--save-model", str(tmp_path / "model.pt"), "--quiet"])
    assert rc == 0
    model = mcod.load(tmp_path / "model.pt")
    assert model.novelty is True and model.config_.reference_trim == NOVELTY_TRIM
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert main(["score", str(tmp_path / "model.pt"), "--npy", str(tmp_path / "images.npy"),
                     "--report", str(tmp_path / "report")]) == 0
    assert "novelty: fitted on data said to hold no outliers" in printed.getvalue()
    page = (tmp_path / "report" / "index.html").read_text(encoding="utf-8")
    assert "whitened distance to the 99% of the training samples" in page


def test_the_bench_runs_novelty_only_where_the_fit_data_are_clean(tmp_path):
    from mcod.bench.detectors import get
    from mcod.bench.runner import _resolve_detectors

    assert get("mcod-novelty").build(0, False).novelty is True
    assert _resolve_detectors(["mcod-novelty"], "oneclass", None)[0] == ["mcod-novelty"]
    with pytest.raises(ValueError, match="oneclass protocol only, not uod"):
        _resolve_detectors(["mcod-novelty"], "uod", None)
