"""Signals sent to a real ``mcod clean`` / ``mcod detect`` process at seeded random moments.

Whatever the moment and the signal (Ctrl-C, SIGTERM, SIGHUP, kill -9), the input is
unchanged, every output is the previous one or a complete new one, and after a kill -9 the
next run leaves nothing hidden behind.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

RUN = ["--epochs", "2", "--batch-size", "20", "--device", "cpu", "--seed", "0", "--quiet"]
SIGNALS = {"SIGINT": (signal.SIGINT, 130), "SIGTERM": (signal.SIGTERM, 143),
           "SIGHUP": (signal.SIGHUP, 129), "SIGKILL": (signal.SIGKILL, -9)}


ENV = {**os.environ, "OMP_NUM_THREADS": "1"}  # scores are repeatable at one thread count


def _mcod(*argv: str) -> list[str]:
    return [sys.executable, "-m", "mcod", *argv]


def _run(argv: list[str]) -> None:
    subprocess.run(argv, check=True, capture_output=True, env=ENV, timeout=300)


def _hashes(root: Path) -> dict[str, str]:
    files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in files}


def _run_and_signal(argv: list[str], signum: int, delay: float) -> int:
    process = subprocess.Popen(argv, env=ENV, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)
    time.sleep(delay)
    process.send_signal(signum)
    _, err = process.communicate(timeout=300)
    assert "Traceback" not in err, err
    return process.returncode


def _hidden(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def _delays(seed: int, longest: float, n: int) -> list[float]:
    return list(np.random.default_rng(seed).uniform(0.0, longest, size=n))


@pytest.fixture(scope="module")
def setting(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, float, dict]:
    """Rows, clean's result for seed 0 (the previous one), how long a clean takes, and
    the digests of the seed-1 result (the new one)."""
    root = tmp_path_factory.mktemp("faults")
    rows = root / "rows.npy"
    np.save(rows, np.random.default_rng(0).normal(size=(60, 3)))
    _run(_mcod("clean", "--npy", str(rows), *RUN, "--out", str(root / "seed0")))
    started = time.perf_counter()
    _run(_mcod("clean", "--npy", str(rows), *RUN, "--seed", "1", "--out", str(root / "seed1")))
    return rows, root / "seed0", time.perf_counter() - started, _hashes(root / "seed1")


@pytest.mark.parametrize("name", list(SIGNALS))
def test_clean_overwrite_survives_a_signal_at_a_random_moment(setting, tmp_path, name):
    rows, previous, seconds, new = setting
    signum, code = SIGNALS[name]
    input_before, old = _hashes(rows), _hashes(previous)
    for i, delay in enumerate(_delays(list(SIGNALS).index(name), 1.2 * seconds, 2)):
        out = tmp_path / f"out{i}"
        shutil.copytree(previous, out)
        returned = _run_and_signal(_mcod("clean", "--npy", str(rows), *RUN, "--seed", "1",
                                         "--out", str(out), "--overwrite"), signum, delay)
        # 0: it finished first; -signum: the signal came as it exited, its work done
        assert returned in (0, code, -signum), (name, delay, returned)
        assert _hashes(rows) == input_before
        assert _hashes(out) in (old, new), (name, delay)  # the old result or the new, whole
        if name != "SIGKILL":
            assert _hidden(tmp_path) == [], (name, delay)
    if name == "SIGKILL":  # the next run cleans up what a kill left, and finishes
        for out in tmp_path.iterdir():
            if not out.name.startswith("."):
                _run(_mcod("clean", "--npy", str(rows), *RUN, "--out", str(out), "--overwrite"))
                assert _hashes(out) == old
        assert _hidden(tmp_path) == []


def test_detect_outputs_are_old_or_whole_new_after_kill_9(setting, tmp_path):
    import mcod

    rows, _, seconds, _ = setting
    out, model = tmp_path / "out", tmp_path / "model.pt"
    versions = []
    for seed in ("0", "1"):
        _run(_mcod("detect", "--npy", str(rows), *RUN, "--seed", seed, "--out", str(out),
                   "--save-model", str(model)))
        versions.append(_hashes(out / "scores.csv"))
    for delay in _delays(7, 1.2 * seconds, 3):
        returned = _run_and_signal(_mcod("detect", "--npy", str(rows), *RUN, "--out",
                                         str(out), "--save-model", str(model)),
                                   signal.SIGKILL, delay)
        assert returned in (0, -signal.SIGKILL)
        assert _hashes(out / "scores.csv") in versions
        mcod.load(model)  # old or new, never half of one


def test_ctrl_c_while_mcod_loads_exits_quietly(monkeypatch, capsys):
    import builtins

    from mcod.__main__ import main

    real_import = builtins.__import__

    def interrupted(name, *args, **kwargs):  # Ctrl-C while the libraries load
        if name.startswith("mcod.cli"):
            raise KeyboardInterrupt
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", interrupted)
    assert main() == 130
    assert capsys.readouterr().err == "mcod: interrupted\n"


@pytest.mark.parametrize(("signum", "code", "said"), [
    (signal.SIGTERM, 143, "mcod: terminated"), (signal.SIGHUP, 129, "mcod: hangup")])
def test_a_signal_that_a_library_reports_as_its_own_error_still_ends_quietly(
    tmp_path, monkeypatch, capsys, signum, code, said
):
    import mcod.cli.detect
    from mcod.cli.main import main

    def import_interrupted(*args, **kwargs):  # as scipy does when a signal stops its import
        try:
            os.kill(os.getpid(), signum)
        except BaseException as stop:
            raise ImportError("scipy initialization failed") from stop

    monkeypatch.setattr(mcod.cli.detect, "train_on", import_interrupted)
    np.save(tmp_path / "x.npy", np.zeros((10, 3)))
    assert main(["detect", "--npy", str(tmp_path / "x.npy"), "--quiet"]) == code
    assert capsys.readouterr().err == said + "\n"
