"""ONNX export: onnxruntime's scores of the exported graph match mcod's, in the same rank
order (samples sorted by score from the most outlying down, exactly equal scores in index
order), on tables, images and the pretrained encoder's path, within what each path can
hold: tables run in float64 throughout (1e-9 of the largest score), images through the
network's own float32 convolutions (1e-5), images through the frozen encoder's (1e-4: its
float32 rounding, magnified by the whitening), image models of ``image_float64`` in float64
throughout (1e-12); and the metadata says what the input needs."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pandas as pd
import pytest
import torch
from tiny import TINY

import mcod
from mcod import MCOD, get_config
from mcod.cli.main import main
from mcod.export import ExportUnavailableError, export_onnx

TABLE = get_config("tabular").replace(members=2, feature_dim=8, embedding_dim=4, n_memory=2)
# the largest |onnx - mcod| allowed, as a share of the largest score: the float64 graph of
# a table model; float32 convolutions (onnxruntime's kernels round unlike torch's), then
# float64; the frozen encoder's float32 convolutions, magnified by the whitened distance;
# image models of image_float64, float64 throughout
TABLES, IMAGES, PRETRAINED, FLOAT64 = 1e-9, 1e-5, 1e-4, 1e-12


def _onnx_scores(path: Path, x: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (name,) = [i.name for i in session.get_inputs()]
    return session.run(None, {name: x})[0]


def _metadata(path: Path) -> dict[str, str]:
    return {entry.key: entry.value for entry in onnx.load(str(path)).metadata_props}


def _ranking(scores: np.ndarray) -> np.ndarray:
    """From the most outlying down; exactly equal scores in index order."""
    return np.argsort(-scores, kind="stable")


def _agree(onnx_scores: np.ndarray, scores: np.ndarray, tolerance: float) -> None:
    assert onnx_scores.shape == scores.shape and onnx_scores.dtype == np.float64
    assert np.abs(onnx_scores - scores).max() <= tolerance * np.abs(scores).max()
    assert np.array_equal(_ranking(onnx_scores), _ranking(scores))


def test_a_table_model_scores_raw_rows_the_same(tmp_path):
    rng = np.random.default_rng(0)
    rows = rng.normal(size=(80, 4)) * [1, 10, 100, 1e-3] + [0, 5, 1e6, 0]
    rows[:6] += 5 * rows.std(axis=0)
    frame = pd.DataFrame(rows, columns=["a", "b", "c", "d"])
    detector = MCOD(config=TABLE, epochs=2, device="cpu", random_state=0).fit(frame)
    path = export_onnx(detector, tmp_path / "table.onnx")
    # enough rows for near ties (in float32, hundreds of pairs changed places), and
    # duplicates, which both must score exactly alike (the tie goes by index)
    new = rng.normal(size=(2000, 4)) * [1, 10, 100, 1e-3] + [0, 5, 1e6, 0]
    new[1500:] = new[:500]
    scores = detector.decision_function(pd.DataFrame(new, columns=list("abcd")))
    onnx_scores = _onnx_scores(path, new)
    _agree(onnx_scores, scores, TABLES)
    assert np.array_equal(scores[1500:], scores[:500])
    assert np.array_equal(onnx_scores[1500:], onnx_scores[:500])
    metadata = _metadata(path)
    spec = json.loads(metadata["mcod.preprocessing"])
    assert spec["input"] == "rows" and spec["dtype"] == "float64" and spec["shape"] == ["N", 4]
    assert spec["columns"] == ["a", "b", "c", "d"]
    assert float(metadata["mcod.threshold"]) == detector.threshold_


def test_a_novelty_table_model_adds_its_local_terms_in_float64(tmp_path):
    rng = np.random.default_rng(3)
    config = get_config("tabular").replace(reference_trim=0.3, members=1)
    detector = MCOD(config=config, epochs=2, device="cpu", random_state=0,
                    novelty=True).fit(rng.normal(size=(300, 5)))
    path = export_onnx(detector, tmp_path / "novelty.onnx")
    new = rng.normal(size=(2000, 5)) * 1.2
    _agree(_onnx_scores(path, new), detector.decision_function(new), TABLES)


def test_an_image_model_scores_the_scaled_images_the_same(tmp_path):
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (60, 8, 8), dtype=np.uint8)  # at the network's side
    detector = MCOD(config=TINY, epochs=2, device="cpu", random_state=0).fit(images)
    path = export_onnx(detector, tmp_path / "images.onnx")
    new = rng.integers(0, 256, (1000, 8, 8), dtype=np.uint8)  # enough for near ties
    x = (new[:, None] / np.float32(255)).astype(np.float32)  # the metadata's scaling
    _agree(_onnx_scores(path, x), detector.decision_function(new), IMAGES)
    spec = json.loads(_metadata(path)["mcod.preprocessing"])
    assert spec["shape"] == ["N", 1, 8, 8] and spec["pixel_range"] == [0.0, 255.0]


@pytest.mark.parametrize("novelty", [False, True])
def test_the_pretrained_path_encodes_and_whitens_in_the_graph(tmp_path, novelty):
    """With novelty, the local terms' kept rows and neighbour searches too."""
    rng = np.random.default_rng(2)
    side = get_config("default").encoder_size
    images = rng.integers(0, 256, (24, side, side, 3), dtype=np.uint8)
    detector = MCOD(config="default", epochs=1, device="cpu", random_state=0,
                    feature_cache=None, novelty=novelty).fit(images)
    assert detector.config_.local_terms == novelty
    path = export_onnx(detector, tmp_path / "pretrained.onnx")
    x = (images / np.float32(255)).astype(np.float32).transpose(0, 3, 1, 2).copy()
    _agree(_onnx_scores(path, x), detector.decision_function(images), PRETRAINED)
    spec = json.loads(_metadata(path)["mcod.preprocessing"])
    assert spec["shape"] == ["N", 3, side, side]
    model = onnx.load(str(path))
    onnx.checker.check_model(model)
    # the whitener (D x D float32 values, computed with in float64) and the kept rows are
    # stored as float32; only the column statistics (D each) are float64 values
    assert max(np.prod(i.dims) for i in model.graph.initializer
               if i.data_type == onnx.TensorProto.DOUBLE) < 10_000


@pytest.mark.parametrize("kind", ["scratch", "default", "default-novelty"])
def test_float64_image_models_score_as_mcod_does_to_rounding(tmp_path, kind):
    """With image_float64 nothing between the graph's input and its scores is float32 (the
    encoder, the rows into the head, a novelty model's kept rows), and its scores are
    mcod's to float64 rounding, in the same order; mcod's own do not move with the batch."""
    rng = np.random.default_rng(5)
    if kind == "scratch":
        images = rng.integers(0, 256, (60, 8, 8), dtype=np.uint8)
        config, new = TINY.replace(image_float64=True), rng.integers(0, 256, (1000, 8, 8),
                                                                     dtype=np.uint8)
        x = (new[:, None] / np.float32(255)).astype(np.float32)
    else:
        side = get_config("default").encoder_size
        images = rng.integers(0, 256, (24, side, side, 3), dtype=np.uint8)
        config, new = get_config("default").replace(image_float64=True), images
        x = (new / np.float32(255)).astype(np.float32).transpose(0, 3, 1, 2).copy()
    fitted = MCOD(config=config, epochs=1, device="cpu", random_state=0, feature_cache=None,
                  novelty=kind.endswith("novelty")).fit(images)
    detector = mcod.load(fitted.save(tmp_path / "float64.pt"))  # the rows stay float64 too
    features, _ = detector.embed(new[:5])  # (the head's float32 features, for reports)
    assert features.dtype == np.float32 and len(features) == 5
    path = export_onnx(detector, tmp_path / "float64.onnx")
    nodes = onnx.load(str(path)).graph.node
    assert not {n.op_type for n in nodes} & {"Conv", "AveragePool", "GlobalAveragePool"}
    to_float32 = [n.name for n in nodes if n.op_type == "Cast"
                  and onnx.helper.get_attribute_value(n.attribute[0]) == onnx.TensorProto.FLOAT]
    assert to_float32 == []
    scores = detector.decision_function(new)
    np.testing.assert_array_equal(scores, fitted.decision_function(new))
    _agree(_onnx_scores(path, x), scores, FLOAT64)
    in_sevens = np.concatenate([detector.decision_function(new[i:i + 7])
                                for i in range(0, len(new), 7)])
    assert np.abs(in_sevens - scores).max() <= FLOAT64 * np.abs(scores).max()


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch.jit.script, in torch 2.x
def test_a_torchscript_encoder_is_refused_in_a_sentence(tmp_path):
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU()).eval()
    torch.jit.script(net).save(str(tmp_path / "net.pt"))
    config = get_config("default").replace(encoder=str(tmp_path / "net.pt"), encoder_size=16)
    images = np.random.default_rng(6).integers(0, 256, (30, 16, 16, 3), dtype=np.uint8)
    detector = MCOD(config=config, epochs=1, device="cpu", random_state=0,
                    feature_cache=None).fit(images)
    with pytest.raises(ValueError, match="does not cover TorchScript encoders"):
        export_onnx(detector, tmp_path / "x.onnx")
    assert not (tmp_path / "x.onnx").exists()


def test_the_command_writes_the_graph_and_refuses_the_model_as_output(tmp_path, capsys):
    rows = tmp_path / "rows.npy"
    np.save(rows, np.random.default_rng(3).normal(size=(40, 3)))
    model = tmp_path / "m.pt"
    assert main(["detect", "--npy", str(rows), "--epochs", "1", "--quiet", "--top", "0",
                 "--save-model", str(model)]) == 0
    assert main(["export", str(model), "--onnx", str(tmp_path / "m.onnx")]) == 0
    assert "input 'rows' float64" in capsys.readouterr().out
    scores = _onnx_scores(tmp_path / "m.onnx", np.load(rows))
    _agree(scores, mcod.load(model).decision_function(np.load(rows)), TABLES)
    assert main(["export", str(model), "--onnx", str(model)]) == 2
    assert "would overwrite the input" in capsys.readouterr().err


def test_without_onnx_the_export_says_what_to_install(tmp_path, monkeypatch):
    detector = MCOD(config=TABLE, epochs=1, device="cpu", random_state=0).fit(
        np.random.default_rng(4).normal(size=(30, 3)))
    monkeypatch.setitem(sys.modules, "onnx", None)  # import onnx raises ImportError
    with pytest.raises(ExportUnavailableError, match=r"needs the onnx package: pip install onnx"):
        export_onnx(detector, tmp_path / "x.onnx")
    assert not (tmp_path / "x.onnx").exists()


def test_yeo_johnson_models_are_refused(tmp_path):
    detector = MCOD(config=TABLE.replace(table_yeo_johnson=True), epochs=1, device="cpu",
                    random_state=0).fit(np.random.default_rng(5).normal(size=(30, 3)))
    with pytest.raises(ValueError, match="table_yeo_johnson"):
        export_onnx(detector, tmp_path / "x.onnx")
