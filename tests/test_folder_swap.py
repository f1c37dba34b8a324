"""Replacing clean's output folder: at every instant DIR is the old result or the new one,
or (after a kill -9 in the fallback's one window) the next run puts the old one back."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import mcod.io.folder_swap as swap
from mcod.cli.main import main
from mcod.io.folder_swap import FolderLock, fingerprint, recover, replace_folder


def _folder(path: Path, text: str) -> Path:
    path.mkdir()
    (path / "result.txt").write_text(text)
    return path


def _content(path: Path) -> str:
    return (path / "result.txt").read_text()


def _siblings(path: Path) -> list[str]:
    return sorted(p.name for p in path.parent.iterdir())


@pytest.fixture
def old_and_new(tmp_path: Path) -> tuple[Path, Path]:
    out = _folder(tmp_path / "out", "old")
    work = _folder(tmp_path / ".out.tmp-abc", "new")
    return out, work


def test_exchange_swaps_two_folders(old_and_new):
    out, work = old_and_new
    if not swap.exchange(work, out):
        pytest.skip("this file system has no atomic exchange")
    assert (_content(out), _content(work)) == ("new", "old")


@pytest.mark.parametrize("atomic", [True, False], ids=["exchange", "fallback"])
def test_replace_folder_puts_the_new_result_in_place(old_and_new, monkeypatch, atomic):
    out, work = old_and_new
    if not atomic:
        monkeypatch.setattr(swap, "exchange", lambda a, b: False)
    replace_folder(work, out)
    assert _content(out) == "new"
    assert _siblings(out) == ["out"]


def test_replace_folder_into_a_missing_folder(tmp_path):
    work = _folder(tmp_path / ".out.tmp-abc", "new")
    replace_folder(work, tmp_path / "out")
    assert _content(tmp_path / "out") == "new" and _siblings(work) == ["out"]


@pytest.fixture()
def ctrl_c_raises():
    """Python's own Ctrl-C handler for the test, whatever the runner left (a shell starts
    background jobs with SIGINT ignored, and Python then keeps it ignored)."""
    former = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, former)


def test_signals_wait_for_both_renames_of_the_fallback(old_and_new, monkeypatch, ctrl_c_raises):
    out, work = old_and_new
    monkeypatch.setattr(swap, "exchange", lambda a, b: False)
    real_rename = Path.rename

    def interrupted_between(self, target):  # Ctrl-C just after DIR was moved aside
        result = real_rename(self, target)
        if self == out:
            os.kill(os.getpid(), signal.SIGINT)
        return result

    monkeypatch.setattr(Path, "rename", interrupted_between)
    with pytest.raises(KeyboardInterrupt):
        replace_folder(work, out)
    assert _content(out) == "new"
    assert _siblings(out) == ["out"]  # the old result moved aside is removed too


_KILL_AT = """
import os, sys
from pathlib import Path
import mcod.io.folder_swap as swap
work, out, point, atomic = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], sys.argv[4]
if atomic == "no":
    swap.exchange = lambda a, b: False
real_rename, real_rmtree, real_exchange = Path.rename, swap.shutil.rmtree, swap.exchange
def rename(self, target):
    real_rename(self, target)
    if point == "after-first-rename" or (point == "after-second-rename" and self == work):
        os._exit(9)
def rmtree(path, *args, **kwargs):
    if point == "removing-old":
        os._exit(9)
    real_rmtree(path, *args, **kwargs)
Path.rename = rename
swap.shutil.rmtree = rmtree
swap.replace_folder(work, out)
"""


@pytest.mark.parametrize(("atomic", "point"), [
    ("yes", "removing-old"),
    ("no", "after-first-rename"),
    ("no", "after-second-rename"),
    ("no", "removing-old"),
])
def test_a_kill_at_any_step_is_recovered_by_the_next_run(old_and_new, atomic, point):
    out, work = old_and_new
    script = textwrap.dedent(_KILL_AT)
    done = subprocess.run([sys.executable, "-c", script, str(work), str(out), point, atomic],
                          check=False, timeout=60)
    assert done.returncode == 9
    notes = recover(out)
    assert _content(out) in ("old", "new")
    assert _siblings(out) == ["out"]  # nothing hidden left beside it
    if point == "after-first-rename":  # DIR was missing: the old result is put back
        assert _content(out) == "old" and any("restored" in n for n in notes)


def test_recover_leaves_other_folders_alone(tmp_path):
    out = _folder(tmp_path / "out", "mine")
    _folder(tmp_path / ".other.tmp-abc", "someone else's")
    _folder(tmp_path / ".out.tmp-xyz", "left over")
    recover(out)
    assert _siblings(out) == [".other.tmp-abc", "out"]


def test_a_second_lock_on_the_same_folder_is_refused(tmp_path):
    out = tmp_path / "out"
    with FolderLock(out):
        with pytest.raises(FileExistsError, match="another mcod is writing"):
            FolderLock(out).__enter__()
        with FolderLock(tmp_path / "other"):  # another folder is not blocked
            pass
    with FolderLock(out):  # released: taken again
        pass
    assert list(tmp_path.iterdir()) == []  # no lock file left


def test_fingerprint_of_a_missing_folder_is_none():
    assert fingerprint(Path("/nonexistent/mcod")) is None


def test_fingerprint_changes_with_the_content(tmp_path):
    folder = _folder(tmp_path / "f", "a")
    before = fingerprint(folder)
    (folder / "new.txt").write_text("x")
    assert fingerprint(folder) != before


# --------------------------------------------------------------------------- mcod clean

FAST = ["--epochs", "1", "--batch-size", "20", "--device", "cpu", "--seed", "0", "--quiet"]


@pytest.fixture
def rows(tmp_path: Path) -> Path:
    path = tmp_path / "rows.npy"
    np.save(path, np.random.default_rng(0).normal(size=(40, 3)))
    return path


def test_clean_refuses_while_another_clean_writes_the_folder(rows, tmp_path, capsys):
    out = tmp_path / "out"
    with FolderLock(out.resolve()):
        assert main(["clean", "--npy", str(rows), *FAST, "--out", str(out)]) == 2
    assert "another mcod is writing" in capsys.readouterr().err
    assert not out.exists()


def test_clean_keeps_a_file_written_into_the_folder_while_it_trained(
    rows, tmp_path, capsys, monkeypatch
):
    import mcod.cli.clean

    out = tmp_path / "out"
    real_train_on = mcod.cli.clean.train_on

    def someone_writes_meanwhile(args, detector, data):
        out.mkdir()
        (out / "notes.txt").write_text("mine")
        return real_train_on(args, detector, data)

    monkeypatch.setattr(mcod.cli.clean, "train_on", someone_writes_meanwhile)
    assert main(["clean", "--npy", str(rows), *FAST, "--out", str(out)]) == 2
    assert "changed while mcod clean ran" in capsys.readouterr().err
    assert [p.name for p in out.iterdir()] == ["notes.txt"]
    assert _siblings(out) == ["out", "rows.npy"]


def test_clean_puts_back_a_result_a_killed_run_left_aside(rows, tmp_path, capsys):
    out = tmp_path / "out"
    _folder(tmp_path / ".out.old-abc", "unused").rename(tmp_path / "aside")
    (tmp_path / ".out.old-abc").mkdir()
    (tmp_path / "aside").rename(tmp_path / ".out.old-abc" / "previous")
    assert main(["clean", "--npy", str(rows), *FAST, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "restored" in err and "pass --overwrite" in err
    assert _content(out) == "unused"
    assert main(["clean", "--npy", str(rows), *FAST, "--out", str(out), "--overwrite"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["inliers.npy", "outliers", "outliers.csv"]
    assert _siblings(out) == ["out", "rows.npy"]
