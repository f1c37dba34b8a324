"""Images per second through the pretrained encoder (EfficientNet-Lite0, 128 px) on one CPU
thread, by batch size, with glibc's allocator as it comes and as `mcod.nn.allocator` sets it,
and in float64 (`image_float64`) with the tuned allocator.

Each setting runs in its own process (the allocator setting is process-wide). Run:
    python benchmarks/encoding_speed.py [--images 512]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

CHILD = """
import os, sys, time
if sys.argv[2] == "tuned":
    from mcod.nn.allocator import keep_freed_memory
    assert keep_freed_memory(), "no glibc here"
import numpy as np, torch
torch.set_num_threads(1)
from mcod.nn.encoders import extract_features, load_encoder
encoder = load_encoder("efficientnet-lite0")
if sys.argv[4] == "float64":
    encoder = encoder.double()
images = np.random.default_rng(0).integers(0, 256, (int(sys.argv[3]), 32, 32, 3), np.uint8)
batch = int(sys.argv[1])
extract_features(encoder, images[:batch], 128, batch_size=batch)  # warm-up
start, t0 = time.perf_counter(), os.times()
extract_features(encoder, images, 128, batch_size=batch)
t1 = os.times()
print(f"{len(images) / (time.perf_counter() - start):.0f} {t1.system - t0.system:.1f}")
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=512)
    args = parser.parse_args()
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    print("batch  allocator  dtype    images/s  kernel s")
    settings = [(batch, allocator, "float32") for batch in (16, 64)
                for allocator in ("glibc", "tuned")] + [(batch, "tuned", "float64")
                                                        for batch in (8, 16, 64)]
    for batch, allocator, dtype in settings:
        out = subprocess.run([sys.executable, "-c", CHILD, str(batch), allocator,
                              str(args.images), dtype], env=env, check=True, text=True,
                             capture_output=True).stdout.split()
        print(f"{batch:5d}  {allocator:9s}  {dtype:7s}  {out[0]:>8s}  {out[1]:>8s}")


if __name__ == "__main__":
    main()
