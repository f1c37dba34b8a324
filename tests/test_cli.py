"""The command line, run in-process through ``mcod.cli.main.main`` (tiny data, one epoch)."""

from __future__ import annotations

import contextlib
import csv
import io
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy.stats import spearmanr

import mcod
from mcod.cli.main import main

FAST = ["--epochs", "1", "--batch-size", "20", "--device", "cpu"]


def _read_csv(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        return list(reader.fieldnames or []), list(reader)


@pytest.fixture(scope="module")
def npy_run(tmp_path_factory):
    """One `mcod detect --npy` run shared by several tests: (folder, stdout, rc)."""
    folder = tmp_path_factory.mktemp("npy-run")
    images = np.random.default_rng(0).integers(0, 256, size=(40, 8, 8), dtype=np.uint8)
    np.save(folder / "images.npy", images)
    out = io.StringIO()
    args = ["detect", "--npy", str(folder / "images.npy"), *FAST, "--out", str(folder / "out"),
            "--save-model", str(folder / "model.pt"), "--top", "5", "--quiet"]  # fmt: skip
    with contextlib.redirect_stdout(out):
        rc = main(args)
    return folder, out.getvalue(), rc


# --------------------------------------------------------------------------- help


def test_sizes_are_width_by_height_and_counts_have_separators_in_the_data_line():
    from mcod.cli.reading import describe

    wide = np.zeros((1200, 10, 12), np.uint8)  # 10 rows of 12 pixels
    assert describe(wide) == "1,200 images of 12x10 grey, dtype uint8"
    assert describe(np.zeros((3, 10, 12, 3))) == "3 images of 12x10 RGB, dtype float64"
    assert describe(np.zeros((3, 3, 10, 12))) == "3 images of 12x10 RGB, dtype float64"
    assert describe(np.zeros((2500, 1))) == "2,500 rows of 1 column, dtype float64"


def test_main_help_exits_zero_with_examples(capsys):
    assert main(["--help"]) == 0
    text = capsys.readouterr().out
    assert "examples:" in text
    assert "mcod detect photos/" in text
    assert "score" in text


def test_detect_help_explains_input_and_examples(capsys):
    assert main(["detect", "--help"]) == 0
    text = capsys.readouterr().out
    for option in ("--npy", "--contamination", "--config", "--out", "--save-model", "--top"):
        assert option in text
    assert "examples:" in text
    assert "scores.csv" in text


@pytest.mark.parametrize("command", [["detect"], ["score", "m.pt"], ["clean", "x", "--out", "o"],
                                     ["bench", "run"]])
def test_an_unknown_option_points_to_its_commands_help(command, capsys):
    assert main([*command, "--bogus"]) == 2
    name = " ".join(c for c in command if c not in ("m.pt", "x", "--out", "o"))
    assert capsys.readouterr().err == (
        f"mcod: error: unrecognized arguments: --bogus (see 'mcod {name} --help')\n")


def test_no_command_prints_help_and_returns_2(capsys):
    assert main([]) == 2
    assert "usage: mcod" in capsys.readouterr().out


def test_version(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.startswith("mcod ")


# --------------------------------------------------------------------------- detect


def test_detect_npy_writes_scores_csv(npy_run):
    folder, stdout, rc = npy_run
    assert rc == 0
    columns, rows = _read_csv(folder / "out" / "scores.csv")
    assert columns == ["index", "score", "label", "rank"]
    assert len(rows) == 40
    assert [int(r["index"]) for r in rows] == list(range(40))
    assert sorted(int(r["rank"]) for r in rows) == list(range(1, 41))
    assert {r["label"] for r in rows} <= {"0", "1"}
    assert sum(int(r["label"]) for r in rows) == 4
    by_rank = sorted(rows, key=lambda r: int(r["rank"]))
    scores = [float(r["score"]) for r in by_rank]
    assert scores == sorted(scores, reverse=True)
    assert "top 5 of 40" in stdout
    assert "4 of 40 samples labelled outliers" in stdout
    assert "wall time" in stdout
    assert (folder / "model.pt").is_file()
    assert [p.name for p in (folder / "out").iterdir()] == ["scores.csv"]


def test_score_with_saved_model_reproduces_detect(tmp_path, capsys):
    """A model that learnt from the pixels scores its training images as detect did."""
    images = np.random.default_rng(0).integers(0, 256, size=(40, 8, 8), dtype=np.uint8)
    np.save(tmp_path / "images.npy", images)
    args = ["--npy", str(tmp_path / "images.npy"), "--quiet"]
    assert main(["detect", *args, *FAST, "--config", "scratch", "--out", str(tmp_path / "out"),
                 "--save-model", str(tmp_path / "model.pt")]) == 0
    assert main(["score", str(tmp_path / "model.pt"), *args, "--out", str(tmp_path / "new")]) == 0
    assert "labelled outliers" in capsys.readouterr().out
    _, first = _read_csv(tmp_path / "out" / "scores.csv")
    _, again = _read_csv(tmp_path / "new" / "scores.csv")
    np.testing.assert_allclose(
        [float(r["score"]) for r in again], [float(r["score"]) for r in first], atol=1e-6
    )
    assert [r["label"] for r in again] == [r["label"] for r in first]


def test_float64_is_kept_with_the_model_and_its_export(tmp_path, capsys):
    images = np.random.default_rng(1).integers(0, 256, size=(40, 8, 8), dtype=np.uint8)
    np.save(tmp_path / "images.npy", images)
    assert main(["detect", "--npy", str(tmp_path / "images.npy"), "--quiet", *FAST,
                 "--config", "scratch", "--float64", "--save-model",
                 str(tmp_path / "model.pt")]) == 0
    model = mcod.load(tmp_path / "model.pt")
    assert model.config_.image_float64 and model.config_.name == "scratch"
    capsys.readouterr()
    assert main(["export", str(tmp_path / "model.pt"), "--onnx", str(tmp_path / "m.onnx")]) == 0
    assert "convolutions run in float32" not in capsys.readouterr().out  # (a note otherwise)


def test_score_with_a_pretrained_model_scores_its_training_images_as_new_ones(npy_run, tmp_path):
    """The default's fit scores each reference image by the half of the reference without
    it (cross-fitted); `score` sees new images, measured against the whole reference, as
    `decision_function` does: close to detect's ranking, not equal."""
    folder, _, rc = npy_run
    assert rc == 0
    out = tmp_path / "new"
    args = ["score", str(folder / "model.pt"), "--npy", str(folder / "images.npy")]
    assert main([*args, "--out", str(out), "--quiet"]) == 0
    _, first = _read_csv(folder / "out" / "scores.csv")
    _, again = _read_csv(out / "scores.csv")
    scores = [float(r["score"]) for r in again]
    model = mcod.load(folder / "model.pt")
    np.testing.assert_allclose(scores, model.decision_function(np.load(folder / "images.npy")),
                               rtol=1e-6)
    detect_scores = [float(r["score"]) for r in first]
    assert spearmanr(scores, detect_scores).statistic > 0.8


def test_detect_image_folder(tmp_path, capsys):
    folder = tmp_path / "photos"
    (folder / "more").mkdir(parents=True)
    rng = np.random.default_rng(1)
    files = []
    for i in range(12):
        path = folder / ("more" if i % 2 else ".") / f"img{i:02d}.png"
        Image.fromarray(rng.integers(0, 256, (8, 8), dtype=np.uint8), mode="L").save(path)
        files.append(path.resolve())
    out = tmp_path / "out"
    rc = main(["detect", str(folder), "--epochs", "1", "--batch-size", "6", "--device", "cpu",
               "--out", str(out), "--top", "3"])  # fmt: skip
    assert rc == 0
    stdout = capsys.readouterr().out
    assert "data: 12 images of 8x8 grey, dtype uint8" in stdout
    assert "top 3 of 12" in stdout
    columns, rows = _read_csv(out / "scores.csv")
    assert columns == ["path", "score", "label", "rank"]
    assert sorted(Path(r["path"]).resolve() for r in rows) == sorted(files)


def test_demo_prints_auroc(capsys):
    assert main(["detect", *FAST, "--quiet", "--top", "2", "--demo-class", "1"]) == 0
    stdout = capsys.readouterr().out
    assert "demo AUROC" in stdout
    assert "top 2 of" in stdout


# --------------------------------------------------------------------------- errors


def _nan_npy(folder: Path) -> str:
    data = np.zeros((10, 8, 8), np.float32)
    data[2, 3, 4] = np.nan
    np.save(folder / "nan.npy", data)
    return str(folder / "nan.npy")


def _empty_folder(folder: Path) -> str:
    (folder / "empty").mkdir()
    (folder / "empty" / "readme.txt").write_text("no images here")
    return str(folder / "empty")


def _zeros_npy(folder: Path) -> str:
    np.save(folder / "ok.npy", np.zeros((10, 8, 8), np.float32))
    return str(folder / "ok.npy")


def _table_npy(folder: Path) -> str:
    np.save(folder / "rows.npy", np.random.default_rng(0).normal(size=(30, 3)))
    return str(folder / "rows.npy")


ERROR_CASES = {
    "missing-npy": (lambda d: ["detect", "--npy", str(d / "absent.npy")], "no such file"),
    "nan-npy": (lambda d: ["detect", "--npy", _nan_npy(d)], "non-finite"),
    "contamination": (lambda d: ["detect", "--contamination", "0.7"],
                      "--contamination must be in (0, 0.5], got 0.7"),
    "unknown-config": (lambda d: ["detect", "--config", "huge"], "invalid choice"),
    "no-images": (lambda d: ["detect", _empty_folder(d)], "no image files"),
    "missing-folder": (lambda d: ["detect", str(d / "nowhere")], "folder not found"),
    "both-inputs": (lambda d: ["detect", str(d), "--npy", _zeros_npy(d)], "not both"),
    "npy-folder": (lambda d: ["detect", "--npy", str(d)], "is a folder, not a .npy file"),
    "device-mps": (lambda d: ["detect", "--device", "mps"], "mcod runs on cpu or cuda"),
    "device-typo": (lambda d: ["detect", "--device", "gpu"], "use auto, cpu, cuda or cuda:N"),
    "batch-size": (lambda d: ["detect", "--batch-size", "1"], "--batch-size: must be at least 2"),
    "seed-range": (lambda d: ["detect", "--seed", "-1"], "--seed: must be in 0..4294967295"),
    "seed-text": (lambda d: ["detect", "--seed", "x"], "--seed: must be an integer, got 'x'"),
    "not-npy": (
        lambda d: ["detect", "--npy", str(Path(_empty_folder(d)) / "readme.txt")],
        "is not a .npy file",
    ),
    "bad-device": (lambda d: ["detect", "--npy", _zeros_npy(d), "--device", "tpu9"], "device"),
    "float64-table": (lambda d: ["detect", "--npy", _table_npy(d), "--float64"],
                      "tables score in float64 already"),
    "missing-model": (lambda d: ["score", str(d / "m.pt"), "--npy", _zeros_npy(d)], "not found"),
}


@pytest.mark.parametrize("case", sorted(ERROR_CASES))
def test_bad_input_returns_2_with_one_line_message(case, tmp_path, capsys):
    make_args, expected = ERROR_CASES[case]
    assert main([*make_args(tmp_path), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("mcod: error: ")
    assert err.count("\n") == 1, err
    assert expected in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("option", "make_target", "expected"),
    [
        ("--out", lambda d: d / "a-file", "--out"),
        ("--report", lambda d: d / "a-file", "--report"),
        ("--save-model", lambda d: d, "--save-model"),
        ("--out", lambda d: d / "a-file" / "sub", "--out"),
        ("--report", lambda d: d / "a-file" / "sub", "--report"),
        ("--save-model", lambda d: d / "a-file" / "m.pt", "--save-model"),
        ("--save-model", lambda d: f"{d / 'new-folder'}/", "--save-model"),
    ],
)
def test_unwritable_output_is_refused_before_training(option, make_target, expected,
                                                      tmp_path, capsys, monkeypatch):
    from mcod.detector import MCOD

    def no_training(*_args, **_kwargs):
        raise AssertionError("trained before checking the output paths")

    monkeypatch.setattr(MCOD, "fit", no_training)
    (tmp_path / "a-file").write_text("not a folder")
    args = ["detect", "--npy", _zeros_npy(tmp_path), option, str(make_target(tmp_path))]
    assert main([*args, "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"mcod: error: {expected} ") and err.count("\n") == 1


def test_npy_files_that_are_text_objects_or_truncated_are_named(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("just some text\n")
    np.save(tmp_path / "objects.npy", np.array([{"a": 1}, None], dtype=object))
    np.save(tmp_path / "cut.npy", np.zeros((50, 4)))
    (tmp_path / "cut.npy").write_bytes((tmp_path / "cut.npy").read_bytes()[:200])
    expected = {"notes.txt": r"is not a \.npy file \(it lacks the \.npy header\)",
                "objects.npy": "holds Python objects, not numbers; mcod does not unpickle",
                "cut.npy": "cannot read .*cut.npy as a .npy array"}
    for name, message in expected.items():
        assert main(["detect", "--npy", str(tmp_path / name), *FAST, "--quiet"]) == 2
        err = capsys.readouterr().err
        assert err.startswith("mcod: error: ") and re.search(message, err), err


def test_score_without_input_is_an_error(npy_run, capsys):
    folder, _, _ = npy_run
    assert main(["score", str(folder / "model.pt"), "--quiet"]) == 2
    assert "no input" in capsys.readouterr().err


def test_score_rejects_not_a_model(tmp_path, capsys):
    fake = tmp_path / "fake.pt"
    fake.write_text("not a model")
    assert main(["score", str(fake), "--npy", _zeros_npy(tmp_path), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("mcod: error: ") and "fake.pt" in err


def _grey_folder(folder: Path, n: int = 30) -> Path:
    rng = np.random.default_rng(3)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (8, 8), dtype=np.uint8)).save(folder / f"{i:02d}.png")
    return folder


def test_score_reads_a_folder_with_the_models_channels_and_refuses_a_table(tmp_path, capsys):
    train = _grey_folder(tmp_path / "train")
    (train / "notes.txt").write_text("not an image")
    model = tmp_path / "m.pt"
    assert main(["detect", str(train), *FAST, "--quiet", "--save-model", str(model)]) == 0
    assert ".txt (1)" in capsys.readouterr().err
    new = _grey_folder(tmp_path / "new", n=3)
    Image.new("RGB", (8, 8), (10, 200, 30)).save(new / "colour.png")  # one colour image
    assert main(["score", str(model), str(new), "--quiet"]) == 0  # read as grey, like training
    (tmp_path / "t.csv").write_text("a,b\n1,2\n3,4\n")
    assert main(["score", str(model), str(tmp_path / "t.csv")]) == 2
    assert "the model was fitted on images, but" in capsys.readouterr().err


def test_score_warns_on_one_line_when_images_are_another_size(tmp_path, capsys):
    model = tmp_path / "m.pt"
    train = _grey_folder(tmp_path / "train")
    assert main(["detect", str(train), *FAST, "--quiet", "--save-model", str(model)]) == 0
    new = tmp_path / "big"
    new.mkdir()
    for i in range(3):
        Image.new("L", (12, 10), 40 * i).save(new / f"{i}.png")  # 10 rows of 12
    capsys.readouterr()
    assert main(["score", str(model), str(new), "--quiet", "--report", str(tmp_path / "r")]) == 0
    err = capsys.readouterr().err.splitlines()  # once, though the report reads them again
    assert err == ["mcod: warning: these images are 12x10, the model was fitted on 8x8 images; "
                   "they are resized to 128x128, the network's input, as those were, so their "
                   "scores are not strictly comparable"]


def test_left_out_files_are_noted(tmp_path, capsys):
    folder = _grey_folder(tmp_path / "f")
    (folder / "a.txt").write_text("x")
    (folder / "b.txt").write_text("x")
    assert main(["detect", str(folder), *FAST, "--quiet"]) == 0
    assert "2 file(s) that are not images mcod reads are left out: .txt (2)" in (
        capsys.readouterr().err)
