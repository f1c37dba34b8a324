"""Progress: a bar on a terminal, whole lines (never a carriage return) in a log file."""

from __future__ import annotations

import contextlib
import io

import numpy as np
import pytest

from mcod.cli.main import main
from mcod.io import progress as progress_module
from mcod.io.progress import LINE_SECONDS, draws_in_place, progress


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


class _Clock:
    """A stand-in for time.monotonic that moves only when told."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch):
    clock = _Clock()
    monkeypatch.setattr(progress_module.time, "monotonic", clock)
    return clock


def test_a_log_file_gets_one_line_at_the_end_of_a_quick_run(monkeypatch, clock):
    log = io.StringIO()
    monkeypatch.setattr("sys.stderr", log)
    bar = progress(range(3), desc="mcod fit", unit="epoch")
    for epoch in bar:
        clock.now += 1.0
        bar.set_postfix({"inst": f"{epoch:.3f}"})
    assert "\r" not in log.getvalue()
    assert log.getvalue() == "mcod fit: 3/3 epochs (100%), 3 s; inst 2.000\n"


def test_a_log_file_gets_a_line_every_line_seconds(monkeypatch, clock):
    log = io.StringIO()
    monkeypatch.setattr("sys.stderr", log)
    with progress(total=2500, desc="reading images", unit="image") as bar:
        for _ in range(5):
            clock.now += LINE_SECONDS / 2
            bar.update(500)
    lines = log.getvalue().splitlines()
    assert lines == [
        "reading images: 1,000/2,500 images (40%), 10 s",
        "reading images: 2,000/2,500 images (80%), 20 s",
        "reading images: 2,500/2,500 images (100%), 25 s",
    ]


def test_unknown_total_and_an_early_stop_still_end_with_a_line(monkeypatch, clock):
    log = io.StringIO()
    monkeypatch.setattr("sys.stderr", log)
    with progress(total=None, desc="encoding", unit="image") as bar:
        bar.update(1)
    assert log.getvalue() == "encoding: 1 image, 0 s\n"
    log.truncate(0)
    log.seek(0)
    for i in progress(iter(range(10)), desc="copying", unit="file"):
        if i == 4:
            break
    assert log.getvalue() == "copying: 4 files, 0 s\n"  # counted those done, said so once


def test_a_terminal_gets_tqdms_bar_and_disabled_progress_writes_nothing(monkeypatch):
    terminal = _Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    assert draws_in_place(terminal) and not draws_in_place(io.StringIO())
    for _ in progress(range(3), desc="mcod fit", unit="epoch"):
        pass
    assert "\r" in terminal.getvalue() and "3/3" in terminal.getvalue()
    for stream in (terminal, io.StringIO()):
        stream.truncate(0)
        monkeypatch.setattr("sys.stderr", stream)
        for _ in progress(range(3), desc="mcod fit", unit="epoch", enabled=False):
            pass
        assert stream.getvalue() == ""


def test_detect_with_stderr_in_a_file_writes_plain_progress_lines(tmp_path):
    images = np.random.default_rng(0).integers(0, 256, size=(40, 8, 8), dtype=np.uint8)
    np.save(tmp_path / "x.npy", images)
    log = io.StringIO()  # not a terminal, as `mcod detect ... 2> log` sees it
    with contextlib.redirect_stderr(log), contextlib.redirect_stdout(io.StringIO()):
        rc = main(["detect", "--npy", str(tmp_path / "x.npy"), "--epochs", "2",
                   "--batch-size", "20", "--device", "cpu"])
    assert rc == 0
    assert "\r" not in log.getvalue()
    for member in range(1, 6):  # the default's five networks, each trained in turn
        assert f"mcod fit {member}/5: 2/2 epochs (100%)" in log.getvalue()
