"""`mcod clean`: writes the inliers and outliers.csv, never touches the input, atomic output.

With one epoch on tiny data the model is not trusted to find the bright images; the cut is
set with --threshold (read off `mcod detect`'s scores.csv) to test the mechanics.
"""

from __future__ import annotations

import csv
import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from mcod.cli.main import main

FAST = ["--epochs", "1", "--batch-size", "20", "--device", "cpu", "--seed", "0", "--quiet"]


def _hashes(root: Path) -> dict[str, str]:
    files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


def _rows(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        return list(reader.fieldnames or []), list(reader)


@pytest.fixture
def image_folder(tmp_path: Path) -> Path:
    """24 dark 8x8 PNGs and 3 bright ones, half of them in a subfolder."""
    root = tmp_path / "photos"
    (root / "sub").mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(24):
        level = 220 if i < 3 else 20
        pixels = (rng.integers(0, 30, size=(8, 8)) + level).astype(np.uint8)
        Image.fromarray(pixels).save(root / ("sub" if i % 2 else "") / f"im{i:02d}.png")
    return root


@pytest.fixture
def table_npy(tmp_path: Path) -> Path:
    path = tmp_path / "table.npy"
    np.save(path, np.random.default_rng(1).normal(size=(40, 3)))
    return path


def test_clean_image_folder_with_threshold(tmp_path, image_folder):
    before = _hashes(image_folder)
    assert main(["detect", str(image_folder), *FAST, "--out", str(tmp_path / "d")]) == 0
    _, scored = _rows(tmp_path / "d" / "scores.csv")
    scores = sorted(float(r["score"]) for r in scored)
    threshold = (scores[-6] + scores[-5]) / 2  # the 5 highest scores are above it
    out = tmp_path / "clean"
    rc = main(["clean", str(image_folder), *FAST, "--threshold", repr(threshold),
               "--out", str(out)])  # fmt: skip
    assert rc == 0
    assert _hashes(image_folder) == before  # the input is never modified
    header, removed = _rows(out / "outliers.csv")
    assert header == ["path", "score", "rank"] and len(removed) == 5
    assert [int(r["rank"]) for r in removed] == [1, 2, 3, 4, 5]
    expected = {r["path"] for r in scored if float(r["score"]) > threshold}
    assert {r["path"] for r in removed} == expected
    kept = sorted(p.relative_to(out / "inliers") for p in (out / "inliers").rglob("*.png"))
    assert len(kept) + len(removed) == 24
    removed_rel = {Path(r["path"]).relative_to(image_folder) for r in removed}
    assert not removed_rel & set(kept) and any(p.parent.name == "sub" for p in kept)
    for rel in kept:  # byte-identical copies, same relative paths
        assert (out / "inliers" / rel).read_bytes() == (image_folder / rel).read_bytes()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp left


def test_clean_npy_with_contamination(tmp_path, table_npy):
    before = _hashes(table_npy)
    out = tmp_path / "out"
    assert main(["clean", "--npy", str(table_npy), *FAST, "--contamination", "0.1",
                 "--out", str(out)]) == 0  # fmt: skip
    assert _hashes(table_npy) == before
    X = np.load(table_npy)
    header, removed = _rows(out / "outliers.csv")
    assert header == ["index", "score", "rank"] and len(removed) == 4
    kept = np.load(out / "inliers.npy")
    assert len(kept) + len(removed) == len(X)
    mask = np.ones(len(X), bool)
    mask[[int(r["index"]) for r in removed]] = False
    np.testing.assert_array_equal(kept, X[mask])  # the other rows, in input order


def test_output_under_a_file_is_refused(tmp_path, table_npy, capsys):
    (tmp_path / "a-file").write_text("not a folder")
    out = tmp_path / "a-file" / "sub"
    assert main(["clean", "--npy", str(table_npy), *FAST, "--out", str(out)]) == 2
    assert "a-file is a file, not a folder" in capsys.readouterr().err


def test_a_cut_that_removes_everything_warns(tmp_path, table_npy, capsys):
    out = tmp_path / "out"
    assert main(["clean", "--npy", str(table_npy), *FAST, "--threshold", "-1000",
                 "--out", str(out)]) == 0  # fmt: skip
    assert "warning: --threshold -1000 removes every sample" in capsys.readouterr().err
    assert len(np.load(out / "inliers.npy")) == 0


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_clean_table_keeps_id_and_every_column(tmp_path, suffix):
    rng = np.random.default_rng(2)
    frame = pd.DataFrame({"id": [f"s{i}" for i in range(30)], "x": rng.normal(size=30),
                          "y": rng.normal(size=30), "note": ["text"] * 30})
    path = tmp_path / f"data{suffix}"
    frame.to_csv(path, index=False) if suffix == ".csv" else frame.to_parquet(path)
    before = _hashes(path)
    out = tmp_path / "out"
    rc = main(["clean", str(path), "--id-column", "id", "--columns", "x,y", *FAST,
               "--out", str(out)])  # fmt: skip
    assert rc == 0 and _hashes(path) == before
    header, removed = _rows(out / "outliers.csv")
    assert header == ["id", "score", "rank"] and len(removed) == 3
    written = out / f"inliers{suffix}"
    kept = pd.read_csv(written) if suffix == ".csv" else pd.read_parquet(written)
    assert list(kept.columns) == ["id", "x", "y", "note"]
    assert len(kept) + len(removed) == 30
    assert set(kept["id"]) == set(frame["id"]) - {r["id"] for r in removed}


@pytest.mark.parametrize("bom, line_end", [("", "\n"), ("\ufeff", "\r\n")])
def test_clean_csv_copies_kept_rows_as_written(tmp_path, bom, line_end):
    """Kept CSV rows are the input's text: leading zeros, number formats, booleans, empty
    cells and a repeated header survive, and outliers.csv names rows by the ids as written;
    a spreadsheet's byte-order mark and CRLF line ends are kept too."""
    lines = ["id,zip,n,price,flag,a,a"]
    for i in range(30):
        n = "" if i == 4 else str(i % 7)  # one gap: a parser would make the column float
        lines.append(f"{i:04d},0{3250 + i},{n},{i % 9}.50,{'TRUE' if i % 2 else 'FALSE'},{i},x")
    path = tmp_path / "data.csv"
    path.write_bytes((bom + line_end.join(lines) + line_end).encode())
    out = tmp_path / "out"
    rc = main(["clean", str(path), "--id-column", "id", "--columns", "price", *FAST,
               "--contamination", "0.1", "--out", str(out)])  # fmt: skip
    assert rc == 0
    _, removed = _rows(out / "outliers.csv")
    removed_ids = {r["id"] for r in removed}
    assert len(removed_ids) == 3 and all(len(i) == 4 for i in removed_ids)  # "0007", not "7"
    expected = [lines[0]] + [line for line in lines[1:] if line.split(",")[0] not in removed_ids]
    assert (out / "inliers.csv").read_bytes() == (bom + line_end.join(expected) + line_end).encode()


def test_existing_output_refused_then_overwritten(tmp_path, table_npy, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("old")
    args = ["clean", "--npy", str(table_npy), *FAST, "--threshold", "1e9", "--out", str(out)]
    assert main(args) == 2
    assert "exists; pass --overwrite" in capsys.readouterr().err
    assert (out / "keep.txt").read_text() == "old"
    assert main([*args, "--overwrite"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["inliers.npy", "outliers", "outliers.csv"]
    assert len(np.load(out / "inliers.npy")) == 40  # nothing scores above 1e9
    assert len(_rows(out / "outliers.csv")[1]) == 0
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_threshold_and_contamination_are_exclusive(tmp_path, table_npy, capsys):
    args = ["clean", "--npy", str(table_npy), "--threshold", "1", "--contamination", "0.1",
            "--out", str(tmp_path / "o")]  # fmt: skip
    assert main(args) == 2
    assert "not allowed with argument --threshold" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_output_inside_the_input_is_refused(image_folder, capsys):
    assert main(["clean", str(image_folder), *FAST, "--out", str(image_folder / "c")]) == 2
    assert "overlaps the input" in capsys.readouterr().err
    assert not (image_folder / "c").exists()


def test_output_in_a_folder_linked_from_the_input_is_refused(tmp_path, image_folder, capsys):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (image_folder / "link").symlink_to(elsewhere, target_is_directory=True)
    out = elsewhere / "clean"  # a rerun would read the first run's inliers through the link
    assert main(["clean", str(image_folder), *FAST, "--out", str(out)]) == 2
    assert f"(through a link to {elsewhere.resolve()})" in capsys.readouterr().err
    assert not out.exists()


def test_failure_leaves_no_partial_output(tmp_path, table_npy, monkeypatch):
    import mcod.cli.clean

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(mcod.cli.clean, "write_outliers_csv", boom)
    out = tmp_path / "out"
    assert main(["clean", "--npy", str(table_npy), *FAST, "--out", str(out)]) == 2
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["table.npy"]


def test_sigterm_while_writing_leaves_no_partial_output(tmp_path, table_npy, monkeypatch, capsys):
    import os
    import signal

    import mcod.cli.clean

    def terminated_midway(*args, **kwargs):  # as `kill` would, while the output is written
        os.kill(os.getpid(), signal.SIGTERM)

    monkeypatch.setattr(mcod.cli.clean, "write_outliers_csv", terminated_midway)
    out = tmp_path / "out"
    assert main(["clean", "--npy", str(table_npy), *FAST, "--out", str(out)]) == 143
    assert "mcod: terminated" in capsys.readouterr().err
    assert [p.name for p in tmp_path.iterdir()] == ["table.npy"]  # no .out.tmp-* folder
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # put back


def test_too_few_samples_for_the_contamination_are_noted(tmp_path, capsys):
    path = tmp_path / "five.npy"
    np.save(path, np.random.default_rng(0).normal(size=(5, 3)))
    assert main(["clean", "--npy", str(path), *FAST, "--out", str(tmp_path / "out")]) == 0
    captured = capsys.readouterr()
    assert "5 samples at contamination 0.1 expect 0.5 outliers" in captured.err
    assert "removed 1 outlier " in captured.out
    assert main(["detect", "--npy", str(path), *FAST, "--contamination", "0.2"]) == 0
    assert "mcod: note" not in capsys.readouterr().err  # 5 x 0.2 = one outlier's worth


def test_a_failed_final_rename_puts_the_previous_result_back(tmp_path, table_npy, monkeypatch):
    import mcod.io.folder_swap

    out = tmp_path / "out"
    assert main(["clean", "--npy", str(table_npy), *FAST, "--out", str(out)]) == 0
    before = _hashes(out)
    real_rename = Path.rename
    monkeypatch.setattr(mcod.io.folder_swap, "exchange", lambda a, b: False)  # the fallback

    def failing(self, target):  # the work folder's move into place fails
        if Path(target) == out and ".tmp-" in self.name:
            raise OSError("rename failed")
        return real_rename(self, target)

    monkeypatch.setattr(Path, "rename", failing)
    assert main(["clean", "--npy", str(table_npy), *FAST, "--out", str(out), "--overwrite"]) == 2
    assert _hashes(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "table.npy"]


def test_sigterm_while_the_old_result_is_removed_leaves_no_old_folder(
    tmp_path, table_npy, monkeypatch
):
    import os
    import shutil
    import signal

    out = tmp_path / "out"
    assert main(["clean", "--npy", str(table_npy), *FAST, "--out", str(out)]) == 0
    real_rmtree, calls = shutil.rmtree, []

    def terminated_while_removing(path, *args, **kwargs):
        calls.append(path)
        if len(calls) == 1:  # as `kill` would, just as the old result is being deleted
            os.kill(os.getpid(), signal.SIGTERM)
        return real_rmtree(path, *args, **kwargs)

    monkeypatch.setattr(shutil, "rmtree", terminated_while_removing)
    assert main(["clean", "--npy", str(table_npy), *FAST, "--out", str(out), "--overwrite"]) == 143
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "table.npy"]  # no .old-*
    assert sorted(p.name for p in out.iterdir()) == ["inliers.npy", "outliers", "outliers.csv"]


def test_clean_help_has_examples(capsys):
    assert main(["clean", "--help"]) == 0
    text = capsys.readouterr().out
    assert "examples:" in text and "mcod clean photos/" in text
    for option in ("--threshold", "--contamination", "--overwrite", "--id-column", "--out"):
        assert option in text


def test_clean_copies_quoted_multiline_short_and_mixed_end_rows_byte_for_byte(tmp_path):
    header = 'id,x,"note"\r\n'
    rows = []
    for i in range(30):
        x = 40 + i if i in (3, 11, 20) else i % 5
        note = ['"a, b"', '"two\nlines"', '"say ""hi"""', "plain", ""][i % 5]
        row = f"{i:03d},{x}" + ("" if i == 7 else f",{note}")  # row 7 is short
        rows.append(row + ("\r\n" if i % 2 else "\n"))
    path = tmp_path / "data.csv"
    path.write_bytes((header + "".join(rows)).encode())
    out = tmp_path / "out"
    assert main(["clean", str(path), "--id-column", "id", "--columns", "x", *FAST,
                 "--contamination", "0.1", "--out", str(out)]) == 0
    removed = {r["id"] for r in _rows(out / "outliers.csv")[1]}
    assert removed == {"003", "011", "020"}
    kept = header + "".join(r for r in rows if r[:3] not in removed)
    assert (out / "inliers.csv").read_bytes() == kept.encode()


def test_clean_copies_rows_under_a_bom_and_a_multiline_header_and_drops_blank_lines(tmp_path):
    header = '\ufeff"x\nvalue",note\r\n'
    rows = [f'{40 + i if i == 5 else i % 4},"n{i}"\r\n' for i in range(30)]
    path = tmp_path / "data.csv"
    path.write_bytes((header + "".join(rows[:10]) + "   \r\n" + "".join(rows[10:])).encode())
    out = tmp_path / "out"
    assert main(["clean", str(path), "--columns", "x\nvalue", *FAST, "--threshold", "1e9",
                 "--out", str(out)]) == 0
    assert (out / "inliers.csv").read_bytes() == (header + "".join(rows)).encode()
