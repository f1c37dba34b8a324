"""Pretrained encoders: shipped weights, bring-your-own models, and the pretrained MCOD."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from sklearn.metrics import roc_auc_score
from torch import nn

import mcod
from mcod import MCOD
from mcod.nn.encoders import EncoderUnavailableError, extract_features, load_encoder
from mcod.nn.pretrained import encoded_rows

SIZE = 64  # small inputs keep the shipped EfficientNet fast on a CPU


@pytest.fixture(scope="module")
def lite0():
    return load_encoder("efficientnet-lite0")


def _images(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, 20, 24, 3), dtype=np.uint8)


def test_shipped_weights_give_deterministic_features(lite0):
    images = _images(5)
    first = extract_features(lite0, images, SIZE, batch_size=2)
    assert first.shape == (5, 1280) and first.dtype == np.float32
    np.testing.assert_array_equal(first, extract_features(lite0, images, SIZE, batch_size=2))
    # another batch size changes only float rounding in the convolutions
    np.testing.assert_allclose(first, extract_features(lite0, images, SIZE, batch_size=5),
                               atol=1e-4)
    assert np.ptp(first, axis=0).max() > 0  # the images are told apart


def test_weights_digest_is_the_same_for_every_load(lite0):
    assert load_encoder("efficientnet-lite0").digest == lite0.digest


def test_mid_reads_the_same_weights_at_two_depths(lite0, tmp_path):
    """``+mid``: the plain features (unit length) joined with the stride-16 block's 2x2
    grid, each half of unit length; the weights are the shipped ones, untouched by the
    trial pass that finds the block, and the cache tells the two readings apart."""
    from mcod.nn.encoders import MID_GRID, _last_block_at, _weights_digest, mid_features

    mid = load_encoder("efficientnet-lite0+mid")
    assert _weights_digest(mid.net) == _weights_digest(lite0.net)  # BatchNorm stats kept
    assert mid.digest != lite0.digest
    assert mid.net.mid == 10  # EfficientNet-Lite0: blocks 8-10 at stride 16, 112 channels
    images = _images(4)
    joined = extract_features(mid, images, SIZE, batch_size=2)
    plain = extract_features(lite0, images, SIZE, batch_size=2)
    assert joined.shape == (4, 1280 + 112 * MID_GRID ** 2)
    np.testing.assert_allclose(np.linalg.norm(joined, axis=1), 1.0, atol=1e-6)
    unit = plain / np.linalg.norm(plain, axis=1, keepdims=True)
    np.testing.assert_allclose(joined[:, :1280] * 2 ** 0.5, unit, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(joined[:, 1280:], axis=1), 2 ** -0.5, atol=1e-6)
    # mid_features by hand: the means of constant maps, scaled to unit halves
    last, block = torch.ones(1, 2, 3, 3), torch.zeros(1, 1, 4, 4)
    block[..., :2, :] = 3.0  # top half: the 2x2 grid's upper cells hold 3, the lower 0
    # means [1, 1] -> unit -> / sqrt 2; grid [3, 3, 0, 0] -> unit -> / sqrt 2
    torch.testing.assert_close(mid_features(last, block),
                               torch.tensor([[0.5, 0.5, 0.5, 0.5, 0.0, 0.0]]))
    with pytest.raises(ValueError, match="no block at stride 64"):
        _last_block_at(lite0.net.net, 64)
    own = tmp_path / "w.pth"
    torch.save(lite0.net.net.state_dict(), own)
    assert load_encoder(f"efficientnet-lite0+mid={own}").digest == mid.digest


@pytest.mark.parametrize("side", [(8, 8), (4, 6), (7, 7), (9, 5)])
def test_grid_mean_is_adaptive_pooling(side):
    """Bit for bit where the grid divides the maps (the encoder's 128 px case), to float
    rounding otherwise (the cells of odd sides overlap as adaptive pooling's do)."""
    from mcod.nn.encoders import grid_mean

    maps = torch.randn(3, 5, *side, generator=torch.Generator().manual_seed(0)) * 5
    expected = torch.nn.functional.adaptive_avg_pool2d(maps, 2).flatten(1)
    if side[0] % 2 == 0 and side[1] % 2 == 0:
        assert torch.equal(grid_mean(maps, 2), expected)
    else:
        torch.testing.assert_close(grid_mean(maps, 2), expected)


def test_grey_and_float_images_match_their_rgb_uint8_form(lite0):
    grey = _images(3)[..., 0]
    rgb = np.repeat(grey[..., None], 3, axis=-1)
    from_grey = extract_features(lite0, grey, SIZE)
    np.testing.assert_allclose(from_grey, extract_features(lite0, rgb, SIZE), atol=1e-5)
    floats = grey.astype(np.float32) / 255
    np.testing.assert_allclose(from_grey, extract_features(lite0, floats, SIZE), atol=1e-5)


def _without_module(monkeypatch: pytest.MonkeyPatch, missing: str) -> None:
    """As if the package importing as ``missing`` were not installed."""
    import importlib

    real = importlib.import_module

    def import_module(name: str, *args: Any) -> Any:
        if name == missing:
            raise ImportError(name)
        return real(name, *args)

    monkeypatch.setattr(importlib, "import_module", import_module)


def test_missing_weight_wheel_names_the_package(monkeypatch):
    _without_module(monkeypatch, "efficientnet_lite3_pytorch_model")
    with pytest.raises(EncoderUnavailableError,
                       match="pip install efficientnet-lite3-pytorch-model"):
        load_encoder("efficientnet-lite3")


def test_timm_without_timm_is_a_clear_error(monkeypatch):
    _without_module(monkeypatch, "timm")
    with pytest.raises(EncoderUnavailableError, match="pip install timm"):
        load_encoder("timm:resnet18")


class _TinyNet(nn.Module):
    """A small conv net giving (N, 4, h, w) maps: what a user might script."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.conv(x))


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch.jit.script, in torch 2.x
def test_torchscript_file_is_an_encoder(tmp_path):
    torch.manual_seed(0)
    net = _TinyNet().eval()
    path = tmp_path / "tiny.pt"
    torch.jit.script(net).save(str(path))
    encoder = load_encoder(str(path))
    images = _images(3)
    features = extract_features(encoder, images, 16)
    x = (torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255)
    x = torch.nn.functional.interpolate(x, size=(16, 16), mode="bilinear", antialias=True)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    expected = net((x - mean) / std).mean(dim=(2, 3)).detach().numpy()
    np.testing.assert_allclose(features, expected, rtol=1e-5, atol=1e-6)
    assert encoder.spec == str(path)


def test_state_dict_for_a_named_architecture(tmp_path, lite0):
    state = {k: v * 0.5 if k.endswith("_bn1.weight") else v
             for k, v in lite0.net.net.state_dict().items()}
    path = tmp_path / "halved.pth"
    torch.save(state, path)
    own = load_encoder(f"efficientnet-lite0={path}")
    assert own.digest != lite0.digest  # other weights, so another cache key
    images = _images(2)
    assert not np.allclose(extract_features(own, images, SIZE),
                           extract_features(lite0, images, SIZE))


def test_bad_specs_are_refused(tmp_path):
    with pytest.raises(ValueError, match="unknown encoder"):
        load_encoder("resnet50")
    with pytest.raises(ValueError, match="unknown architecture"):
        load_encoder(f"resnet50={tmp_path / 'w.pth'}")
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a model")
    with pytest.raises(ValueError, match="TorchScript"):
        load_encoder(str(junk))
    with pytest.raises(ValueError, match="state dict"):
        load_encoder(f"efficientnet-lite0={junk}")


# --------------------------------------------------------------------------- MCOD on top


def _digits_task() -> tuple[np.ndarray, np.ndarray]:
    """Digit 0 (inliers) with 10 % other digits, as uint8 8x8 images."""
    digits = load_digits()
    images = (digits.images * 255 / 16).astype(np.uint8)
    inliers = np.flatnonzero(digits.target == 0)
    others = np.random.default_rng(0).choice(np.flatnonzero(digits.target != 0), 20, replace=False)
    idx = np.concatenate([inliers, others])
    return images[idx], (digits.target[idx] != 0).astype(int)


@pytest.fixture(scope="module")
def pretrained_fit(tmp_path_factory):
    images, y = _digits_task()
    config = mcod.get_config("default").replace(encoder_size=SIZE, members=1)
    cache = tmp_path_factory.mktemp("features")
    detector = MCOD(config=config, device="cpu", random_state=0, feature_cache=str(cache))
    return detector.fit(images), images, y


def test_pretrained_fit_separates_outliers(pretrained_fit):
    detector, _, y = pretrained_fit
    assert roc_auc_score(y, detector.decision_scores_) > 0.9


def test_pretrained_model_round_trips_by_spec(pretrained_fit, tmp_path):
    detector, images, _ = pretrained_fit
    path = detector.save(tmp_path / "model.pt")
    state = torch.load(path, weights_only=True)
    assert state["config"]["encoder"] == "efficientnet-lite0+mid"
    assert not any("_blocks" in k for k in state["state_dict"])  # the spec, not the weights
    loaded = mcod.load(path)
    np.testing.assert_array_equal(loaded.decision_function(images[:7]),
                                  detector.decision_function(images[:7]))


def test_a_mid_encoder_fits_separates_and_round_trips(tmp_path):
    images, y = _digits_task()
    config = mcod.get_config("default").replace(encoder="efficientnet-lite0+mid",
                                                encoder_size=SIZE, members=1)
    detector = MCOD(config=config, device="cpu", random_state=0,
                    feature_cache=str(tmp_path / "features")).fit(images)
    assert roc_auc_score(y, detector.decision_scores_) > 0.9
    loaded = mcod.load(detector.save(tmp_path / "model.pt"))
    assert loaded.config_.encoder == "efficientnet-lite0+mid"
    np.testing.assert_array_equal(loaded.decision_function(images[:7]),
                                  detector.decision_function(images[:7]))


def test_loading_refuses_a_model_whose_encoder_is_missing(pretrained_fit, tmp_path, monkeypatch):
    detector, _, _ = pretrained_fit
    path = detector.save(tmp_path / "model.pt")
    import mcod.nn.pretrained

    def unavailable(spec):
        raise EncoderUnavailableError(f"encoder {spec!r} needs its weights: pip install x")

    monkeypatch.setattr(mcod.nn.pretrained, "encoder_for", unavailable)
    with pytest.raises(ValueError, match=r"needs the image encoder 'efficientnet-lite0\+mid'"):
        mcod.load(path)


def test_a_config_with_an_encoder_refuses_tables():
    mine = mcod.get_config("default").replace(name="mine")
    with pytest.raises(mcod.data.inputs.InputError, match="config 'mine' is for images"):
        MCOD(config=mine, epochs=1).fit(np.random.default_rng(0).normal(size=(20, 3)))


def test_a_model_saved_before_encoders_loads_without_them(tmp_path):
    """Config fields added with a default (encoder, encoder_size) may be absent in old files."""
    values = mcod.get_config("scratch").to_dict()
    for name in ("encoder", "encoder_size", "reference_trim", "reference_shrink"):
        values.pop(name)
    assert mcod.MCODConfig.from_dict(values) == mcod.get_config("scratch")


def test_knn_on_pretrained_features_is_a_registered_baseline(tmp_path):
    from mcod.bench.detectors import get, resolve
    from mcod.bench.on_features import PretrainedKNN
    from mcod.nn.feature_cache import FeatureCache

    assert resolve(["pretrained"]) == ["mcod-default", "knn-pretrained", "lof-pretrained",
                                     "iforest-pretrained", "ocsvm-pretrained"]
    assert isinstance(get("knn-pretrained").build(0, False), PretrainedKNN)
    images, y = _digits_task()
    knn = PretrainedKNN(k=10, size=SIZE, cache=FeatureCache(tmp_path)).fit(images)
    assert roc_auc_score(y, knn.decision_scores_) > 0.9
    # a fitted image is its own nearest neighbour when scored anew: lower than at fit
    assert (knn.decision_function(images[:5]) < knn.decision_scores_[:5]).all()


@pytest.mark.parametrize("base, kind", [("lof", "LOF"), ("iforest", "IForest"),
                                        ("ocsvm", "OCSVM")])
def test_classic_baselines_on_pretrained_features_see_unit_rows(tmp_path, base, kind):
    """LOF, IsolationForest and OCSVM run as their raw-pixel selves, on L2-normalised
    features of the same encoder."""
    from mcod.bench.detectors import get
    from mcod.bench.on_features import OnPretrainedFeatures
    from mcod.nn.feature_cache import FeatureCache

    built = get(f"{base}-pretrained").build(0, False)
    assert isinstance(built, OnPretrainedFeatures) and type(built.detector).__name__ == kind
    seen: list[np.ndarray] = []

    class Recorder:
        def __init__(self, inner):
            self.inner = inner

        def fit(self, X):
            seen.append(X)
            self.inner.fit(X)
            self.decision_scores_ = self.inner.decision_scores_

        def decision_function(self, X):
            seen.append(X)
            return self.inner.decision_function(X)

    images, y = _digits_task()
    detector = OnPretrainedFeatures(Recorder(built.detector), size=SIZE,
                                    cache=FeatureCache(tmp_path)).fit(images)
    assert roc_auc_score(y, detector.decision_scores_) > 0.7
    detector.decision_function(images[:5])
    assert [len(x) for x in seen] == [len(images), 5]
    for rows in seen:
        np.testing.assert_allclose(np.linalg.norm(rows, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(seen[1], seen[0][:5])  # the same features at fit and score


def test_pretrained_score_is_the_distance_to_the_memory_picked_reference(pretrained_fit):
    """The members' memory score picks the reference; the score is the cross-fitted
    whitened distance to it: a reference row scored by the half without it, others by the
    mean of both halves, as new rows are."""
    detector, images, y = pretrained_fit
    network = detector.network_
    assert network.reference is not None
    def encode(arr: np.ndarray, pixel_range: tuple[float, float]) -> tuple[np.ndarray, str]:
        return encoded_rows(arr, pixel_range, detector.config_, torch.device("cpu"), None)

    rows = detector.preprocessor_.transform(detector.preprocessor_.check(images), encode)
    memory = network.memory_score(rows).double()
    assert roc_auc_score(y, memory.numpy()) > 0.8
    picked = memory <= torch.quantile(memory, 0.7)
    scores = torch.from_numpy(detector.decision_scores_)
    both = network.reference(rows).double()
    np.testing.assert_allclose(scores[~picked].numpy(), both[~picked].numpy(), rtol=1e-5)
    np.testing.assert_allclose(detector.decision_function(images), both.numpy(), rtol=1e-5)
    assert not np.allclose(scores[picked].numpy(), both[picked].numpy())


def test_whitened_reference_finds_a_departure_along_a_quiet_direction_far():
    from mcod.nn.ensemble import WhitenedReference

    rng = np.random.default_rng(0)
    rows = torch.from_numpy(rng.normal(size=(400, 3)) * [3.0, 1.0, 0.1]).float()
    reference = WhitenedReference(3)
    reference.fit((rows[0::2], rows[1::2]), torch.ones(3), shrink=0.1)
    loud, quiet = reference(torch.tensor([[2.0, 0, 0], [0, 0, 2.0]]))
    assert quiet > 3 * loud


@pytest.mark.parametrize("changes, message", [
    ({"reference_trim": 1.0}, "reference_trim must be in"),
    ({"reference_shrink": 1.5}, "reference_shrink must be in"),
    ({"table_yeo_johnson": True}, "not Yeo-Johnson"),
])
def test_bad_reference_settings_are_refused(changes, message):
    with pytest.raises(ValueError, match=message):
        mcod.get_config("default").replace(**changes)


def test_a_report_of_a_pretrained_model_names_its_config_and_flags_its_outliers(
        pretrained_fit, tmp_path):
    from mcod.report.page import write_report

    detector, images, y = pretrained_fit
    html = write_report(tmp_path / "r", detector, images, truth=y).read_text(encoding="utf-8")
    assert "<th>configuration</th><td>default (" in html
    assert ("<th>score</th><td>whitened distance to the 70% of the training samples the "
            "memory trusts most</td>") in html
    assert f"<th>samples</th><td>{len(images)}</td>" in html
    flagged = int(detector.labels_.sum())
    assert f"<th>flagged as outliers</th><td>{flagged} (" in html


def test_a_handful_of_images_scores_on_one_scale():
    """Five images leave a reference half of one row, which has no spread to whiten by:
    it takes the other half's, so no score is a billion times another (it was 1e10)."""
    images = np.random.default_rng(0).integers(0, 256, size=(5, 32, 32, 3), dtype=np.uint8)
    detector = MCOD(epochs=1, random_state=0, verbose=False, device="cpu",
                    feature_cache=None).fit(images)
    scores = detector.decision_scores_
    assert np.isfinite(scores).all() and scores.max() < 10 * scores.min()


def test_whitened_reference_gives_a_half_of_one_row_the_other_halfs_spread():
    from mcod.nn.ensemble import WhitenedReference

    rows = torch.tensor([[0.0, 0, 0], [2.0, 0, 0], [1.0, 1.0, 0]])
    reference = WhitenedReference(3)
    reference.fit((rows[:2], rows[2:]), torch.ones(3), shrink=0.1)
    # the one-row half: all shrinkage at the two-row half's level (2/3 a column), so a
    # row at distance 1 from it lies 1 / sqrt(2/3) away
    assert reference.distances(torch.tensor([[1.0, 0, 0]]))[1, 0].item() == pytest.approx(
        1 / np.sqrt(2 / 3))


def test_an_encoder_is_loaded_once_per_spec_and_dtype():
    from mcod.nn.pretrained import encoder_for

    single = encoder_for("efficientnet-lite0")
    assert encoder_for("efficientnet-lite0", False) is single
    double = encoder_for("efficientnet-lite0", True)
    assert encoder_for("efficientnet-lite0", float64=True) is double
    assert (single.dtype, double.dtype) == (torch.float32, torch.float64)
    assert double.digest == single.digest  # the weights it was loaded with
