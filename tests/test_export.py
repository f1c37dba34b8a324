"""ONNX export: onnxruntime's scores of the exported graph match mcod's (within float32
rounding: at most 1e-4 x max(1, the largest score) apart, in the same rank order) on
tables, images and the pretrained encoder's path, and the metadata says what the input
needs."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pandas as pd
import pytest
from tiny import TINY

import mcod
from mcod import MCOD, get_config
from mcod.cli.main import main
from mcod.export import ExportUnavailableError, export_onnx

TABLE = get_config("tabular").replace(members=2, feature_dim=8, embedding_dim=4, n_memory=2)
TOLERANCE = 1e-4  # x max(1, the largest score): float32 kernels of onnxruntime vs torch's


def _onnx_scores(path: Path, x: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (name,) = [i.name for i in session.get_inputs()]
    return session.run(None, {name: x})[0]


def _metadata(path: Path) -> dict[str, str]:
    return {entry.key: entry.value for entry in onnx.load(str(path)).metadata_props}


def _agree(onnx_scores: np.ndarray, scores: np.ndarray) -> None:
    assert onnx_scores.shape == scores.shape
    assert np.abs(onnx_scores - scores).max() <= TOLERANCE * max(1.0, np.abs(scores).max())
    assert np.array_equal(np.argsort(-onnx_scores, kind="stable"),
                          np.argsort(-scores, kind="stable"))


def test_a_table_model_scores_raw_rows_the_same(tmp_path):
    rng = np.random.default_rng(0)
    rows = rng.normal(size=(80, 4)) * [1, 10, 100, 1e-3] + [0, 5, 1e6, 0]
    rows[:6] += 5 * rows.std(axis=0)
    frame = pd.DataFrame(rows, columns=["a", "b", "c", "d"])
    detector = MCOD(config=TABLE, epochs=2, device="cpu", random_state=0).fit(frame)
    path = export_onnx(detector, tmp_path / "table.onnx")
    new = rng.normal(size=(30, 4)) * [1, 10, 100, 1e-3] + [0, 5, 1e6, 0]
    scores = detector.decision_function(pd.DataFrame(new, columns=list("abcd")))
    _agree(_onnx_scores(path, new), scores)
    metadata = _metadata(path)
    spec = json.loads(metadata["mcod.preprocessing"])
    assert spec["input"] == "rows" and spec["dtype"] == "float64" and spec["shape"] == ["N", 4]
    assert spec["columns"] == ["a", "b", "c", "d"]
    assert float(metadata["mcod.threshold"]) == detector.threshold_


def test_an_image_model_scores_the_scaled_images_the_same(tmp_path):
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (60, 8, 8), dtype=np.uint8)  # at the network's side
    detector = MCOD(config=TINY, epochs=2, device="cpu", random_state=0).fit(images)
    path = export_onnx(detector, tmp_path / "images.onnx")
    x = (images[:, None] / np.float32(255)).astype(np.float32)  # the metadata's scaling
    _agree(_onnx_scores(path, x), detector.decision_function(images))
    spec = json.loads(_metadata(path)["mcod.preprocessing"])
    assert spec["shape"] == ["N", 1, 8, 8] and spec["pixel_range"] == [0.0, 255.0]


def test_the_pretrained_path_encodes_and_whitens_in_the_graph(tmp_path):
    rng = np.random.default_rng(2)
    side = get_config("default").encoder_size
    images = rng.integers(0, 256, (24, side, side, 3), dtype=np.uint8)
    detector = MCOD(config="default", epochs=1, device="cpu", random_state=0,
                    feature_cache=None).fit(images)
    path = export_onnx(detector, tmp_path / "pretrained.onnx")
    x = (images / np.float32(255)).astype(np.float32).transpose(0, 3, 1, 2).copy()
    _agree(_onnx_scores(path, x), detector.decision_function(images))
    spec = json.loads(_metadata(path)["mcod.preprocessing"])
    assert spec["shape"] == ["N", 3, side, side]


def test_the_command_writes_the_graph_and_refuses_the_model_as_output(tmp_path, capsys):
    rows = tmp_path / "rows.npy"
    np.save(rows, np.random.default_rng(3).normal(size=(40, 3)))
    model = tmp_path / "m.pt"
    assert main(["detect", "--npy", str(rows), "--epochs", "1", "--quiet", "--top", "0",
                 "--save-model", str(model)]) == 0
    assert main(["export", str(model), "--onnx", str(tmp_path / "m.onnx")]) == 0
    assert "input 'rows' float64" in capsys.readouterr().out
    scores = _onnx_scores(tmp_path / "m.onnx", np.load(rows))
    _agree(scores, mcod.load(model).decision_function(np.load(rows)))
    assert main(["export", str(model), "--onnx", str(model)]) == 2
    assert "would overwrite the input" in capsys.readouterr().err


def test_without_onnx_the_export_says_what_to_install(tmp_path, monkeypatch):
    detector = MCOD(config=TABLE, epochs=1, device="cpu", random_state=0).fit(
        np.random.default_rng(4).normal(size=(30, 3)))
    monkeypatch.setitem(sys.modules, "onnx", None)  # import onnx raises ImportError
    with pytest.raises(ExportUnavailableError, match=r"pip install 'mcod\[export\]'"):
        export_onnx(detector, tmp_path / "x.onnx")
    assert not (tmp_path / "x.onnx").exists()


def test_yeo_johnson_models_are_refused(tmp_path):
    detector = MCOD(config=TABLE.replace(table_yeo_johnson=True), epochs=1, device="cpu",
                    random_state=0).fit(np.random.default_rng(5).normal(size=(30, 3)))
    with pytest.raises(ValueError, match="table_yeo_johnson"):
        export_onnx(detector, tmp_path / "x.onnx")
