"""`mcod clean` from what a user has: a saved model (--model, no training), the scores.csv
`mcod detect` wrote (--scores, checked against the input), with --report, --save-model,
and the removed samples copied to DIR/outliers/ for review."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import mcod
from mcod.cli.main import main
from mcod.cuts import DEFAULT_METHOD
from mcod.detector import MCOD

FAST = ["--epochs", "1", "--batch-size", "20", "--device", "cpu", "--seed", "0", "--quiet"]


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def detected(tmp_path_factory) -> Path:
    """An image folder, and `mcod detect` run on it: scored/scores.csv and m.pt."""
    root = tmp_path_factory.mktemp("detected")
    photos = root / "photos"
    (photos / "sub").mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(24):
        pixels = (rng.integers(0, 30, size=(8, 8)) + (220 if i < 3 else 20)).astype(np.uint8)
        Image.fromarray(pixels).save(photos / ("sub" if i % 2 else "") / f"im{i:02d}.png")
    assert main(["detect", str(photos), *FAST, "--out", str(root / "scored"),
                 "--save-model", str(root / "m.pt")]) == 0  # fmt: skip
    return root


@pytest.fixture
def no_training(monkeypatch):
    """Any training fails the test."""
    def refuse(*args, **kwargs):
        raise AssertionError("clean trained a model")

    monkeypatch.setattr(MCOD, "fit", refuse)
    monkeypatch.setattr("mcod.detector.train", refuse)


def _flagged(detected: Path) -> list[str]:
    """The paths detect labelled outliers, most outlying first."""
    rows = sorted(_rows(detected / "scored" / "scores.csv"), key=lambda r: int(r["rank"]))
    return [r["path"] for r in rows if r["label"] == "1"]


def _review(out: Path, photos: Path) -> list[Path]:
    return sorted(p.relative_to(out / "outliers") for p in (out / "outliers").rglob("*.png"))


def test_clean_with_a_model_trains_nothing_and_cuts_at_its_threshold(detected, tmp_path,
                                                                     no_training):
    photos, out = detected / "photos", tmp_path / "clean"
    assert main(["clean", str(photos), "--model", str(detected / "m.pt"), "--device", "cpu",
                 "--quiet", "--out", str(out)]) == 0  # fmt: skip
    removed = [r["path"] for r in _rows(out / "outliers.csv")]
    assert removed == _flagged(detected) and removed
    kept = sorted(p.relative_to(out / "inliers") for p in (out / "inliers").rglob("*.png"))
    assert len(kept) + len(removed) == 24
    review = _review(out, photos)
    assert review == sorted(Path(p).relative_to(photos) for p in removed)
    for rel in review:  # byte-identical copies for review, same relative paths
        assert (out / "outliers" / rel).read_bytes() == (photos / rel).read_bytes()


def test_clean_with_a_model_can_cut_anew_and_writes_a_report(detected, tmp_path, no_training,
                                                             capsys):
    out, report = tmp_path / "clean", tmp_path / "report"
    assert main(["clean", str(detected / "photos"), "--model", str(detected / "m.pt"),
                 "--threshold-method", "iqr", "--device", "cpu", "--quiet", "--out", str(out),
                 "--report", str(report)]) == 0  # fmt: skip
    assert "threshold method IQR" in capsys.readouterr().out
    assert (report / "index.html").is_file()


def test_clean_from_scores_removes_what_detect_labelled(detected, tmp_path, no_training):
    out = tmp_path / "clean"
    assert main(["clean", str(detected / "photos"), "--scores",
                 str(detected / "scored" / "scores.csv"), "--out", str(out), "--quiet"]) == 0
    assert [r["path"] for r in _rows(out / "outliers.csv")] == _flagged(detected)
    assert len(_review(out, detected / "photos")) == len(_flagged(detected))


def test_clean_from_scores_cuts_them_by_a_method(detected, tmp_path, capsys):
    from mcod.cuts import thresholder, thresholder_cut

    scored = _rows(detected / "scored" / "scores.csv")
    _, labels = thresholder_cut(thresholder("iqr"), np.array([float(r["score"]) for r in scored]))
    assert main(["clean", str(detected / "photos"), "--scores",
                 str(detected / "scored" / "scores.csv"), "--threshold-method", "iqr",
                 "--out", str(tmp_path / "c")]) == 0  # fmt: skip
    assert len(_rows(tmp_path / "c" / "outliers.csv")) == labels.sum()
    assert "threshold method IQR" in capsys.readouterr().out


def _label(line: str, label: str) -> str:
    key, score, _, rank = line.split(",")
    return ",".join([key, score, label, rank])


def _scores_file(tmp_path: Path, detected: Path, change) -> Path:
    lines = (detected / "scored" / "scores.csv").read_text().splitlines(keepends=True)
    path = tmp_path / "scores.csv"
    path.write_text("".join(change(lines)))
    return path


@pytest.mark.parametrize(("change", "message"), [
    (lambda lines: lines[:-1], "has 23 rows, the input 24 samples: the scores are of other data"),
    (lambda lines: [lines[0], lines[2], lines[1], *lines[3:]], "line 2 is"),
    (lambda lines: ["index" + lines[0][4:], *lines[1:]], "names its rows by 'index'"),
    (lambda lines: [lines[0], _label(lines[1], "7"), *lines[2:]], "line 2: the score"),
    (lambda lines: ["a,b\n"], "is not a scores.csv from 'mcod detect --out'"),
], ids=["a row fewer", "rows swapped", "other key column", "bad label", "other file"])
def test_scores_of_other_data_are_refused(detected, tmp_path, capsys, change, message):
    scores = _scores_file(tmp_path, detected, change)
    out = tmp_path / "clean"
    assert main(["clean", str(detected / "photos"), "--scores", str(scores), "--quiet",
                 "--out", str(out)]) == 2  # fmt: skip
    err = capsys.readouterr().err
    assert err.startswith("mcod: error: ") and message in err and err.count("\n") == 1
    assert not out.exists()


def test_scores_of_the_folder_given_another_way_are_accepted(detected, tmp_path, monkeypatch):
    monkeypatch.chdir(detected)  # detect was given the absolute path; clean a relative one
    assert main(["clean", "photos", "--scores", str(detected / "scored" / "scores.csv"),
                 "--out", str(tmp_path / "c"), "--quiet"]) == 0  # fmt: skip


@pytest.mark.parametrize(("extra", "message"), [
    (["--scores", "s.csv", "--report", "r"], "--report needs a model"),
    (["--model", "m.pt", "--epochs", "2"], "--epochs apply only when clean trains"),
    (["--model", "m.pt", "--save-model", "n.pt"], "--save-model apply only when clean trains"),
    (["--model", "m.pt", "--float64"], "--float64 apply only when clean trains"),
    (["--model", "m.pt", "--scores", "s.csv"], "not allowed with argument --model"),
    (["--threshold", "1", "--threshold-method", "iqr"], "not allowed with argument"),
])
def test_options_that_cannot_apply_are_refused(tmp_path, capsys, extra, message):
    assert main(["clean", str(tmp_path), *extra, "--out", str(tmp_path / "o")]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_report_and_model_inside_out_are_refused(tmp_path, capsys):
    rows = tmp_path / "rows.npy"
    np.save(rows, np.zeros((10, 2)))
    out = tmp_path / "o"
    for extra in (["--report", str(out / "r")], ["--save-model", str(out / "m.pt")]):
        assert main(["clean", str(rows), *extra, "--out", str(out)]) == 2
        assert "which clean replaces whole" in capsys.readouterr().err
    assert not out.exists()


def test_a_trained_clean_saves_its_model_with_the_label_free_cut(tmp_path):
    rows = np.random.default_rng(1).normal(size=(60, 3))
    rows[:3] += 8
    np.save(tmp_path / "rows.npy", rows)
    out, model = tmp_path / "clean", tmp_path / "m.pt"
    assert main(["clean", str(tmp_path / "rows.npy"), *FAST, "--contamination", "auto",
                 "--save-model", str(model), "--out", str(out)]) == 0  # fmt: skip
    loaded = mcod.load(model)
    assert type(loaded.contamination).__name__ == DEFAULT_METHOD.upper()
    removed = [int(r["index"]) for r in _rows(out / "outliers.csv")]
    assert removed == list(np.flatnonzero(loaded.labels_)[np.argsort(
        -loaded.decision_scores_[loaded.labels_ == 1], kind="stable")])
    review = np.load(out / "outliers" / "removed.npy")  # removed rows, most outlying first
    np.testing.assert_array_equal(review, rows[removed])
    assert len(np.load(out / "inliers.npy")) == 60 - len(removed)


def test_a_table_review_holds_the_removed_rows_as_written(tmp_path):
    lines = ["id,a,b\n"] + [f"r{i},{i % 5}.0,{(i * 7) % 3}\n" for i in range(30)]
    lines[5] = "r4,90.0,  80\n"  # far out, with its own spacing
    (tmp_path / "t.csv").write_text("".join(lines))
    out = tmp_path / "clean"
    assert main(["clean", str(tmp_path / "t.csv"), *FAST, "--id-column", "id",
                 "--contamination", "0.1", "--out", str(out)]) == 0  # fmt: skip
    removed = [r["id"] for r in _rows(out / "outliers.csv")]
    review = (out / "outliers" / "removed.csv").read_text().splitlines(keepends=True)
    assert review[0] == lines[0]
    assert [line.split(",")[0] for line in review[1:]] == removed
    assert "r4,90.0,  80\n" in review
