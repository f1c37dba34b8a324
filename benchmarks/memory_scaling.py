"""Peak memory and wall time of `mcod score` as the data grows (issue 16, item 10).

Generates synthetic data in a temporary folder (28x28 uint8 images as .npy, float tables
of 20 columns as CSV), trains one small model per kind once (on 2,000 samples), then runs
`mcod score` on each size in a fresh process and reads that process's own peak RSS
(``os.wait4``'s ru_maxrss, so the training run does not count). Prints a table and
appends one JSON line per run to --results.

    OMP_NUM_THREADS=1 python benchmarks/memory_scaling.py --threads 1 --label after

``--src DIR`` scores with the mcod found in DIR (e.g. a worktree of an older commit's
``src``), to compare code versions on the same data. ``--report`` also writes the HTML
report (``mcod score --report``) in each run, so its memory is measured too:

    OMP_NUM_THREADS=1 python benchmarks/memory_scaling.py --threads 1 --report \
        --images 100000,1000000 --rows 1000000
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
SIDE = 28
COLUMNS = 20
TRAIN_N = 2000
WRITE_CHUNK = 50_000  # samples generated and written at a time (the generator stays small)


def _sizes(text: str) -> list[int]:
    """'10000,100000' -> [10000, 100000]; an empty string -> no runs of that kind."""
    return [int(s) for s in text.split(",") if s.strip()]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=_sizes, default=_sizes("10000,100000,1000000"),
                        help="image counts (default: 10000,100000,1000000)")
    parser.add_argument("--rows", type=_sizes, default=_sizes("100000,1000000"),
                        help="CSV row counts (default: 100000,1000000)")
    parser.add_argument("--src", type=Path, default=HERE.parent / "src",
                        help="the mcod source folder to score with (default: this checkout's)")
    parser.add_argument("--label", default="current", help="names the code version in results")
    parser.add_argument("--results", type=Path, default=HERE / "results" / "memory_scaling.jsonl")
    parser.add_argument("--threads", type=int, default=1, help="torch/BLAS threads (default: 1)")
    parser.add_argument("--workdir", type=Path, default=None,
                        help="keep data and models here and reuse them (default: a temp folder)")
    parser.add_argument("--epochs", type=int, default=2, help="training epochs (default: 2)")
    parser.add_argument("--report", action="store_true",
                        help="score with --report DIR as well (the HTML report's memory)")
    return parser.parse_args()


def _child_env(src: Path, threads: int) -> dict[str, str]:
    """The environment of every mcod run: the chosen source first on the path, fixed threads."""
    env = dict(os.environ, PYTHONPATH=str(src))
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        env[name] = str(threads)
    return env


def run_measured(command: list[str], env: dict[str, str]) -> tuple[float, float, int]:
    """(peak RSS in MB, wall seconds, exit code) of one child process, measured alone."""
    started = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        print(process.stderr.read().decode(errors="replace")[-2000:], file=sys.stderr)
    process.stderr.close()
    return usage.ru_maxrss / 1024, seconds, process.returncode  # Linux: ru_maxrss in KiB


def write_images(path: Path, n: int, seed: int) -> Path:
    """n random 28x28 uint8 images with a bright square, written in chunks through a file
    handle: a memory map would raise this process's peak RSS, which a child started by
    fork and exec reports as its own (Linux keeps the larger of the two in ru_maxrss)."""
    if path.exists():
        return path
    rng = np.random.default_rng(seed)
    with path.open("wb") as handle:
        header = {"descr": "|u1", "fortran_order": False, "shape": (n, SIDE, SIDE)}
        np.lib.format.write_array_header_1_0(handle, header)
        for start in range(0, n, WRITE_CHUNK):
            chunk = rng.integers(0, 64, size=(min(WRITE_CHUNK, n - start), SIDE, SIDE),
                                 dtype=np.uint8)
            chunk[:, 8:20, 8:20] += 128
            chunk.tofile(handle)
    return path


def write_table(path: Path, n: int, seed: int) -> Path:
    """n rows x COLUMNS of normal floats (5 significant digits) as CSV, in chunks."""
    if path.exists():
        return path
    rng = np.random.default_rng(seed)
    header = ",".join(f"x{j}" for j in range(COLUMNS))
    with path.open("w") as handle:
        handle.write(header + "\n")
        for start in range(0, n, WRITE_CHUNK):
            chunk = rng.standard_normal((min(WRITE_CHUNK, n - start), COLUMNS))
            np.savetxt(handle, chunk, fmt="%.5g", delimiter=",")
    return path


def train(kind: str, data: Path, model: Path, env: dict[str, str], epochs: int) -> None:
    """`mcod detect --save-model` on the small training file, once."""
    if model.exists():
        return
    command = [sys.executable, "-m", "mcod", "detect", str(data), "--epochs", str(epochs),
               "--save-model", str(model), "--quiet", "--top", "0"]
    _, seconds, code = run_measured(command, env)
    if code != 0:
        sys.exit(f"training the {kind} model failed")
    print(f"trained the {kind} model in {seconds:.0f} s")


def main() -> int:
    args = parse_args()
    env = _child_env(args.src.resolve(), args.threads)
    scratch = None if args.workdir else tempfile.TemporaryDirectory(prefix="mcod-memory-")
    work = args.workdir or Path(scratch.name)
    work.mkdir(parents=True, exist_ok=True)
    cases = [("images", n, work / f"images_{n}.npy", write_images) for n in args.images]
    cases += [("csv", n, work / f"table_{n}.csv", write_table) for n in args.rows]
    models = {}
    if args.images:
        models["images"] = work / "images_model.pt"
        train("images", write_images(work / "images_train.npy", TRAIN_N, 1), models["images"],
              env, args.epochs)
    if args.rows:
        models["csv"] = work / "table_model.pt"
        train("csv", write_table(work / "table_train.csv", TRAIN_N, 1), models["csv"], env,
              args.epochs)
    args.results.parent.mkdir(parents=True, exist_ok=True)
    print(f"{'label':<10} {'input':<8} {'n':>9} {'file MB':>8} {'peak MB':>8} {'wall s':>7}"
          + ("  (with --report)" if args.report else ""))
    for kind, n, path, writer in cases:
        writer(path, n, 2)
        out = work / f"out_{kind}_{n}"
        command = [sys.executable, "-m", "mcod", "score", str(models[kind]), str(path),
                   "--out", str(out), "--quiet", "--top", "0"]
        command += ["--report", str(out / "report")] if args.report else []
        peak, seconds, code = run_measured(command, env)
        record = {"label": args.label, "input": kind, "n": n, "report": args.report,
                  "file_mb": round(path.stat().st_size / 2**20, 1),
                  "peak_rss_mb": round(peak, 1), "wall_s": round(seconds, 1), "exit_code": code,
                  "threads": args.threads, "cpus": os.cpu_count(), "machine": platform.machine(),
                  "timestamp": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        with args.results.open("a") as handle:
            handle.write(json.dumps(record) + "\n")
        print(f"{args.label:<10} {kind:<8} {n:>9} {record['file_mb']:>8} {peak:>8.0f} "
              f"{seconds:>7.1f}" + ("" if code == 0 else f"  (exit {code})"), flush=True)
    if scratch is not None:
        scratch.cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
