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
from mcod.data.inputs import InputError
from mcod.nn.encoders import mid_start
from mcod.nn.local_terms import LOF_WEIGHT, NEIGHBOURS, LocalTerms

REFERENCE = mcod.get_config("tabular").replace(name="reference", reference_trim=0.3, members=1)


def _z(values: np.ndarray, train: np.ndarray) -> np.ndarray:
    return (values - train.mean()) / train.std(ddof=1)


SCALE = 1.3  # not a power of two: the units' rounding shows


def _units(rows: np.ndarray) -> np.ndarray:
    """Standardised rows in the units compared, rounded as LocalTerms rounds them."""
    return (rows.astype(np.float32) * np.float32(SCALE)).astype(np.float64)


def _fitted_terms(n: int, kept: int, lof_start: int, seed: int = 0):
    """LocalTerms fitted on n standardised rows (sd SCALE per column), 12 of them (more than
    LOF's k) the same where n allows; (terms, the rows in the units compared, reference
    distances, training scores)."""
    rng = np.random.default_rng(seed)
    rows = rng.normal(size=(n, 12))
    rows[n // 3: n // 3 + min(12, n)] = rows[n // 3]
    reference = torch.from_numpy(rng.gamma(2.0, size=n))
    terms = LocalTerms(kept, 12, lof_start)
    train = terms.fit(torch.from_numpy(rows).float(), reference, torch.full((12,), SCALE))
    return terms, _units(rows), reference.numpy(), train.numpy()


@pytest.mark.filterwarnings("ignore:Duplicate values")  # sklearn's note on the 12 copies
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
    new_units = _units(new)
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
    kept_at = np.arange(50) * 119 // 49
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


def test_duplicates_lie_at_distance_zero_as_in_sklearn():
    terms, units, _, _ = _fitted_terms(300, 300, 0)
    kept = terms.rows.double().numpy()
    assert np.array_equal(kept, units)  # a row and its kept copy are alike, bit for bit
    same = slice(100, 112)  # the 12 copies
    d, _ = NearestNeighbors(n_neighbors=NEIGHBOURS + 1).fit(kept).kneighbors(kept[same])
    assert (d == 0).all()
    np.testing.assert_array_equal(terms.k_distance[same].numpy(), 0)
    np.testing.assert_array_equal(terms.density[same].numpy(), 1e10)  # sklearn's 1 / 1e-10


def test_float64_terms_keep_the_rows_unrounded_and_duplicates_at_zero():
    """image_float64's rows come in float64 and are kept so: no float32 rounding that mcod
    and an exported graph could round either way."""
    rng = np.random.default_rng(1)
    rows = rng.normal(size=(200, 12))
    rows[50:62] = rows[50]
    terms = LocalTerms(200, 12, 0, float64=True)
    terms.fit(torch.from_numpy(rows), torch.from_numpy(rng.gamma(2.0, size=200)),
              torch.full((12,), SCALE))
    assert terms.rows.dtype == torch.float64
    np.testing.assert_array_equal(terms.rows.numpy(), rows * np.float32(SCALE))
    assert not np.array_equal(terms.rows.numpy(), _units(rows))  # float32's rounding
    np.testing.assert_array_equal(terms.k_distance[50:62].numpy(), 0)


def test_two_kept_rows_take_each_other_as_neighbour():
    terms, units, _, train = _fitted_terms(2, 2, 0)
    assert terms.k == 1 and np.isfinite(train).all()
    new = terms(torch.zeros(3, 12), torch.ones(3, dtype=torch.float64))
    assert torch.isfinite(new).all()


@pytest.mark.filterwarnings("ignore:Duplicate values")
def test_a_term_that_never_varies_counts_in_its_own_units():
    """Two distinct rows, each repeated: every fit row has a twin (nearest distance 0),
    so that term's spread is taken as 1 and a new row's distance is added as it is."""
    rows = torch.tensor([[0.0, 0.0], [4.0, 0.0]]).repeat(50, 1)
    terms = LocalTerms(100, 2)
    terms.fit(rows, torch.ones(100, dtype=torch.float64), torch.ones(2))
    assert terms.standard.tolist() == [[1.0, 1.0], [0.0, 1.0], [1.0, 1.0]]
    midpoint = terms(torch.tensor([[2.0, 0.0]]), torch.ones(1, dtype=torch.float64))
    lof = -LocalOutlierFactor(n_neighbors=NEIGHBOURS, novelty=True).fit(rows.numpy()) \
        .score_samples([[2.0, 0.0]])[0]
    assert float(midpoint) == pytest.approx(0 + 2.0 + LOF_WEIGHT * (lof - 1), rel=1e-12)


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
        rows = rng.normal(size=(n, 3)) * 0.5
        rows[:, 0] += np.where(np.arange(n) % 2, 4.0, -4.0)
        return rows

    gap = rng.normal(size=(60, 3)) * 0.5
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


@pytest.fixture(scope="module")
def novelty_model_file(tmp_path_factory):
    fit, _, _ = _two_looks_and_the_gap_between()
    model = MCOD(config=REFERENCE, epochs=1, random_state=0, verbose=False,
                 novelty=True).fit(fit[:200])
    return model.save(tmp_path_factory.mktemp("model") / "model.pt")


def _tampered(path, tmp_path, changes):
    """The model file with ``changes`` ({tensor name: f(saved tensor)}) made."""
    state = torch.load(path, weights_only=True)
    for name, change in changes.items():
        state["state_dict"][name] = change(state["state_dict"].get(name)).clone()
    torch.save(state, tmp_path / "bad.pt")
    return tmp_path / "bad.pt"


def _one_row_less(t):
    return t[:-1]


@pytest.mark.parametrize("changes, message", [
    # the kept rows are as many as the fit's 200 training scores say
    ({"local.rows": lambda t: torch.zeros(1, 3)}, r"local\.rows'\] must be .* shape \[200, 3\]"),
    ({"local.rows": lambda t: t[..., None]}, r"local\.rows'\] must be .* shape \[200, 3\]"),
    (dict.fromkeys(["local.rows", "local.k_distance", "local.density"], _one_row_less),
     r"local\.(rows|k_distance|density)'\] must be .* shape \[200"),
    ({"local.k_distance": _one_row_less}, r"local\.k_distance'\] must be a torch.float64"),
    ({"local.scale": lambda t: t * 2}, r"local\.scale'\] must be the scale the fit compared"),
    ({"local.density": lambda t: -t}, r"local\.density'\] must be positive"),
    ({"local.k_distance": lambda t: t - 1}, r"local\.k_distance'\] must be at least 0"),
    ({"local.standard": lambda t: t * torch.tensor([1.0, -1.0], dtype=t.dtype)},
     r"local\.standard'\] must be a positive spread"),
    ({"local.squares": lambda t: torch.zeros(2, 200, dtype=torch.float64)},
     "the tensors the config makes"),  # derived from the rows, never read from a file
])
def test_a_model_file_with_local_terms_no_fit_gives_is_refused(novelty_model_file, tmp_path,
                                                               changes, message):
    with pytest.raises(ValueError, match=message):
        mcod.load(_tampered(novelty_model_file, tmp_path, changes))


def test_a_tables_local_terms_compare_standardised_rows(novelty_model_file):
    """On a table the neighbours are found in standardised units, as the rest of the
    table path is unit-free: a column's unit does not decide who is near."""
    model = mcod.load(novelty_model_file)
    assert torch.equal(model.network_.local.scale, torch.ones(3))
    fit, new, _ = _two_looks_and_the_gap_between()
    stretched = MCOD(config=REFERENCE, epochs=1, random_state=0, verbose=False,
                     novelty=True).fit(fit[:200] * [1, 1e4, 1])
    np.testing.assert_allclose(stretched.network_.local.rows.numpy(),
                               model.network_.local.rows.numpy(), rtol=1e-5, atol=1e-5)


def test_a_config_with_local_terms_is_refused_without_novelty():
    """Refitting with a novelty model's config (``config=model.config_``) on data not said
    to be clean would trust every row as a neighbour."""
    fit, _, _ = _two_looks_and_the_gap_between()
    config = REFERENCE.replace(reference_trim=0.01, local_terms=True)
    with pytest.raises(InputError, match="they are for clean data, fitted with novelty"):
        MCOD(config=config, epochs=1, verbose=False).fit(fit[:100])


def test_the_report_names_the_local_terms(tmp_path):
    from mcod.report.page import write_report

    fit, _, _ = _two_looks_and_the_gap_between()
    model = MCOD(config=REFERENCE, epochs=1, random_state=0, verbose=False,
                 novelty=True).fit(fit[:300])
    html = write_report(tmp_path / "r", model, fit[:300]).read_text(encoding="utf-8")
    assert ("<th>score</th><td>whitened distance to the 99% of the training samples the "
            "memory trusts most; with the distance to the nearest training sample and LOF"
            "</td>") in html
