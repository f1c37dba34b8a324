"""Peak memory and wall time of `mcod detect FOLDER` on folders of large JPEG photos.

    OMP_NUM_THREADS=1 python benchmarks/folder_memory.py [--mixed 20,250,1000,3000]
        [--same 1000] [--phone 250] [--work DIR] [--results FILE]

Why: a folder of photos used to be decoded at full size into one array before it was
shrunk to the network's 32x32 (400 JPEGs of 1024x768 took 1.5-1.75 GB). Each folder
here holds N JPEGs made from CIFAR-10 test images (`$MCOD_DATA_DIR`, default
/work/shared/data: cifar10/cifar10_jpg_q75.tar.gz) upscaled to camera sizes and
re-encoded. Three kinds of folder (`KINDS`):

- ``mixed``: sizes from 640x480 to 1024x768, landscape and portrait: read at the input
  size (128x128 for `default`, 32x32 for `scratch`) by
  the default policy, crop;
- ``same``: every photo 1024x768, larger than the network's input and so shrunk as it is
  read; and with ``--resize crop``;
- ``phone``: 4032x3024 landscape and portrait, a phone camera's 12 MP.

Each `mcod detect FOLDER --config C --quiet --device cpu` (``--config`` and ``--epochs``
as given here; default: the `default` config as shipped) runs as its own process with
OMP_NUM_THREADS=1 and an empty feature cache of its own (a first run: every photo is
encoded); its peak RSS is its ``ru_maxrss`` (`_PEAK_OF`), the torch import included: the
``N = 20`` row shows that fixed part. Runs of 0.1 (the from-scratch config, then
``default``) used ``--epochs 1``. Figures are printed and
appended to the results file (records without a ``detector``, so `mcod bench report`
leaves them out).
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from contextlib import nullcontext
from pathlib import Path

import numpy as np
from PIL import Image

from mcod.bench.results import append_result
from mcod.bench.runner import provenance

KINDS: dict[str, list[tuple[int, int]]] = {  # (width, height) of the photos, in turn
    "mixed": [(1024, 768), (768, 1024), (800, 600), (600, 800), (640, 480), (1024, 576),
              (960, 720)],
    "same": [(1024, 768)],
    "phone": [(4032, 3024), (3024, 4032)],
}
CIFAR = "cifar10/cifar10_jpg_q75.tar.gz"


def cifar_images(data_dir: Path, n: int) -> list[Image.Image]:
    """The first ``n`` CIFAR-10 test images of the tar (sorted names, test/ first)."""
    images = []
    with tarfile.open(data_dir / CIFAR) as tar:
        for member in tar:
            if member.isfile() and member.name.startswith("test/"):
                images.append(Image.open(io.BytesIO(tar.extractfile(member).read())).convert("RGB"))
                if len(images) == n:
                    break
    return images


def make_folder(folder: Path, sources: list[Image.Image], n: int, kind: str) -> None:
    """``n`` JPEGs (quality 90) in ``folder``: CIFAR images upscaled (bicubic) to camera
    sizes, with a little noise (one tile, cut at random) so that they do not compress like
    flat colour. Made beside it and renamed, so a folder that exists is complete."""
    making = folder.with_name(folder.name + ".making")
    shutil.rmtree(making, ignore_errors=True)
    making.mkdir(parents=True)
    rng = np.random.default_rng(0)
    sizes = KINDS[kind]
    side = max(max(size) for size in sizes)
    noise = rng.integers(-8, 9, (2 * side, 2 * side, 3), dtype=np.int16)
    for i in range(n):
        width, height = sizes[i % len(sizes)]
        top, left = rng.integers(0, side, 2)
        big = np.asarray(sources[i % len(sources)].resize((width, height),
                                                          Image.Resampling.BICUBIC))
        noisy = big + noise[top:top + height, left:left + width]
        Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8)).save(
            making / f"photo{i:05d}.jpg", quality=90)
    making.rename(folder)


# Runs the command and prints its peak RSS in KiB. A child's ru_maxrss starts from the RSS
# of the process that spawned it (Linux keeps the parent's high-water mark across exec), so
# `mcod detect` is spawned by this small process, not by the benchmark holding photos.
_PEAK_OF = (
    "import resource, subprocess, sys\n"
    "rc = subprocess.call(sys.argv[1:], stdout=subprocess.DEVNULL)\n"
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
    "sys.exit(rc)\n"
)


def measure(folder: Path, extra: list[str]) -> tuple[float, float, int]:
    """(peak RSS in MB, wall seconds, exit code) of one `mcod detect` process, as a first
    run: an empty feature cache of its own, so a pretrained config encodes every photo."""
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
               "MCOD_FEATURE_CACHE": cache}
        cmd = [sys.executable, "-m", "mcod", "detect", str(folder), "--quiet", "--device", "cpu",
               *extra]
        done = subprocess.run([sys.executable, "-c", _PEAK_OF, *cmd], env=env,
                              capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode:
        print(done.stderr[-2000:], file=sys.stderr)
    return int(done.stdout.split()[-1]) / 1024, seconds, done.returncode  # KiB on Linux


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for kind, default in (("mixed", "20,250,1000,3000"), ("same", "1000"), ("phone", "250")):
        parser.add_argument(f"--{kind}", default=default, metavar="N,N",
                            help=f"sizes of the {kind!r} folders (default: {default})")
    parser.add_argument("--work", help="where the folders are made and kept, to be reused by "
                        "the next run (default: a temporary folder, removed at the end)")
    parser.add_argument("--data-dir", default=os.environ.get("MCOD_DATA_DIR", "/work/shared/data"))
    parser.add_argument("--results", help="also append the figures to this JSON Lines file")
    parser.add_argument("--config", default="default", help="mcod's --config (default: default)")
    parser.add_argument("--epochs", type=int, help="mcod's --epochs (default: the config's)")
    args = parser.parse_args()
    fixed = ["--config", args.config] + ([] if args.epochs is None else ["--epochs",
                                                                         str(args.epochs)])
    runs = [(kind, int(n), fixed + extra) for kind in KINDS
            for n in getattr(args, kind).split(",") if n
            for extra in ([[], ["--resize", "crop"]] if kind == "same" else [[]])]
    sources = cifar_images(Path(args.data_dir), 1000)
    with nullcontext(args.work) if args.work else tempfile.TemporaryDirectory() as work:
        print(f"{'folder':<8}{'N':>6}  {'options':<14}{'peak RSS MB':>12}{'wall s':>8}")
        for kind, n, extra in runs:
            folder = Path(work) / f"{kind}{n}"
            if not folder.exists():
                make_folder(folder, sources, n, kind)
            peak, seconds, rc = measure(folder, extra)
            print(f"{kind:<8}{n:>6}  {' '.join(extra) or '-':<14}{peak:>12.0f}{seconds:>8.1f}"
                  + (f"  FAILED rc {rc}" if rc else ""), flush=True)
            if args.results and not rc:
                append_result(args.results, {
                    "benchmark": "folder_memory", "folder": kind, "n": n,
                    "sizes": [list(size) for size in KINDS[kind]],
                    "options": extra, "peak_rss_mb": round(peak, 1),
                    "wall_s": round(seconds, 2), **provenance(),
                })


if __name__ == "__main__":
    main()
