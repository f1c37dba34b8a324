"""A full disk while writing results is named as such, on one line, with the path."""

from __future__ import annotations

import errno
import os

import numpy as np
import pytest

from mcod.cli.main import main
from mcod.io.atomic import disk_full_named
from mcod.io.results import write_scores_csv

SHORT_WRITE = "230400 requested and 102272 written"  # numpy's tofile on a short write


@pytest.mark.parametrize(
    "error",
    [OSError(errno.ENOSPC, "No space left on device"), OSError(errno.EDQUOT, "Quota"),
     OSError(SHORT_WRITE)],
    ids=["ENOSPC", "EDQUOT", "short-write"],
)
def test_full_disk_errors_become_one_message(error):
    with pytest.raises(OSError) as caught, disk_full_named("out/x.npy"):
        raise error
    assert str(caught.value) == "disk full while writing out/x.npy"
    assert caught.value.errno == errno.ENOSPC and caught.value.__cause__ is error


@pytest.mark.parametrize("error", [PermissionError(errno.EACCES, "denied"),
                                   OSError("1 requested and 1 written, then something")])
def test_other_errors_pass_unchanged(error):
    with pytest.raises(OSError) as caught, disk_full_named("x"):
        raise error
    assert caught.value is error


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_a_real_full_device_is_named():
    with (pytest.raises(OSError, match="^disk full while writing /dev/full$"),
          disk_full_named("/dev/full"), open("/dev/full", "wb") as handle):
        np.save(handle, np.zeros(100_000))


def test_scores_csv_names_a_disk_that_fills_at_sync(tmp_path, monkeypatch):
    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    path = tmp_path / "scores.csv"
    with pytest.raises(OSError, match=f"^disk full while writing {path}$"):
        write_scores_csv(path, np.zeros(3), np.zeros(3, int))
    assert list(tmp_path.iterdir()) == []  # no temporary file left behind


def test_clean_npy_reports_a_short_write_as_disk_full(tmp_path, monkeypatch, capsys):
    np.save(tmp_path / "table.npy", np.random.default_rng(1).normal(size=(40, 3)))

    def short_write(*args, **kwargs) -> None:
        raise OSError(SHORT_WRITE)

    monkeypatch.setattr(np, "save", short_write)
    out = tmp_path / "clean"
    rc = main(["clean", "--npy", str(tmp_path / "table.npy"), "--epochs", "1", "--batch-size",
               "20", "--device", "cpu", "--seed", "0", "--quiet", "--out", str(out)])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1, err
    assert err.startswith("mcod: error: disk full while writing ") and "inliers.npy" in err
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["table.npy"]


@pytest.mark.parametrize("writer", ["table", "parquet", "report-page"])
def test_every_atomic_writer_names_a_full_disk(tmp_path, monkeypatch, writer):
    import pandas as pd

    from mcod.data.tables import write_table
    from mcod.io.atomic import write_atomic

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    frame = pd.DataFrame({"a": [1.0, 2.0]})
    path = tmp_path / {"table": "t.csv", "parquet": "t.parquet", "report-page": "i.html"}[writer]
    with pytest.raises(OSError, match=f"^disk full while writing {path}$"):
        if writer == "report-page":
            write_atomic(path, lambda handle: handle.write("<html>"))
        else:
            write_table(frame, path)
    assert list(tmp_path.iterdir()) == []
