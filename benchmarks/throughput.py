"""Training and scoring throughput of the from-scratch configurations (release, scratch) on
28x28 images, same run.

    python benchmarks/throughput.py [--n 2048] [--epochs 1] [--device cpu] [--results FILE]

Prints images/s for each configuration and the ratio to `release`. The images are
random (throughput does not depend on content). Figures are noisy on a shared machine:
compare the ratios, which come from one run. With `--results`, the figures are also
appended to a results file (protocol `throughput`), where `mcod bench report` shows them
in part 5: the release's 200-epoch fits take hours on a CPU, so this is how its cost is
measured there.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from mcod import MCOD
from mcod.bench.results import append_result
from mcod.bench.runner import provenance


def measure(config: str, images: np.ndarray, epochs: int, device: str) -> tuple[float, float]:
    """(training images/s, scoring images/s) of one fit on `images`."""
    detector = MCOD(config=config, epochs=epochs, batch_size=256, device=device, random_state=0)
    start = time.perf_counter()
    detector.fit(images)
    fit_seconds = time.perf_counter() - start
    start = time.perf_counter()
    detector.decision_function(images)
    score_seconds = time.perf_counter() - start
    # fit also scores the training set once; count only the training share
    train_seconds = max(fit_seconds - score_seconds, 1e-9)
    return len(images) * epochs / train_seconds, len(images) / score_seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2048, help="images per epoch")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--results", help="also append the figures to this JSON Lines file")
    args = parser.parse_args()
    images = np.random.default_rng(0).integers(0, 256, (args.n, 28, 28), dtype=np.uint8)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {args.device}")
    results = {c: measure(c, images, args.epochs, args.device) for c in ("release", "scratch")}
    base_train, base_score = results["release"]
    print(f"{'config':<10}{'train img/s':>14}{'score img/s':>14}{'train x release':>18}")
    for config, (train, score) in results.items():
        print(f"{config:<10}{train:>14.0f}{score:>14.0f}{train / base_train:>18.2f}")
        if args.results:
            append_result(args.results, {
                "protocol": "throughput", "dataset": f"random {args.n}x28x28",
                "detector": f"mcod-{config}", "n_fit": args.n, "epochs": args.epochs,
                "train_img_per_s": train, "score_img_per_s": score,
                "device": args.device, "threads": torch.get_num_threads(), **provenance(),
            })


if __name__ == "__main__":
    main()
