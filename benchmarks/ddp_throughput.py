"""Training throughput of one fit spread over 1, 2, ... processes (torchrun + DDP).

    python benchmarks/ddp_throughput.py [--processes 1 2] [--images 2048] [--epochs 2]
        [--batch-size 256] [--weak] [--threads T] [--repeats R] [--config scratch]
        [--device cpu]

For each count P this starts ``torch.distributed.run --standalone --nproc-per-node P`` with
this file as the worker, and prints training samples/s and the ratio to the first count.
Each worker times the training loop alone (`mcod.nn.training.train` after a one-epoch
warm-up, the weight averaging and the final memory write off: they are not shared out) on
random images at the config's size, so the figure is the one that more processes can
raise. ``--batch-size`` is the batch of one step over all processes (what ``mcod detect
--batch-size`` means under torchrun); with ``--weak`` each process gets that many instead.
On CPU the machine's cores are split evenly (OMP_NUM_THREADS = cores / P, at least 1, or
``--threads`` each), so one process uses them all; on CUDA each process takes one GPU.
Figures are noisy on a shared machine: ``--repeats R`` runs the counts in turn R times and
keeps each count's best.
The CPU time of all the processes per sample is printed too: unlike samples/s, it does
not depend on whether other programs leave the cores free, and its growth with P is the
cost of sharing (collectives, per-step overheads that do not shrink with the share).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import torch
import torch.distributed as dist

from mcod import get_config
from mcod.nn.distributed import join
from mcod.nn.model import MCODNet
from mcod.nn.training import train


def worker(args: argparse.Namespace) -> None:
    """One process's part: rank 0 prints a JSON line with the figures."""
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    group = join(torch.device(args.device))
    config = get_config(args.config).replace(average_weights_from=None, consolidate=False)
    batch = args.batch_size * (group.size if args.weak else 1)
    generator = torch.Generator().manual_seed(0)  # the same data in every process
    data = torch.rand((args.images, 1, config.image_size, config.image_size), generator=generator)
    data = data.to(group.device)
    torch.manual_seed(0)
    net = MCODNet(config, tuple(data.shape[1:]), queue_size=config.queue_size).to(group.device)
    with group.training(net) as session:
        train(net, data, 1, batch, session=session)  # warm-up: first calls, allocations
        _sync(group.device, group.size)
        started, cpu = time.perf_counter(), time.process_time()
        train(net, data, args.epochs, batch, session=session)
        _sync(group.device, group.size)
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    if group.size > 1:  # CPU time of all the processes
        total = torch.tensor([cpu], dtype=torch.float64, device=group.device)
        dist.all_reduce(total)
        cpu = float(total)
    if group.main:
        samples = args.epochs * (args.images // batch) * batch
        print(json.dumps({"processes": group.size, "batch": batch, "seconds": seconds,
                          "samples_per_s": samples / seconds,
                          "cpu_ms_per_sample": 1000 * cpu / samples,
                          "threads": torch.get_num_threads(), "device": str(group.device)}))


def _sync(device: torch.device, size: int) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    if size > 1:
        dist.barrier()


def launch(args: argparse.Namespace, processes: int) -> dict[str, float]:
    """Run the workers for one process count; rank 0's figures."""
    env = dict(os.environ)
    if args.device == "cpu":
        threads = args.threads or max(1, (os.cpu_count() or 1) // processes)
        env["OMP_NUM_THREADS"] = str(threads)
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               "--nproc-per-node", str(processes), __file__, "--worker",
               *(f"--{k.replace('_', '-')}={v}" for k, v in vars(args).items()
                 if k in ("images", "epochs", "batch_size", "config", "device")),
               *(["--weak"] if args.weak else [])]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.exit(f"{processes} process(es) failed:\n{done.stderr[-3000:]}")
    return json.loads(next(line for line in reversed(done.stdout.splitlines())
                           if line.startswith("{")))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--images", type=int, default=2048, help="images per epoch")
    parser.add_argument("--epochs", type=int, default=2, help="timed epochs (after 1 warm-up)")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--weak", action="store_true", help="--batch-size per process")
    parser.add_argument("--threads", type=int, help="CPU threads per process")
    parser.add_argument("--repeats", type=int, default=1, help="keep the best of R runs")
    parser.add_argument("--config", default="scratch")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return
    print(f"torch {torch.__version__}, {os.cpu_count()} cores, device {args.device}, config "
          f"{args.config}, {args.images} images x {args.epochs} epochs")
    print(f"{'processes':>9}{'batch':>7}{'threads':>9}{'samples/s':>11}{'ratio':>8}"
          f"{'CPU ms/sample':>15}")
    best: dict[int, dict[str, float]] = {}
    for _ in range(args.repeats):
        for processes in args.processes:
            figures = launch(args, processes)
            if figures["samples_per_s"] > best.get(processes, {}).get("samples_per_s", 0):
                best[processes] = figures
    base = best[args.processes[0]]["samples_per_s"]
    for processes, figures in best.items():
        print(f"{processes:>9}{figures['batch']:>7.0f}{figures['threads']:>9.0f}"
              f"{figures['samples_per_s']:>11.0f}{figures['samples_per_s'] / base:>8.2f}"
              f"{figures['cpu_ms_per_sample']:>15.2f}")


if __name__ == "__main__":
    main()
