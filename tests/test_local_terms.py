"""The novelty score's local terms: nearest fit row and LOF, as scikit-learn computes them,
standardised by their training values and joined to the whitened reference's distance."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score
from sklearn.neighbors import LocalOutlierFactor, NearestNeighbors

import mcod
from mcod import MCOD
from mcod.nn.encoders import mid_start
from mcod.nn.local_terms import LOF_WEIGHT, NEIGHBOURS, LocalTerms

REFERENCE = mcod.get_config("tabular").replace(name="reference", reference_trim=0.3, members=1)


def _z(values: np.ndarray, train: np.ndarray) -> np.ndarray:
    return (values - train.mean()) / train.std(ddof=1)


def _fitted_terms(n: int, kept: int, lof_start: int, seed: int = 0):
    """LocalTerms fitted on n standardised rows (sd 2 per column), two of them the same;
    (terms, the rows in the encoder's units, reference distances, training scores)."""
    rng = np.random.default_rng(seed)
    rows = rng.normal(size=(n, 12))
    rows[n // 2] = rows[n // 2 + 1] if n > 2 else rows[0]
    reference = torch.from_numpy(rng.gamma(2.0, size=n))
    terms = LocalTerms(kept, 12, lof_start)
    train = terms.fit(torch.from_numpy(rows).float(), reference, torch.full((12,), 2.0))
    units = torch.from_numpy(rows).float().double() * 2.0
    return terms, units.numpy(), reference.numpy(), train.numpy()


@pytest.mark.parametrize("lof_start", [0, 4])
def test_training_scores_are_sklearns_leave_self_out_terms_standardised_and_joined(lof_start):
    terms, units, reference, train = _fitted_terms(300, 300, lof_start)
    kept = terms.rows.double().numpy()
    nearest = NearestNeighbors(n_neighbors=2).fit(kept).kneighbors(kept)[0][:, 1]
    lof = -LocalOutlierFactor(n_neighbors=NEIGHBOURS).fit(kept[:, lof_start:]) \
        .negative_outlier_factor_
    expected = _z(reference, reference) + _z(nearest, nearest) + LOF_WEIGHT * _z(lof, lof)
    np.testing.assert_allclose(train, expected, rtol=1e-9, atol=1e-9)


def test_new_rows_are_scored_as_sklearns_novelty_lof_and_nearest_neighbour():
    terms, units, reference, train = _fitted_terms(300, 300, 4)
    kept = terms.rows.double().numpy()
    new = np.random.default_rng(1).normal(size=(40, 12)) * 1.5
    new_reference = np.linspace(0.5, 5, 40)
    scores = terms(torch.from_numpy(new).float(), torch.from_numpy(new_reference)).numpy()
    new_units = torch.from_numpy(new).float().double().numpy() * 2.0
    lof = LocalOutlierFactor(n_neighbors=NEIGHBOURS, novelty=True).fit(kept[:, 4:])
    nearest = NearestNeighbors(n_neighbors=2).fit(kept)
    train_near = nearest.kneighbors(kept)[0][:, 1]
    expected = (_z(new_reference, reference)
                + _z(nearest.kneighbors(new_units, n_neighbors=1)[0][:, 0], train_near)
                + LOF_WEIGHT * _z(-lof.score_samples(new_units[:, 4:]),
                                  -lof.negative_outlier_factor_))
    np.testing.assert_allclose(scores, expected, rtol=1e-9, atol=1e-9)


def test_beyond_the_kept_rows_a_fit_row_is_scored_against_them_and_kept_ones_without_self():
    """More fit rows than are kept: evenly spaced rows are kept, the others are scored as
    new rows would be (against all kept rows), the kept ones leaving themselves out."""
    terms, units, reference, train = _fitted_terms(120, 50, 0)
    kept_at = np.round(np.linspace(0, 119, 50)).astype(int)
    np.testing.assert_array_equal(terms.rows.numpy(), units[kept_at].astype(np.float32))
    kept = terms.rows.double().numpy()
    nearest = NearestNeighbors(n_neighbors=2).fit(kept)
    lof = LocalOutlierFactor(n_neighbors=NEIGHBOURS, novelty=True).fit(kept)
    near = nearest.kneighbors(units, n_neighbors=1)[0][:, 0]
    near[kept_at] = nearest.kneighbors(kept)[0][:, 1]
    factor = -lof.score_samples(units)
    factor[kept_at] = -lof.negative_outlier_factor_
    expected = _z(reference, reference) + _z(near, near) + LOF_WEIGHT * _z(factor, factor)
    np.testing.assert_allclose(train, expected, rtol=1e-9, atol=1e-9)


def test_two_kept_rows_take_each_other_as_neighbour():
    terms, _, _, train = _fitted_terms(2, 2, 0)
    assert terms.k == 1 and np.isfinite(train).all()


def test_the_lof_block_is_the_mid_level_one_of_two_depth_encoders():
    assert mid_start("efficientnet-lite0+mid") == 1280
    assert mid_start("efficientnet-lite2+mid=/weights.pth") == 1280
    for spec in ("efficientnet-lite0", "timm:resnet18", "/models/encoder+mid.pt"):
        assert mid_start(spec) is None


def test_local_terms_need_a_reference():
    with pytest.raises(ValueError, match="local_terms join the whitened reference"):
        mcod.get_config("tabular").replace(local_terms=True)


def _two_looks_and_the_gap_between(seed: int = 0):
    """Clean rows of two looks (column 0 at -4 and +4), and new rows: inliers of both
    looks and outliers in the gap (column 0 near 0), where the whitened reference's
    centre lies: close to it, but far from every fit row."""
    rng = np.random.default_rng(seed)

    def looks(n: int) -> np.ndarray:
        rows = rng.normal(size=(n, 6)) * 0.5
        rows[:, 0] += np.where(np.arange(n) % 2, 4.0, -4.0)
        return rows

    gap = rng.normal(size=(60, 6)) * 0.5
    return looks(1200), np.vstack([looks(300), gap]), np.r_[np.zeros(300), np.ones(60)]


def test_novelty_finds_outliers_between_looks_the_reference_alone_calls_typical():
    fit, new, y = _two_looks_and_the_gap_between()
    told = MCOD(config=REFERENCE, epochs=5, random_state=0, verbose=False,
                novelty=True).fit(fit)
    assert told.config_.local_terms and told.network_.kept_rows == len(fit)
    centre_only = MCOD(config=told.config_.replace(local_terms=False), epochs=5,
                       random_state=0, verbose=False).fit(fit)
    auroc_told = roc_auc_score(y, told.decision_function(new))
    auroc_centre = roc_auc_score(y, centre_only.decision_function(new))
    assert auroc_told > 0.95 and auroc_told > auroc_centre + 0.2, (auroc_told, auroc_centre)


def test_a_model_file_whose_kept_rows_are_wrong_is_refused(tmp_path):
    fit, _, _ = _two_looks_and_the_gap_between()
    model = MCOD(config=REFERENCE, epochs=1, random_state=0, verbose=False,
                 novelty=True).fit(fit[:200])
    path = model.save(tmp_path / "model.pt")
    state = torch.load(path, weights_only=True)
    for bad in (torch.zeros(1, 6), torch.zeros(200, 6, 1), torch.zeros(199, 6)):
        state["state_dict"]["local.rows"] = bad
        torch.save(state, tmp_path / "bad.pt")
        with pytest.raises(ValueError, match=r"local\."):
            mcod.load(tmp_path / "bad.pt")


def test_the_report_names_the_local_terms(tmp_path):
    from mcod.report.page import write_report

    fit, _, _ = _two_looks_and_the_gap_between()
    model = MCOD(config=REFERENCE, epochs=1, random_state=0, verbose=False,
                 novelty=True).fit(fit[:300])
    html = write_report(tmp_path / "r", model, fit[:300]).read_text(encoding="utf-8")
    assert ("<th>score</th><td>whitened distance to the 99% of the training samples the "
            "memory trusts most; with the distance to the nearest training sample and LOF"
            "</td>") in html
