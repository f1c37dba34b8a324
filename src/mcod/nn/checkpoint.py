"""Training checkpoints: a fit killed at any moment goes on from its last checkpoint and ends
with the scores an uninterrupted fit gives (bit for bit on CPU, same seed and threads).

One file, ``DIR/checkpoint.pt``, replaced atomically (:mod:`mcod.io.archive`) after a step
once ``every`` seconds have passed since the last write. It holds the whole ensemble's
weights and buffers (the members trained so far, the one in training with its key
encoder, queue and memory, and those still at their initial draw), the training member's
optimiser, averaged weights and loop state (epoch, step, the epoch's sample order, its loss
sums, the history), the finished members' histories, and every random state (torch's, the
device's, numpy's and Python's). A fingerprint of the run (config, data, seed, versions)
is stored too: the checkpoint of another run is refused, never resumed. Like a model file,
a checkpoint is read without running code and checked whole before use; a damaged one is a
:class:`CheckpointError`.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.optim.swa_utils import AveragedModel

import mcod
from mcod.config import MCODConfig
from mcod.data.inputs import InputError
from mcod.io.archive import (
    Limits,
    check_tensor,
    is_int,
    need,
    read_archive,
    write_archive,
)
from mcod.nn.ensemble import MCODEnsemble
from mcod.nn.model import MCODNet
from mcod.nn.training import LoopState

__all__ = ["CHECKPOINT_FILE", "CheckpointError", "FitCheckpoints", "MemberCheckpoints",
           "fingerprint", "remove_checkpoint"]

CHECKPOINT_FILE = "checkpoint.pt"
FORMAT = "mcod-checkpoint/1"
# the largest network (release) with its key encoder, averaged copy and Adam moments takes
# about 50 MiB; the sample order 8 bytes a sample
LIMITS = Limits("checkpoint", max_bytes=2**31, max_pickle_bytes=64 * 2**20, max_entries=20_000)
_KEYS = frozenset({"format", "mcod_version", "fingerprint", "member", "histories", "network",
                   "optimizer", "averaged", "loop", "random"})


class CheckpointError(InputError):
    """A checkpoint that cannot be resumed: damaged, or another run's. One line naming it."""


def fingerprint(config: MCODConfig, data: torch.Tensor, seed: int | None,
                device: torch.device) -> dict[str, str]:
    """What makes a fit the same fit: a checkpoint resumes only a run with all of these."""
    values = data.detach().cpu().contiguous()
    data_hash = hashlib.sha256(f"{values.dtype}{list(values.shape)}".encode())
    data_hash.update(values.view(torch.uint8).numpy().data)  # the bytes, not a copy
    config_text = json.dumps(config.to_dict(), sort_keys=True)
    return {"config": hashlib.sha256(config_text.encode()).hexdigest(),
            "data": data_hash.hexdigest(), "seed": str(seed), "device": device.type,
            "mcod": mcod.__version__, "torch": str(torch.__version__)}


def remove_checkpoint(folder: str | Path) -> None:
    """Delete a finished run's checkpoint file (the folder is left, empty or not)."""
    (Path(folder).expanduser() / CHECKPOINT_FILE).unlink(missing_ok=True)


# --------------------------------------------------------------------------- random states


def _random_states(device: torch.device) -> dict[str, Any]:
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    version, python_state, gauss_next = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state(device) if device.type == "cuda" else None,
        "numpy": {"keys": torch.from_numpy(np.asarray(keys, np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached_gaussian": float(cached)},
        "python": {"state": list(python_state), "gauss_next": gauss_next},
    }


def _check_random(states: object, device: torch.device) -> None:
    need(isinstance(states, dict) and set(states) == {"torch", "cuda", "numpy", "python"},
         "random", "the torch, cuda, numpy and python states", states)
    assert isinstance(states, dict)
    check_tensor(states["torch"], "random.torch", torch.uint8, tuple(torch.get_rng_state().shape))
    if device.type == "cuda":
        like = torch.cuda.get_rng_state(device)
        check_tensor(states["cuda"], "random.cuda", torch.uint8, tuple(like.shape))
    numpy_state = states["numpy"]
    need(isinstance(numpy_state, dict)
         and set(numpy_state) == {"keys", "pos", "has_gauss", "cached_gaussian"},
         "random.numpy", "numpy's MT19937 state", numpy_state)
    check_tensor(numpy_state["keys"], "random.numpy.keys", torch.int64, (624,))
    keys = numpy_state["keys"]
    need(bool(((keys >= 0) & (keys < 2**32)).all()) and is_int(numpy_state["pos"])
         and 0 <= numpy_state["pos"] <= 624 and numpy_state["has_gauss"] in (0, 1)
         and isinstance(numpy_state["cached_gaussian"], float)
         and math.isfinite(numpy_state["cached_gaussian"]),
         "random.numpy", "numpy's MT19937 state", numpy_state)
    python_state = states["python"]
    need(isinstance(python_state, dict) and set(python_state) == {"state", "gauss_next"}
         and isinstance(python_state["state"], list) and len(python_state["state"]) == 625
         and all(is_int(v) and 0 <= v < 2**32 for v in python_state["state"])
         and python_state["state"][-1] <= 624
         and (python_state["gauss_next"] is None or isinstance(python_state["gauss_next"], float)),
         "random.python", "Python's Mersenne Twister state", python_state)


def _set_random_states(states: dict[str, Any], device: torch.device) -> None:
    torch.set_rng_state(states["torch"])
    if device.type == "cuda":
        torch.cuda.set_rng_state(states["cuda"], device)
    n = states["numpy"]
    np.random.set_state(("MT19937", n["keys"].numpy().astype(np.uint32), n["pos"],
                         n["has_gauss"], n["cached_gaussian"]))
    random.setstate((3, tuple(states["python"]["state"]), states["python"]["gauss_next"]))


# --------------------------------------------------------------------------- checks



def _check_tensors(saved: object, expected: dict[str, Any], field: str) -> None:
    """``saved`` holds exactly the tensors of ``expected`` (a state dict), each with its
    dtype and shape."""
    need(isinstance(saved, dict) and saved.keys() == expected.keys(), field,
         f"the {len(expected)} tensors the config makes", saved)
    assert isinstance(saved, dict)
    for name, like in expected.items():
        check_tensor(saved[name], f"{field}[{name!r}]", like.dtype, tuple(like.shape))


def _check_history(history: object, field: str, epochs: int) -> None:
    need(isinstance(history, list) and len(history) <= epochs and all(
        isinstance(epoch, dict) and all(isinstance(k, str) and isinstance(v, float)
                                        for k, v in epoch.items()) for epoch in history),
         field, f"a list of at most {epochs} dicts of loss terms", history)


def _check_optimizer(saved: object, net: MCODNet) -> None:
    """Adam's state for the query encoder's parameters: the param groups a fresh Adam has
    (same settings), and per parameter a step count and two moments of its shape."""
    config, params = net.config, list(net.query.parameters())
    fresh = torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay)
    need(isinstance(saved, dict) and set(saved) == {"state", "param_groups"}
         and saved["param_groups"] == fresh.state_dict()["param_groups"], "optimizer",
         "Adam's state with the config's settings", saved)
    assert isinstance(saved, dict)
    state = saved["state"]
    need(isinstance(state, dict) and all(is_int(k) and 0 <= k < len(params) for k in state),
         "optimizer.state", f"per parameter (0..{len(params) - 1}) state", state)
    for index, entry in state.items():
        field = f"optimizer.state[{index}]"
        need(isinstance(entry, dict) and set(entry) == {"step", "exp_avg", "exp_avg_sq"},
             field, "a step and two moments", entry)
        check_tensor(entry["step"], f"{field}.step", torch.float32, ())
        for moment in ("exp_avg", "exp_avg_sq"):
            check_tensor(entry[moment], f"{field}.{moment}", torch.float32,
                         tuple(params[index].shape))


def _check_loop(loop: object, epochs: int, n: int, batch_size: int) -> None:
    need(isinstance(loop, dict) and set(loop) == {"epoch", "step", "order", "sums", "history"},
         "loop", "the loop's epoch, step, order, sums and history", loop)
    assert isinstance(loop, dict)
    _check_history(loop["history"], "loop.history", epochs - 1)
    need(loop["epoch"] == len(loop["history"]), "loop.epoch",
         f"the epochs in loop.history ({len(loop['history'])})", loop["epoch"])
    need(is_int(loop["step"]) and 1 <= loop["step"] <= n // batch_size, "loop.step",
         f"1 to {n // batch_size} (whole batches)", loop["step"])
    check_tensor(loop["order"], "loop.order", torch.int64, (n,))
    need(bool((loop["order"].sort().values == torch.arange(n)).all()), "loop.order",
         f"an order of the {n} samples", "another list")
    sums = loop["sums"]
    need(isinstance(sums, dict) and all(isinstance(k, str) and isinstance(v, float)
                                        and math.isfinite(v) for k, v in sums.items()),
         "loop.sums", "finite loss sums by name", sums)


def _owned(value: Any) -> Any:
    """Tensors copied out of the file's memory map (the file is replaced as training goes
    on; the optimiser updates its moments in place)."""
    if isinstance(value, torch.Tensor):
        return value.clone()
    if isinstance(value, dict):
        return {k: _owned(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_owned(v) for v in value]
    return value


# --------------------------------------------------------------------------- the store


class FitCheckpoints:
    """The checkpoint of one fit of an ensemble in ``folder``: opened before training
    (restoring the ensemble's weights from a checkpoint there, after checking it), then
    handed to each member's training loop as `member(i)`."""

    def __init__(self, folder: str | Path, network: MCODEnsemble, print_id: dict[str, str],
                 n: int, batch_size: int, device: torch.device, every: float = 60.0,
                 say: Callable[[str], None] | None = None) -> None:
        self.folder = Path(folder).expanduser()
        self.path = self.folder / CHECKPOINT_FILE
        self.network, self.print_id, self.device = network, print_id, device
        self.n, self.batch_size, self.every = n, batch_size, every
        self.say = say or (lambda message: None)
        self.folder.mkdir(parents=True, exist_ok=True)
        for stale in self.folder.glob(f".{CHECKPOINT_FILE}.*.tmp"):  # a killed write's
            stale.unlink(missing_ok=True)
        self.saved = self._load() if self.path.exists() else None
        self.histories: list[list[dict[str, float]]] = (
            [] if self.saved is None else self.saved["histories"])
        self.last_write = time.monotonic()
        if self.saved is not None:
            network.load_state_dict(self.saved["network"])
            loop, member = self.saved["loop"], self.saved["member"]
            members = len(network.nets)
            self.say(f"resuming from {self.path}: "
                     + (f"member {member + 1}/{members}, " if members > 1 else "")
                     + f"epoch {loop['epoch'] + 1}/{network.nets[member].config.epochs}, "
                     f"step {loop['step']}/{n // batch_size}")

    def _load(self) -> dict[str, Any]:
        state = read_archive(self.path, FORMAT, LIMITS, CheckpointError)
        try:
            self._check(state)
        except (KeyError, TypeError, AttributeError, ValueError, RuntimeError) as error:
            lines = str(error).strip().splitlines()
            what = lines[0] if lines else type(error).__name__
            if not isinstance(error, ValueError):
                what = f"{type(error).__name__}: {what}"
            raise CheckpointError(f"{self.path} is damaged or incomplete: {what}") from None
        return _owned(state)

    def _check(self, state: dict[str, Any]) -> None:
        need(set(state) == _KEYS, "the checkpoint", f"the fields {sorted(_KEYS)}",
             sorted(map(str, state)))
        saved_id = state["fingerprint"]
        need(isinstance(saved_id, dict) and set(saved_id) == set(self.print_id)
             and all(isinstance(v, str) for v in saved_id.values()), "fingerprint",
             "the run's fingerprint", saved_id)
        differ = [key for key in self.print_id if saved_id[key] != self.print_id[key]]
        if differ:
            raise CheckpointError(
                f"{self.path} is the checkpoint of another run (its {', '.join(differ)} "
                "differ); give the run it was written by, or remove the file or choose "
                "another checkpoint folder to start afresh")
        nets = self.network.nets
        member = state["member"]
        need(is_int(member) and 0 <= member < len(nets), "member",
             f"0 to {len(nets) - 1}", member)
        epochs = nets[member].config.epochs
        histories = state["histories"]
        need(isinstance(histories, list) and len(histories) == member, "histories",
             f"the {member} finished members' histories", histories)
        for i, history in enumerate(histories):
            _check_history(history, f"histories[{i}]", epochs)
            need(len(history) == epochs, f"histories[{i}]", f"{epochs} epochs", history)
        _check_tensors(state["network"], self.network.state_dict(), "network")
        net = nets[member]
        _check_optimizer(state["optimizer"], net)
        if net.config.average_weights_from is None:
            need(state["averaged"] is None, "averaged", "None without weight averaging",
                 state["averaged"])
        else:
            with torch.device("meta"):
                expected = AveragedModel(net.query).state_dict()
            _check_tensors(state["averaged"], expected, "averaged")
        _check_loop(state["loop"], epochs, self.n, self.batch_size)
        _check_random(state["random"], self.device)

    def trained(self, member: int) -> list[dict[str, float]] | None:
        """The history of a member that the checkpoint holds trained, else None."""
        return self.histories[member] if member < len(self.histories) else None

    def record(self, member: int, history: list[dict[str, float]]) -> None:
        """A member has finished training (in this process): later checkpoints hold it
        trained, with this history."""
        if member == len(self.histories):
            self.histories.append(history)

    def member(self, index: int) -> MemberCheckpoints:
        return MemberCheckpoints(self, index)

    def write(self, member: int, state: LoopState, optimizer: torch.optim.Optimizer,
              averaged: AveragedModel | None) -> None:
        """Replace the checkpoint with the state after this step."""
        write_archive({
            "format": FORMAT,
            "mcod_version": mcod.__version__,
            "fingerprint": self.print_id,
            "member": member,
            "histories": self.histories[:member],
            "network": {k: v.detach().cpu() for k, v in self.network.state_dict().items()},
            "optimizer": optimizer.state_dict(),
            "averaged": None if averaged is None else averaged.state_dict(),
            "loop": {"epoch": state.epoch, "step": state.step, "order": state.order.cpu(),
                     "sums": dict(state.sums), "history": list(state.history)},
            "random": _random_states(self.device),
        }, self.path)
        self.last_write = time.monotonic()


class MemberCheckpoints:
    """One member's side of `FitCheckpoints`, as `mcod.nn.training.train` calls it."""

    def __init__(self, store: FitCheckpoints, index: int) -> None:
        self.store, self.index = store, index

    def resume(self, optimizer: torch.optim.Optimizer,
               averaged: AveragedModel | None) -> LoopState | None:
        saved = self.store.saved
        if saved is None or saved["member"] != self.index:
            return None
        optimizer.load_state_dict(saved["optimizer"])
        if averaged is not None:
            averaged.load_state_dict(saved["averaged"])
        _set_random_states(saved["random"], self.store.device)
        self.store.saved = None  # resumed: its copy of the state is no longer needed
        loop = saved["loop"]
        device = self.store.network.first.memory.items.device
        return LoopState(loop["epoch"], loop["step"], loop["order"].to(device),
                         loop["sums"], loop["history"])

    def step_done(self, state: LoopState, optimizer: torch.optim.Optimizer,
                  averaged: AveragedModel | None) -> None:
        if time.monotonic() - self.store.last_write >= self.store.every:
            self.store.write(self.index, state, optimizer, averaged)
