"""Checkpoints and resume: a fit stopped at a seeded moment (an exception after the k-th
checkpoint write, or kill -9 of a real ``mcod detect``) and started again ends with the
scores of an uninterrupted fit, bit for bit; another run's, a damaged or a hostile
checkpoint is refused with one line."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from tiny import TINY

from mcod import MCOD, get_config
from mcod.cli.main import main
from mcod.io.archive import write_archive
from mcod.nn import checkpoint as ck

TABLE = get_config("tabular").replace(members=3, feature_dim=8, embedding_dim=4, n_memory=2)
FITS = {"images": (TINY, np.random.default_rng(0).random((60, 8, 8)).astype(np.float32)),
        "table": (TABLE, np.random.default_rng(1).normal(size=(60, 5)))}


class Stop(Exception):
    """Stands for a crash right after a checkpoint write."""


def _detector(config: Any, seed: int = 0) -> MCOD:
    return MCOD(config=config, epochs=2, device="cpu", random_state=seed)


def _fit_stopped_after(config: Any, X: np.ndarray, folder: Path, writes: int,
                       monkeypatch: pytest.MonkeyPatch) -> None:
    """A checkpointed fit that raises right after its ``writes``-th checkpoint write."""
    written = []
    write = ck.FitCheckpoints.write

    def counting(self: ck.FitCheckpoints, *args: Any) -> None:
        write(self, *args)
        written.append(1)
        if len(written) == writes:
            raise Stop

    with monkeypatch.context() as patch:
        patch.setattr(ck.FitCheckpoints, "write", counting)
        with pytest.raises(Stop):
            _detector(config).fit(X, checkpoint=folder, checkpoint_every=0)


@pytest.fixture(scope="module")
def uninterrupted() -> dict[str, MCOD]:
    return {name: _detector(config).fit(X) for name, (config, X) in FITS.items()}


@pytest.mark.parametrize("name", list(FITS))
def test_a_fit_resumed_after_a_seeded_stop_ends_bit_identical(
        name, uninterrupted, tmp_path, monkeypatch, capsys):
    config, X = FITS[name]
    steps = config.members * 2 * 8  # 2 epochs of 8 whole batches of 7 rows (60 // 8)
    for k in random.Random(name).sample(range(1, steps + 1), 2):
        folder = tmp_path / f"stop-{k}"
        _fit_stopped_after(config, X, folder, k, monkeypatch)
        resumed = _detector(config)
        resumed.verbose = True
        resumed.fit(X, checkpoint=folder, checkpoint_every=0)
        assert f"resuming from {folder / ck.CHECKPOINT_FILE}" in capsys.readouterr().out
        np.testing.assert_array_equal(resumed.decision_scores_,
                                      uninterrupted[name].decision_scores_)
        assert resumed.history_ == uninterrupted[name].history_
        assert resumed.threshold_ == uninterrupted[name].threshold_


def test_numpy_and_python_random_states_are_restored_too(tmp_path, monkeypatch):
    config, X = FITS["table"]
    np.random.seed(1)
    np.random.random(5)
    random.seed(1)
    _fit_stopped_after(config, X, tmp_path, 5, monkeypatch)
    saved = torch.load(tmp_path / ck.CHECKPOINT_FILE, weights_only=True)["random"]
    np.random.seed(0)
    random.seed(0)
    restored = []
    set_states = ck._set_random_states

    def recording(*args: Any) -> None:
        set_states(*args)
        restored.append((np.random.get_state(), random.getstate()))

    monkeypatch.setattr(ck, "_set_random_states", recording)
    _detector(config).fit(X, checkpoint=tmp_path, checkpoint_every=3600)
    (numpy_state, python_state), = restored
    assert np.array_equal(numpy_state[1], saved["numpy"]["keys"].numpy())
    assert numpy_state[2] == saved["numpy"]["pos"]
    assert list(python_state[1]) == saved["python"]["state"]
    assert python_state[1] != random.Random(0).getstate()[1]  # not the state it replaced


# ------------------------------------------------------------------ refused checkpoints


@pytest.fixture
def stopped(tmp_path, monkeypatch) -> Path:
    """A folder holding the checkpoint of the table fit after its 10th step."""
    config, X = FITS["table"]
    _fit_stopped_after(config, X, tmp_path, 10, monkeypatch)
    return tmp_path


@pytest.mark.parametrize("change, differs", [
    ({"seed": 1}, "seed"),
    ({"X": FITS["table"][1][::-1]}, "data"),
    ({"config": TABLE.replace(lr=1e-4)}, "config"),
])
def test_the_checkpoint_of_another_run_is_refused(stopped, change, differs):
    X = change.get("X", FITS["table"][1])
    detector = _detector(change.get("config", TABLE), change.get("seed", 0))
    with pytest.raises(ck.CheckpointError, match=f"another run \\(its {differs} differ\\)"):
        detector.fit(X, checkpoint=stopped)
    assert not hasattr(detector, "network_")  # nothing was fitted


def _rewritten(folder: Path, edit: Any) -> None:
    path = folder / ck.CHECKPOINT_FILE
    state = torch.load(path, weights_only=True)
    edit(state)
    write_archive(state, path)


def _set_loop(field: str, value: Any) -> Any:
    return lambda state: state["loop"].__setitem__(field, value)


@pytest.mark.parametrize("edit, message", [
    (_set_loop("order", torch.zeros(60, dtype=torch.int64)), "loop.order must be an order"),
    (_set_loop("step", 9), "loop.step must be 1 to 8"),
    (_set_loop("order", torch.arange(60)[:1].expand(60)), "holding its own values"),
    (lambda s: s.__setitem__("member", 7), "member must be 0 to 2"),
    (lambda s: s["network"].pop("members.0.memory.items"), "network must be the"),
    (lambda s: s["optimizer"]["param_groups"][0].__setitem__("lr", 1.0), "optimizer must be"),
    (lambda s: s["random"]["numpy"].__setitem__("pos", 999), "random.numpy must be"),
    (lambda s: s.__setitem__("format", "mcod-checkpoint/0"), "has format"),
])
def test_a_damaged_checkpoint_is_refused_naming_the_field(stopped, edit, message):
    _rewritten(stopped, edit)
    with pytest.raises(ck.CheckpointError, match=message):
        _detector(TABLE).fit(FITS["table"][1], checkpoint=stopped)


def test_a_flipped_bit_and_a_pickled_object_are_refused(stopped):
    path = stopped / ck.CHECKPOINT_FILE
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 1
    path.write_bytes(bytes(data))
    with pytest.raises(ck.CheckpointError, match="corrupt"):
        _detector(TABLE).fit(FITS["table"][1], checkpoint=stopped)
    torch.save({"format": ck.FORMAT, "x": Stop()}, path)
    with pytest.raises(ck.CheckpointError, match="refusing to load"):
        _detector(TABLE).fit(FITS["table"][1], checkpoint=stopped)


@pytest.mark.parametrize("every, folder, message", [
    (-1.0, None, "checkpoint_every must be a number of seconds >= 0"),
    (float("nan"), None, "checkpoint_every"),
    (1.0, "file", "is a file; give a folder"),
])
def test_bad_checkpoint_arguments_are_refused(tmp_path, every, folder, message):
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match=message):
        _detector(TABLE).fit(FITS["table"][1], checkpoint=tmp_path / (folder or "ck"),
                             checkpoint_every=every)


# ------------------------------------------------------------------ kill -9 of the command


RUN = ["--epochs", "2", "--batch-size", "20", "--device", "cpu", "--seed", "0", "--top", "0"]


def _writes_then_kill(argv: list[str], checkpoint: Path, writes: int) -> None:
    """Start ``mcod``, SIGKILL it once it has replaced its checkpoint ``writes`` times."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}  # scores repeat at one thread count
    process = subprocess.Popen([sys.executable, "-m", "mcod", *argv], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    seen, last = 0, None
    deadline = time.monotonic() + 300
    while seen < writes and process.poll() is None and time.monotonic() < deadline:
        try:
            inode = os.stat(checkpoint / ck.CHECKPOINT_FILE).st_ino
        except FileNotFoundError:
            inode = None
        if inode is not None and inode != last:
            seen, last = seen + 1, inode
        time.sleep(0.001)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=60)
    assert process.returncode == -signal.SIGKILL, "the run ended before it was killed"


def test_detect_killed_at_a_seeded_moment_resumes_to_the_same_scores(tmp_path, capsys):
    rows = tmp_path / "rows.npy"
    np.save(rows, np.random.default_rng(0).normal(size=(60, 3)))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        assert main(["detect", "--npy", str(rows), *RUN, "--quiet",
                     "--out", str(tmp_path / "whole")]) == 0
    finally:
        torch.set_num_threads(threads)
    checkpoint = tmp_path / "ck"
    argv = ["detect", "--npy", str(rows), *RUN, "--checkpoint", str(checkpoint),
            "--checkpoint-every", "0", "--out", str(tmp_path / "resumed")]
    writes = random.Random(9).randint(1, 25)  # of 30: 5 members x 2 epochs x 3 steps
    _writes_then_kill(argv, checkpoint, writes)
    assert (checkpoint / ck.CHECKPOINT_FILE).exists()
    done = subprocess.run([sys.executable, "-m", "mcod", *argv], capture_output=True,
                          text=True, env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=300)
    assert done.returncode == 0, done.stderr
    assert f"resuming from {checkpoint / ck.CHECKPOINT_FILE}: member " in done.stdout
    assert (tmp_path / "resumed" / "scores.csv").read_bytes() == \
        (tmp_path / "whole" / "scores.csv").read_bytes()
    assert list(checkpoint.iterdir()) == []  # the finished run's checkpoint is removed


def test_the_command_line_refuses_a_checkpoint_inside_clean_out(tmp_path, capsys):
    rows = tmp_path / "rows.npy"
    np.save(rows, np.zeros((10, 3)))
    code = main(["clean", "--npy", str(rows), "--out", str(tmp_path / "out"),
                 "--checkpoint", str(tmp_path / "out" / "ck")])
    assert code == 2
    assert "--checkpoint" in capsys.readouterr().err
