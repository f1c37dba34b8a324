"""No output lands on an input: each case is refused before any training (issue 16, 1 and 9).

Every case here fails in the checks that run first, so no model is trained and the
input's bytes are compared before and after.
"""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

import numpy as np
import pytest

from mcod.cli.main import main
from mcod.cli.outputs import Output, check_outputs, file_output, folder_output
from mcod.io.results import is_scores_csv
from mcod.report.page import is_report

FAST = ["--epochs", "1", "--batch-size", "20", "--device", "cpu", "--quiet"]


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def array(tmp_path: Path) -> Path:
    path = tmp_path / "x.npy"
    np.save(path, np.random.default_rng(0).normal(size=(30, 4)))
    return path


@pytest.fixture
def table(tmp_path: Path) -> Path:
    path = tmp_path / "r" / "scores.csv"
    path.parent.mkdir()
    rows = "".join(f"{i},{i % 7},{i % 3}\n" for i in range(30))
    path.write_text("id,a,b\n" + rows)
    return path


def _refused(argv: list[str], capsys: pytest.CaptureFixture[str], *inputs: Path) -> str:
    before = {p: _digest(p) for p in inputs}
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("mcod: error: ") and err.count("\n") == 1, err
    assert {p: _digest(p) for p in inputs} == before
    return err


def test_save_model_on_the_input_array_is_refused(array, capsys):
    err = _refused(["detect", "--npy", str(array), *FAST, "--save-model", str(array)],
                   capsys, array)
    assert "would overwrite the input" in err


def test_save_model_through_another_spelling_of_the_input_is_refused(array, capsys):
    other = array.parent / "sub" / ".." / array.name
    (array.parent / "sub").mkdir()
    _refused(["detect", "--npy", str(array), *FAST, "--save-model", str(other)], capsys, array)


def test_save_model_through_a_link_to_the_input_is_refused(array, capsys):
    link = array.parent / "model.pt"
    link.symlink_to(array)
    err = _refused(["detect", "--npy", str(array), *FAST, "--save-model", str(link)],
                   capsys, array)
    assert "is a link" in err or "would overwrite the input" in err


def test_out_folder_holding_the_input_table_as_scores_csv_is_refused(table, capsys):
    for command in (["detect", str(table), "--id-column", "id"],):
        err = _refused([*command, *FAST, "--out", str(table.parent)], capsys, table)
        assert "would overwrite the input" in err and "scores.csv" in err


def test_score_out_on_the_input_table_is_refused(table, tmp_path, capsys):
    model = tmp_path / "model.pt"
    assert main(["detect", str(table), "--id-column", "id", *FAST, "--save-model",
                 str(model)]) == 0
    capsys.readouterr()
    _refused(["score", str(model), str(table), "--quiet", "--out", str(table.parent)],
             capsys, table, model)


def test_report_and_save_model_on_an_image_of_the_folder_are_refused(tmp_path, capsys):
    from PIL import Image

    folder = tmp_path / "photos"
    folder.mkdir()
    for i in range(6):
        Image.fromarray(np.full((8, 8), i * 20, np.uint8)).save(folder / f"{i}.png")
    images = sorted(folder.iterdir())
    _refused(["detect", str(folder), *FAST, "--save-model", str(folder / "3.png")],
             capsys, *images)


def test_two_outputs_on_one_file_are_refused(array, tmp_path, capsys):
    err = _refused(["detect", "--npy", str(array), *FAST, "--out", str(tmp_path / "o"),
                    "--save-model", str(tmp_path / "o" / "scores.csv")], capsys, array)
    assert "would write the same file" in err


@pytest.mark.skipif(os.geteuid() != 0, reason="making a device node needs root")
def test_save_model_on_a_device_node_is_refused(array, tmp_path, capsys):
    node = tmp_path / "fakenull"
    os.mknod(node, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    err = _refused(["detect", "--npy", str(array), *FAST, "--save-model", str(node)],
                   capsys, array)
    assert "not a regular file" in err
    assert stat.S_ISCHR(os.lstat(node).st_mode)  # still the node


def test_save_model_on_a_fifo_is_refused(array, tmp_path, capsys):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    assert "not a regular file" in _refused(
        ["detect", "--npy", str(array), *FAST, "--save-model", str(fifo)], capsys, array)


def _unwritable_folder(tmp_path: Path) -> Path:
    """A folder this user cannot write in: a read-only one, or (root writes anyway)
    sysfs, which refuses new files to everyone."""
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    try:
        (locked / "probe").touch()
    except PermissionError:
        return locked
    (locked / "probe").unlink()
    if not os.access("/sys", os.F_OK):
        pytest.skip("no folder here refuses this user's writes")
    return Path("/sys")


@pytest.mark.parametrize("option", ["--out", "--report", "--save-model"])
def test_an_unwritable_output_fails_before_training(array, tmp_path, capsys, option):
    place = _unwritable_folder(tmp_path)
    target = place / ("model.pt" if option == "--save-model" else "o")
    err = _refused(["detect", "--npy", str(array), *FAST, option, str(target)], capsys, array)
    assert f"{option} {target}: cannot write in {place}" in err


def test_check_outputs_allows_replacing_an_earlier_output(tmp_path):
    earlier = tmp_path / "o" / "scores.csv"
    earlier.parent.mkdir()
    earlier.write_text("index,score,label,rank\n0,0.5,0,1\n")
    check_outputs([folder_output("--out", str(tmp_path / "o"), "scores.csv", is_scores_csv)],
                  [tmp_path / "x.npy"])


def test_out_refuses_a_scores_csv_mcod_did_not_write_unless_told(array, tmp_path, capsys):
    theirs = tmp_path / "o" / "scores.csv"
    theirs.parent.mkdir()
    theirs.write_text("name,score\nalice,17\n")  # a user's own file of that name
    run = ["detect", "--npy", str(array), *FAST, "--out", str(theirs.parent)]
    err = _refused(run, capsys, theirs)
    assert f"{theirs} exists and was not written by mcod; pass --overwrite" in err
    assert main([*run, "--overwrite"]) == 0
    assert theirs.read_text().startswith("index,score,label,rank\n")
    assert main(run) == 0  # mcod's own scores.csv is replaced without being told


def test_report_refuses_an_index_html_mcod_did_not_write_unless_told(array, tmp_path, capsys):
    page = tmp_path / "site" / "index.html"
    page.parent.mkdir()
    page.write_text("<!DOCTYPE html><title>my site</title>")
    run = ["detect", "--npy", str(array), *FAST, "--report", str(page.parent)]
    assert "was not written by mcod" in _refused(run, capsys, page)
    assert main([*run, "--overwrite"]) == 0 and is_report(page)
    assert main(run) == 0


@pytest.mark.parametrize(("text", "ours"), [
    (b"index,score,label,rank\n0,1.5,1,1\n", True),
    (b"path,score,label,rank\r\n", True),
    (b'"id, with comma",score,label,rank\n', True),  # an --id-column name, quoted
    (b"index,score,label\n", False),
    (b"index,score,label,rank,extra\n", False),
    (b"", False),
    (b"\xff\xfe,score,label,rank\n", False),  # not UTF-8: not what mcod writes
])
def test_a_scores_file_is_told_by_its_header(tmp_path, text, ours):
    path = tmp_path / "scores.csv"
    path.write_bytes(text)
    assert is_scores_csv(path) is ours
    assert not is_scores_csv(tmp_path / "missing.csv")


def test_check_outputs_refuses_a_folder_output_that_is_a_link(tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "link").symlink_to(real, target_is_directory=True)
    with pytest.raises(ValueError, match="is a link"):
        check_outputs([Output("--out", "link", tmp_path / "link", folder=True)], [])


def test_file_output_refuses_a_folder(tmp_path):
    with pytest.raises(ValueError, match="is a folder"):
        file_output("--save-model", str(tmp_path))
