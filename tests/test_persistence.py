"""Saving and loading fitted detectors: identical scores, clear errors, no pickled code."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from tiny import TINY

import mcod
from mcod import MCOD, MCODConfig
from mcod.model_file import FORMAT, save_detector
from mcod.persistence import load, load_with_table_options


def _images(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).random((n, 8, 8)).astype(np.float32)


@pytest.fixture(scope="module")
def image_model() -> MCOD:
    return MCOD(
        contamination=0.1, config=TINY, epochs=1, batch_size=16, device="cpu", random_state=0
    ).fit(_images(40, 0))


@pytest.fixture(scope="module")
def table_model() -> MCOD:
    X = np.random.default_rng(1).normal(size=(60, 5))
    return MCOD(contamination=0.05, epochs=1, batch_size=16, device="cpu", random_state=1).fit(X)


def _assert_same_fit(a: MCOD, b: MCOD) -> None:
    assert b.get_params() == a.get_params()
    assert b.config_ == a.config_
    assert b.input_kind_ == a.input_kind_
    assert b.input_shape_ == a.input_shape_
    assert b.network_.first.queue.size == a.network_.first.queue.size
    assert len(b.network_.members) == len(a.network_.members)
    np.testing.assert_array_equal(b.decision_scores_, a.decision_scores_)
    np.testing.assert_array_equal(b.labels_, a.labels_)
    assert b.threshold_ == a.threshold_
    assert b.history_ == a.history_
    assert not b.network_.training


def test_image_round_trip_gives_identical_scores(image_model, tmp_path):
    path = image_model.save(tmp_path / "model.pt")
    loaded = mcod.load(path)
    _assert_same_fit(image_model, loaded)
    assert isinstance(loaded.get_params()["config"], MCODConfig)
    assert loaded.n_channels_ == image_model.n_channels_
    assert loaded.image_size_in_ == image_model.image_size_in_ == (8, 8)
    new = _images(12, 5)
    np.testing.assert_array_equal(loaded.decision_function(new), image_model.decision_function(new))
    np.testing.assert_array_equal(loaded.predict(new), image_model.predict(new))
    memory_before = image_model.memory_items_
    np.testing.assert_array_equal(loaded.memory_items_, memory_before)


def test_a_model_saved_by_0_1_keeps_the_config_its_name_meant(tmp_path, monkeypatch):
    """Before 0.2 "default" named the from-scratch image config (now "scratch") and
    "pretrained" the encoder one (now "default"): an old file refits as it did."""
    model = MCOD(config="scratch", epochs=1, batch_size=16, device="cpu", random_state=0)
    model.fit(_images(40, 0).repeat(4, axis=1).repeat(4, axis=2))
    monkeypatch.setattr(mcod, "__version__", "0.1.0")
    for old, new in (("default", "scratch"), ("pretrained", "default")):
        model.set_params(config=old)  # as 0.1 wrote it; the fitted state is unchanged
        loaded = load(save_detector(model, tmp_path / f"{old}.pt"))
        assert loaded.get_params()["config"] == new
        np.testing.assert_array_equal(loaded.decision_scores_, model.decision_scores_)
    old_name = model.config_
    model.config_ = old_name.replace(name="default")  # how 0.1 named what it fitted
    loaded = load(save_detector(model, tmp_path / "named.pt"))
    assert loaded.config_ == old_name and loaded.config_.name == "scratch"
    monkeypatch.setattr(mcod, "__version__", "0.2.0")
    model.set_params(config="default")
    assert load(save_detector(model, tmp_path / "new.pt")).get_params()["config"] == "default"


def test_table_round_trip_gives_identical_scores(table_model, tmp_path):
    path = save_detector(table_model, tmp_path / "table.pt")
    loaded = load(path)
    _assert_same_fit(table_model, loaded)
    assert loaded.get_params()["config"] == "default"
    assert loaded.n_features_in_ == 5
    torch.testing.assert_close(loaded.scale_mean_, table_model.scale_mean_, rtol=0, atol=0)
    torch.testing.assert_close(loaded.scale_std_, table_model.scale_std_, rtol=0, atol=0)
    new = np.random.default_rng(7).normal(size=(9, 5))
    np.testing.assert_array_equal(loaded.decision_function(new), table_model.decision_function(new))


def test_table_options_round_trip_and_are_none_when_not_saved(table_model, tmp_path):
    options = {"columns": ["a", "b"], "id_column": "id", "categorical": "onehot",
               "fill_missing": "median", "fill_values": {"a": np.float64(0.5), "b": 2.0}}
    _, back = load_with_table_options(save_detector(table_model, tmp_path / "t.pt", options))
    assert back == {**options, "fill_values": {"a": 0.5, "b": 2.0}}
    assert type(back["fill_values"]["a"]) is float  # numpy scalars are stored as plain values
    assert load_with_table_options(table_model.save(tmp_path / "plain.pt"))[1] is None
    state = torch.load(tmp_path / "plain.pt", weights_only=True)
    del state["table_options"]  # a file written before table options were saved
    torch.save(state, tmp_path / "older.pt")
    detector, back = load_with_table_options(tmp_path / "older.pt")
    assert back is None and detector.threshold_ == table_model.threshold_


def test_table_round_trip_keeps_the_yeo_johnson_step(tmp_path):
    X = np.exp(np.random.default_rng(3).normal(size=(60, 4)))
    config = mcod.get_config("tabular").replace(members=1, table_yeo_johnson=True)
    model = MCOD(config=config, epochs=1, batch_size=16, device="cpu", random_state=3).fit(X)
    loaded = load(save_detector(model, tmp_path / "yj.pt"))
    for name in ("power_lambdas_", "power_mean_", "power_std_"):
        torch.testing.assert_close(getattr(loaded, name), getattr(model, name), rtol=0, atol=0)
    new = np.exp(np.random.default_rng(8).normal(size=(9, 4)))
    np.testing.assert_array_equal(loaded.decision_function(new), model.decision_function(new))


def test_save_creates_parent_folder_and_leaves_no_temp_file(image_model, tmp_path):
    path = image_model.save(tmp_path / "models" / "m.pt")
    assert path.is_file()
    assert [p.name for p in path.parent.iterdir()] == ["m.pt"]
    image_model.save(path)  # overwrite in place
    assert [p.name for p in path.parent.iterdir()] == ["m.pt"]


def test_failed_save_keeps_old_file_and_removes_temp(image_model, tmp_path, monkeypatch):
    path = image_model.save(tmp_path / "m.pt")
    before = path.read_bytes()

    def broken_save(obj, handle):
        handle.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        image_model.save(path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["m.pt"]


def test_save_unfitted_detector_raises():
    with pytest.raises(ValueError, match="unfitted"):
        save_detector(MCOD(), "never-written.pt")


def test_load_missing_file(tmp_path):
    path = tmp_path / "absent.pt"
    with pytest.raises(FileNotFoundError, match="absent.pt"):
        load(path)


def test_load_text_file_is_not_a_model(tmp_path):
    path = tmp_path / "notes.pt"
    path.write_text("hello")
    with pytest.raises(ValueError, match="notes.pt") as info:
        load(path)
    assert "\n" not in str(info.value)


def test_load_wrong_format_tag(tmp_path):
    path = tmp_path / "other.pt"
    torch.save({"format": "something-else/3", "weights": torch.zeros(2)}, path)
    with pytest.raises(ValueError, match="format"):
        load(path)


def test_load_dict_without_format_tag(tmp_path):
    path = tmp_path / "weights.pt"
    torch.save({"weights": torch.zeros(2)}, path)
    with pytest.raises(ValueError, match="not an mcod model file"):
        load(path)


def test_load_truncated_file(image_model, tmp_path):
    path = image_model.save(tmp_path / "m.pt")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="m.pt") as info:
        load(path)
    assert "\n" not in str(info.value)


def test_load_random_bytes_is_not_a_model(tmp_path):
    path = tmp_path / "garbage.csv"
    path.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(ValueError, match="garbage.csv: not an mcod model file"):
        load(path)


def test_load_tagged_file_missing_fields(tmp_path):
    path = tmp_path / "partial.pt"
    torch.save({"format": FORMAT, "params": {}}, path)
    with pytest.raises(ValueError, match="damaged or incomplete"):
        load(path)


class _Payload:
    """Unpickling this would create a marker file: proof that code ran."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        from pathlib import Path

        return (Path.touch, (Path(self.marker),))


def test_load_refuses_pickled_objects(tmp_path):
    marker = tmp_path / "code-ran"
    path = tmp_path / "evil.pt"
    torch.save({"format": FORMAT, "payload": _Payload(str(marker))}, path)
    with pytest.raises(ValueError, match="refusing"):
        load(path)
    assert not marker.exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU fallback")
def test_model_saved_for_cuda_loads_on_cpu(image_model, tmp_path):
    clone = mcod.load(image_model.save(tmp_path / "m.pt"))
    clone.set_params(device="cuda")
    loaded = load(clone.save(tmp_path / "cuda.pt"))
    assert loaded.device_ == torch.device("cpu")
    assert loaded.get_params()["device"] == "cuda"
    with pytest.raises(ValueError, match="CUDA"):
        load(tmp_path / "cuda.pt", device="cuda")


def test_load_model_from_an_older_mcod_names_the_missing_setting(image_model, tmp_path):
    path = image_model.save(tmp_path / "m.pt")
    state = torch.load(path, weights_only=True)

    def drop_setting(node: object) -> None:  # wherever the config is stored
        if isinstance(node, dict):
            node.pop("average_weights_from", None)
            for value in node.values():
                drop_setting(value)

    drop_setting(state)
    torch.save(state, path)
    with pytest.raises(ValueError, match=r"average_weights_from.*older mcod"):
        load(path)


def test_save_onto_a_folder_is_refused_and_a_torch_device_is_saved_as_text(table_model, tmp_path):
    with pytest.raises(ValueError, match="is a folder; give a file name"):
        save_detector(table_model, tmp_path)
    table_model.set_params(device=torch.device("cpu"))
    try:
        assert load(save_detector(table_model, tmp_path / "d.pt")).device == "cpu"
    finally:
        table_model.set_params(device="cpu")


def test_image_model_saved_before_the_training_size_was_recorded_scores_without_a_warning(
    image_model, tmp_path
):
    path = image_model.save(tmp_path / "m.pt")
    state = torch.load(path, weights_only=True)
    del state["image_size_in"]
    torch.save(state, path)
    loaded = load(path)
    assert loaded.image_size_in_ is None
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        scores = loaded.decision_function(np.random.default_rng(2).random((4, 10, 10)))
    assert scores.shape == (4,)
    assert load(loaded.save(tmp_path / "again.pt")).image_size_in_ is None  # and saves again


def test_an_unusable_device_at_load_is_named_not_blamed_on_the_file(image_model, tmp_path):
    path = image_model.save(tmp_path / "m.pt")
    with pytest.raises(ValueError, match="'mps': mcod runs on cpu or cuda") as info:
        load(path, device="mps")
    assert "damaged" not in str(info.value)
