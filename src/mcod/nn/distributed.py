"""Training over several processes: torchrun's launch, PyTorch's DistributedDataParallel,
and what MCOD shares beyond gradients.

Under ``torchrun --nproc-per-node N`` every process runs the same fit on the same data
(checked: a process given another config, seed or data stops them all with an error).
Each process takes its own share of every batch (the batch is the user's, split evenly), and
DDP averages the gradients, so that one step is one process's step on the whole batch. What
MoCo and MCOD keep beside the weights is shared too: the keys of all shares fill the queue
in batch order (MoCo's concat_all_gather), so the memory written from it is the same in
every process; BatchNorm normalises by the statistics of the whole batch (`mcod.nn.sharing`);
the pretrained encoder's features are computed a share per process and gathered. Every
process ends with the same weights, queue and memory; the caller lets process 0 alone write.

A plain `Group` is one process alone: its session is the single-process loop, unchanged.
"""

from __future__ import annotations

import atexit
import hashlib
import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from mcod.config import MCODConfig
from mcod.data.preprocessing import READ_CHUNK_BYTES, release_pages
from mcod.nn.model import Keys, MCODNet
from mcod.nn.sharing import all_rows, synced_batchnorm

__all__ = ["ALONE", "Group", "Launch", "LaunchError", "ProcessGroup", "Session", "join",
           "launch_from_env", "one_process_only", "shard_batches"]

LAUNCH_HINT = ("launch with torchrun --nproc-per-node N (see the README), or unset "
               "WORLD_SIZE to run in one process")


class LaunchError(ValueError):
    """The processes were started or called in a way they cannot train together."""


@dataclass(frozen=True)
class Launch:
    """This process's place in a torchrun launch."""

    rank: int  # 0 .. size - 1 over all nodes; process 0 writes the outputs
    size: int  # processes in all
    local_rank: int  # on this node: picks the GPU


def _integer(environ: Mapping[str, str], name: str, least: int) -> int:
    text = environ[name]
    try:
        value = int(text)
    except ValueError:
        raise LaunchError(f"{name}={text!r} is not an integer; {LAUNCH_HINT}") from None
    if value < least:
        raise LaunchError(f"{name}={value} must be at least {least}; {LAUNCH_HINT}")
    return value


def launch_from_env(environ: Mapping[str, str] = os.environ) -> Launch | None:
    """torchrun's launch as its environment gives it (RANK, WORLD_SIZE, LOCAL_RANK,
    MASTER_ADDR, MASTER_PORT), or None for one process (no WORLD_SIZE, or 1). An incomplete
    or inconsistent one raises `LaunchError` before anything waits for the other processes."""
    if "WORLD_SIZE" not in environ:
        return None
    size = _integer(environ, "WORLD_SIZE", 1)
    if size == 1:
        return None
    missing = [name for name in ("RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")
               if not environ.get(name)]
    if missing:
        names = " and ".join([", ".join(missing[:-1]), missing[-1]] if len(missing) > 1
                             else missing)
        verb = "is" if len(missing) == 1 else "are"
        raise LaunchError(f"WORLD_SIZE={size} is set but {names} {verb} not; {LAUNCH_HINT}")
    rank, local_rank = _integer(environ, "RANK", 0), _integer(environ, "LOCAL_RANK", 0)
    if rank >= size:
        raise LaunchError(f"RANK={rank} is not below WORLD_SIZE={size}; {LAUNCH_HINT}")
    if not 1 <= _integer(environ, "MASTER_PORT", 1) <= 65535:
        raise LaunchError(f"MASTER_PORT={environ['MASTER_PORT']} is not a port; {LAUNCH_HINT}")
    return Launch(rank, size, local_rank)


def one_process_only(command: str, environ: Mapping[str, str] = os.environ) -> None:
    """Refuse to run ``command``, which does not train, under torchrun: every process would
    do all of it and write the same outputs."""
    if launch_from_env(environ) is not None:
        raise LaunchError(f"{command} runs in one process: start it without torchrun "
                          "(mcod detect trains over several)")


def shard_batches(order: torch.Tensor, batch_size: int, rank: int, size: int) -> list[torch.Tensor]:
    """Process ``rank``'s share of each whole batch of ``order``: the batch is cut into
    ``size`` equal, consecutive shares (a remainder of ``batch_size % size`` is not drawn),
    so the shares gathered in rank order are the batch."""
    share = batch_size // size
    if share < 2:
        raise ValueError(f"a batch of {batch_size} cannot be split over {size} processes "
                         f"(BatchNorm and the batch losses need at least 2 samples each); "
                         f"give a batch size of at least {2 * size}")
    whole = share * size
    return [batch[rank * share:(rank + 1) * share]
            for batch in order.split(whole) if len(batch) == whole]


def _digest(array: np.ndarray) -> str:
    """sha256 of an array's shape, dtype and bytes, READ_CHUNK_BYTES of rows at a time: a
    memory-mapped folder of images is hashed without a copy, its pages let go as read."""
    digest = hashlib.sha256(f"{array.shape}:{array.dtype.str}:".encode())
    step = max(1, READ_CHUNK_BYTES // max(1, array[:1].nbytes))
    for start in range(0, len(array), step):
        rows = np.ascontiguousarray(array[start:start + step])
        digest.update(rows.reshape(-1).view(np.uint8).data)
        release_pages(array)
    return digest.hexdigest()


class Session:
    """One training run's batches, loss step and key queue, for one process alone."""

    def __init__(self, net: MCODNet) -> None:
        self.losses: Callable[..., tuple[dict[str, torch.Tensor], Keys]] = net.training_losses

    def order(self, n: int, device: torch.device) -> torch.Tensor:
        """One epoch's fresh random order of the samples (torch's global generator)."""
        return torch.randperm(n, device=device)

    def shard(self, order: torch.Tensor, batch_size: int) -> list[torch.Tensor]:
        """The epoch's whole batches of ``order`` that this process trains on."""
        return [batch for batch in order.split(batch_size) if len(batch) == batch_size]

    def gather(self, keys: Keys) -> Keys:
        """The keys of the whole batch, for the queue."""
        return keys

    def mean(self, values: dict[str, float]) -> dict[str, float]:
        """Per-process figures (an epoch's mean losses) averaged over the processes."""
        return values


@dataclass(frozen=True)
class Group:
    """The processes a fit runs in: this one alone (the base), or a torchrun launch."""

    device: torch.device = torch.device("cpu")  # where this process trains
    rank: int = 0
    size: int = 1

    @property
    def main(self) -> bool:
        """Process 0: the one that shows progress and writes outputs."""
        return self.rank == 0

    @contextmanager
    def training(self, net: MCODNet) -> Iterator[Session]:
        """A session that trains `net` (the epoch loop runs inside)."""
        yield Session(net)

    def check_fit(self, config: MCODConfig, seed: int | None, data: torch.Tensor) -> None:
        """Refuse a fit whose config, seed or data differ between the processes."""

    def shard_rows(self, rows_of: Callable[[np.ndarray], np.ndarray],
                   items: np.ndarray) -> np.ndarray:
        """``rows_of(items)``, computed a share per process and gathered."""
        return rows_of(items)


ALONE = Group()  # one process, not launched by torchrun (its device is the caller's concern)


@dataclass(frozen=True)
class ProcessGroup(Group):
    """Several processes in torch.distributed's default group (gloo on CPU, NCCL on CUDA)."""

    @contextmanager
    def training(self, net: MCODNet) -> Iterator[Session]:
        """Every process starts from process 0's network; each draws its own views (a seed
        per process, from one shared seed that also orders the batches alike everywhere);
        BatchNorm is synchronised while inside. torch's global random state is left as
        it was, one draw on."""
        for tensor in net.state_dict().values():
            dist.broadcast(tensor, src=0)
        seed = torch.randint(0, 2**62, (1,)).to(self.device)
        dist.broadcast(seed, src=0)
        shared = int(seed)
        cuda = [self.device.index] if self.device.type == "cuda" else []
        with ExitStack() as stack:
            stack.enter_context(torch.random.fork_rng(devices=cuda))
            torch.manual_seed(shared + 1 + self.rank)
            stack.enter_context(synced_batchnorm(net.query))
            stack.enter_context(synced_batchnorm(net.key))
            yield _SharedSession(net, self, shared)

    def check_fit(self, config: MCODConfig, seed: int | None, data: torch.Tensor) -> None:
        fields: dict[str, object] = {f"config {k}": v for k, v in config.to_dict().items()}
        fields.update({"random_state": seed, "data": _digest(data.cpu().numpy())})
        self._check_same(fields)

    def _check_same(self, fields: dict[str, object]) -> None:
        """Raise the same `LaunchError` in every process where any differs from process 0."""
        gathered: list[dict[str, object] | None] = [None] * self.size
        dist.all_gather_object(gathered, fields)
        first = gathered[0]
        assert first is not None
        for rank, other in enumerate(gathered):
            assert other is not None
            for name, value in first.items():
                if other.get(name) != value:
                    shown = "" if name == "data" else f" ({other.get(name)!r}, not {value!r})"
                    raise LaunchError(f"process {rank} was given other {name} than process 0"
                                      f"{shown}: every process must run the same command on "
                                      "the same data")

    def shard_rows(self, rows_of: Callable[[np.ndarray], np.ndarray],
                   items: np.ndarray) -> np.ndarray:
        self._check_same({"data": _digest(items)})
        n = len(items)
        if n < self.size:
            raise LaunchError(f"{n} samples cannot be shared by {self.size} processes")
        bounds = [n * rank // self.size for rank in range(self.size + 1)]
        mine = rows_of(items[bounds[self.rank]:bounds[self.rank + 1]])
        longest = max(b - a for a, b in zip(bounds, bounds[1:], strict=False))
        padded = torch.zeros((longest, *mine.shape[1:]), dtype=torch.from_numpy(mine).dtype,
                             device=self.device)
        padded[:len(mine)] = torch.from_numpy(mine)
        parts = [torch.empty_like(padded) for _ in range(self.size)]
        dist.all_gather(parts, padded)
        return np.concatenate([part[:b - a].cpu().numpy()
                               for part, a, b in zip(parts, bounds, bounds[1:], strict=False)])


class _Step(nn.Module):
    """`MCODNet.training_losses` as a forward, for DDP to wrap: DDP's gradient averaging
    needs the query encoder to run inside its forward."""

    def __init__(self, net: MCODNet) -> None:
        super().__init__()
        self.net = net

    def forward(self, query_view: torch.Tensor, key_view: torch.Tensor, use_read: bool,
                quarter_turns: torch.Tensor | None = None
                ) -> tuple[dict[str, torch.Tensor], Keys]:
        return self.net.training_losses(query_view, key_view, use_read, quarter_turns,
                                        whole_batch=all_rows)


class _SharedSession(Session):
    """One process's part of a training run that several processes share."""

    def __init__(self, net: MCODNet, group: ProcessGroup, seed: int) -> None:
        super().__init__(net)
        self.group = group
        self.generator = torch.Generator().manual_seed(seed)
        cuda = group.device.type == "cuda"
        # a rotation head on tables gets no gradient: DDP must be told to look for that
        unused = net.query.rotation is not None and net.config.backbone == "mlp"
        self.losses = DistributedDataParallel(
            _Step(net), device_ids=[group.device.index] if cuda else None,
            forward_sync_buffers=False,  # queue, memory, BatchNorm: kept equal by this module
            find_unused_parameters=unused)

    def order(self, n: int, device: torch.device) -> torch.Tensor:
        """One order, the same in every process (a generator seeded alike in each)."""
        return torch.randperm(n, generator=self.generator).to(device)

    def shard(self, order: torch.Tensor, batch_size: int) -> list[torch.Tensor]:
        """This process's share of each batch of ``order``."""
        return shard_batches(order, batch_size, self.group.rank, self.group.size)

    def gather(self, keys: Keys) -> Keys:
        features, embeddings, logits = all_rows(*keys)
        return features, embeddings, logits

    def mean(self, values: dict[str, float]) -> dict[str, float]:
        totals = torch.tensor(list(values.values()), dtype=torch.float64,
                              device=self.group.device)
        dist.all_reduce(totals)
        return {name: float(total) / self.group.size
                for name, total in zip(values, totals.cpu(), strict=True)}


def _local_gpu(device: torch.device, launch: Launch) -> torch.device:
    """cuda:LOCAL_RANK, the GPU a torchrun process trains on."""
    if device.index is not None and device.index != launch.local_rank:
        raise LaunchError(f"under torchrun each process trains on the GPU of its LOCAL_RANK "
                          f"(cuda:{launch.local_rank} here): give --device cuda or auto, "
                          f"not {device}")
    if launch.local_rank >= torch.cuda.device_count():
        raise LaunchError(f"LOCAL_RANK={launch.local_rank}, but this machine has "
                          f"{torch.cuda.device_count()} CUDA device(s): start at most that "
                          "many processes per node")
    return torch.device("cuda", launch.local_rank)


def _leave() -> None:
    """At exit: the group mcod started, unless the caller has destroyed it already."""
    if dist.is_initialized():
        dist.destroy_process_group()


def join(device: torch.device, environ: Mapping[str, str] = os.environ) -> Group:
    """The group this process trains in: itself alone, unless torchrun launched it; then
    torch.distributed's default group, initialised here if the caller has not (gloo on
    CPU, NCCL on CUDA; destroyed at exit)."""
    launch = launch_from_env(environ)
    if launch is None:
        return Group(device)
    if device.type == "cuda":
        device = _local_gpu(device, launch)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo",
                                rank=launch.rank, world_size=launch.size)
        atexit.register(_leave)
    if (dist.get_rank(), dist.get_world_size()) != (launch.rank, launch.size):
        raise LaunchError(f"the process group has rank {dist.get_rank()} of "
                          f"{dist.get_world_size()}, but torchrun says {launch.rank} of "
                          f"{launch.size}")
    if device.type == "cpu" and "gloo" not in str(dist.get_backend()):
        raise LaunchError(f"training on CPU needs a gloo process group, not "
                          f"{dist.get_backend()}: give --device cuda")
    return ProcessGroup(device, launch.rank, launch.size)

