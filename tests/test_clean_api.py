"""The Python side of `mcod clean`: write_clean_copy (and CleanFolder) write an array, a
DataFrame, CSV records and an image folder without their outliers, with the command's
safety: the input only read, out replaced whole only when asked, an interrupted write
leaving what was there. Labels and scores are made up here: no detector is trained."""

from __future__ import annotations

import csv
import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import mcod
import mcod.io.cleaning
from mcod.io.cleaning import CleanFolder, CsvRecords, write_clean_copy

N = 20


def _hashes(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def _outliers_csv(path: Path) -> list[list[str]]:
    with path.open(newline="") as handle:
        return list(csv.reader(handle))


@pytest.fixture
def cut() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Scores of N samples, a mask of the 4 highest, and those 4 most outlying first."""
    scores = np.random.default_rng(0).permutation(N).astype(np.float64) / N
    removed = np.argsort(-scores)[:4]
    mask = np.zeros(N, dtype=bool)
    mask[removed] = True
    return scores, mask, removed


@pytest.fixture
def images(tmp_path: Path) -> tuple[Path, list[Path]]:
    """N small files named as images, half in a subfolder (their bytes are only copied)."""
    root = tmp_path / "photos"
    (root / "sub").mkdir(parents=True)
    paths = [root / ("sub" if i % 2 else "") / f"im{i:02d}.png" for i in range(N)]
    for i, path in enumerate(paths):
        path.write_bytes(bytes([i]) * (10 + i))
    return root, paths


def test_mcod_exports_write_clean_copy():
    assert mcod.write_clean_copy is write_clean_copy
    assert "write_clean_copy" in mcod.__all__


def test_array_round_trip(tmp_path, cut):
    scores, mask, removed = cut
    X = np.random.default_rng(1).normal(size=(N, 3))
    copy = write_clean_copy(tmp_path / "out", X, mask.astype(int), scores)  # 0/1 labels too
    kept = np.load(copy.inliers)
    gone = np.load(copy.review / "removed.npy")
    assert copy.inliers == tmp_path / "out" / "inliers.npy"
    np.testing.assert_array_equal(kept, X[~mask])  # input order
    np.testing.assert_array_equal(gone, X[removed])  # most outlying first
    assert len(kept) + len(gone) == N
    np.testing.assert_array_equal(copy.kept, np.flatnonzero(~mask))
    np.testing.assert_array_equal(copy.removed, removed)
    rows = _outliers_csv(copy.outliers_csv)
    assert rows[0] == ["index", "score", "rank"]
    assert [int(r[0]) for r in rows[1:]] == list(removed)
    assert [float(r[1]) for r in rows[1:]] == list(scores[removed])
    assert [r[2] for r in rows[1:]] == ["1", "2", "3", "4"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "inliers.npy", "outliers", "outliers.csv"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no lock or work folder


def test_image_folder_round_trip(tmp_path, cut, images):
    scores, mask, removed = cut
    root, paths = images
    before = _hashes(root)
    copy = write_clean_copy(tmp_path / "clean", [str(p) for p in paths], mask, scores)
    assert _hashes(root) == before  # only read
    kept, gone = _hashes(copy.inliers), _hashes(copy.review)
    assert copy.inliers == tmp_path / "clean" / "inliers"
    assert sorted(kept) == sorted(str(paths[i].relative_to(root)) for i in np.flatnonzero(~mask))
    assert sorted(gone) == sorted(str(paths[i].relative_to(root)) for i in removed)
    assert {**kept, **gone} == before  # kept + removed = the input, at the same paths
    rows = _outliers_csv(copy.outliers_csv)
    assert rows[0] == ["path", "score", "rank"]
    assert [r[0] for r in rows[1:]] == [str(paths[i]) for i in removed]


def test_images_keep_their_paths_below_the_root_given(tmp_path, cut, images):
    scores, mask, _ = cut
    root, paths = images
    odd = [p for p in paths if p.parent.name == "sub"][:4]  # all in sub/: root keeps "sub"
    copy = write_clean_copy(tmp_path / "clean", odd, np.array([1, 0, 0, 0]), scores[:4],
                            root=root)
    assert sorted(_hashes(copy.inliers)) == [f"sub/{p.name}" for p in odd[1:]]
    with pytest.raises(ValueError, match="is not below root"):
        write_clean_copy(tmp_path / "other", paths, mask, scores, root=root / "sub")
    assert not (tmp_path / "other").exists()


def test_dataframe_round_trip(tmp_path, cut):
    scores, mask, removed = cut
    frame = pd.DataFrame({"id": [f"r{i:03d}" for i in range(N)], "x": np.arange(N) * 1.5,
                          "note": ["a, b", "two\nlines", "", "plain"] * (N // 4)})
    copy = write_clean_copy(tmp_path / "out", frame, mask, scores,
                            names=list(frame["id"]), key_column="id")
    kept = pd.read_csv(copy.inliers, keep_default_na=False)
    gone = pd.read_csv(copy.review / "removed.csv", keep_default_na=False)
    pd.testing.assert_frame_equal(kept, frame[~mask].reset_index(drop=True))
    pd.testing.assert_frame_equal(gone, frame.iloc[removed].reset_index(drop=True))
    rows = _outliers_csv(copy.outliers_csv)
    assert rows[0] == ["id", "score", "rank"]
    assert [r[0] for r in rows[1:]] == [f"r{i:03d}" for i in removed]


def test_dataframe_as_parquet(tmp_path, cut):
    pytest.importorskip("pyarrow")
    scores, mask, removed = cut
    frame = pd.DataFrame({"x": np.arange(N), "y": np.arange(N) * 0.5}, index=np.arange(N) + 100)
    copy = write_clean_copy(tmp_path / "out", frame, mask, scores, suffix=".parquet")
    assert copy.inliers.name == "inliers.parquet"
    pd.testing.assert_frame_equal(pd.read_parquet(copy.inliers),
                                  frame[~mask].reset_index(drop=True))
    pd.testing.assert_frame_equal(pd.read_parquet(copy.review / "removed.parquet"),
                                  frame.iloc[removed].reset_index(drop=True))


def test_csv_records_are_copied_byte_for_byte(tmp_path):
    lines = ["id;x\r\n", '007;1,5\r\n', '"0 8";2\n', "009;x\r\n"]
    copy = write_clean_copy(tmp_path / "out", CsvRecords(lines), [False, True, False],
                            [0.1, 0.9, 0.2], suffix=".tsv")
    assert copy.inliers.read_bytes() == b"id;x\r\n007;1,5\r\n009;x\r\n"
    assert (copy.review / "removed.tsv").read_bytes() == b'id;x\r\n"0 8";2\n'


def test_a_mask_is_required_and_the_suffix_checked(tmp_path, cut):
    scores, mask, _ = cut
    X = np.zeros((N, 2))
    with pytest.raises(ValueError, match="must be a mask"):
        write_clean_copy(tmp_path / "out", X, scores, mask)
    with pytest.raises(ValueError, match="one value for each of the 20 samples"):
        write_clean_copy(tmp_path / "out", X, mask[:-1], scores)
    with pytest.raises(TypeError, match="numpy array, a pandas DataFrame"):
        write_clean_copy(tmp_path / "out", {"a": 1}, mask[:1], scores[:1])
    with pytest.raises(ValueError, match="is for tables"):
        write_clean_copy(tmp_path / "out", X, mask, scores, suffix=".csv")
    with pytest.raises(ValueError, match="cannot write a table as '.xlsx'"):
        write_clean_copy(tmp_path / "out", pd.DataFrame({"a": scores}), mask, scores,
                         suffix="xlsx")
    assert list(tmp_path.iterdir()) == []


def test_overwrite_is_refused_unless_asked(tmp_path, cut):
    scores, mask, _ = cut
    out = tmp_path / "out"
    write_clean_copy(out, np.arange(N), mask, scores)
    before = _hashes(out)
    with pytest.raises(FileExistsError, match="exists; pass overwrite=True"):
        write_clean_copy(out, np.arange(N) * 2, mask, scores)
    assert _hashes(out) == before
    copy = write_clean_copy(out, np.arange(N) * 2, ~mask, scores, overwrite=True)
    np.testing.assert_array_equal(np.load(copy.inliers), (np.arange(N) * 2)[mask])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_an_output_inside_or_around_the_input_is_refused(tmp_path, cut, images):
    scores, mask, _ = cut
    root, paths = images
    before = _hashes(tmp_path)
    for out in (root / "clean", root / "sub", tmp_path):  # inside; inside; holds the input
        with pytest.raises(ValueError, match="overlaps the input"):
            write_clean_copy(out, paths, mask, scores, overwrite=True)
    assert _hashes(tmp_path) == before and not (root / "clean").exists()
    path = tmp_path / "data" / "X.npy"  # a memory-mapped array's file is input too
    path.parent.mkdir()
    np.save(path, np.zeros((N, 2)))
    mapped = np.load(path, mmap_mode="r")
    with pytest.raises(ValueError, match="overlaps the input"):
        write_clean_copy(path.parent, mapped, mask, scores, overwrite=True)
    assert path.is_file()


def test_an_interrupted_write_leaves_the_previous_result(tmp_path, cut, monkeypatch):
    scores, mask, _ = cut
    out = tmp_path / "out"
    write_clean_copy(out, np.arange(N), mask, scores)
    before = _hashes(out)
    real = mcod.io.cleaning._write_rows

    def failing_on_the_removed_rows(data, rows, stem, *args):
        if stem.name == "removed":  # the kept rows are written by then
            raise OSError("disk full")
        return real(data, rows, stem, *args)

    monkeypatch.setattr(mcod.io.cleaning, "_write_rows", failing_on_the_removed_rows)
    with pytest.raises(OSError, match="disk full"):
        write_clean_copy(out, np.arange(N) * 3, ~mask, scores, overwrite=True)
    assert _hashes(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no .out.tmp-*, no lock
    with pytest.raises(OSError, match="disk full"):  # none before either: none after
        write_clean_copy(tmp_path / "new", np.arange(N), mask, scores)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_clean_folder_holds_out_while_the_caller_scores(tmp_path, cut):
    scores, mask, _ = cut
    out = tmp_path / "out"
    with CleanFolder(out) as folder:
        with pytest.raises(FileExistsError, match="another mcod is writing"):
            CleanFolder(out).__enter__()
        out.mkdir()  # someone else writes there meanwhile: theirs is kept
        (out / "theirs.txt").write_text("mine")
        with pytest.raises(FileExistsError, match="changed while"), folder.build() as work:
            mcod.io.cleaning.write_samples(work, np.arange(N), mask, scores)
    assert [p.name for p in out.iterdir()] == ["theirs.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    with pytest.raises(RuntimeError, match="inside its `with` block"), folder.build():
        pass


def test_what_a_killed_run_left_is_put_right_with_a_warning(tmp_path, cut):
    scores, mask, _ = cut
    out = tmp_path / "out"
    (tmp_path / ".out.tmp-abc").mkdir()
    with pytest.warns(UserWarning, match="left by an interrupted run"):
        write_clean_copy(out, np.arange(N), mask, scores)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
