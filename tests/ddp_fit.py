"""Fit MCOD on the digits task and save what each process ends with: run by
tests/test_distributed.py under ``torch.distributed.run`` (and alone, for comparison).

    python tests/ddp_fit.py OUT_DIR EPOCHS [SEED [IMAGE_SIZE]]
"""

import os
import sys
from pathlib import Path

import torch

from mcod import MCOD, get_config
from mcod.data.datasets import load_dataset, uod_split


def main() -> None:
    out, epochs = Path(sys.argv[1]), int(sys.argv[2])
    seed = int(sys.argv[3]) if len(sys.argv) > 3 else 0
    size = int(sys.argv[4]) if len(sys.argv) > 4 else 32
    digits = load_dataset("digits")
    index, is_outlier = uod_split(digits.labels, inlier_class=0, rho=0.1, seed=0)
    detector = MCOD(config=get_config("default").replace(image_size=size), epochs=epochs,
                    random_state=seed, device="cpu").fit(digits.images[index])
    rank = int(os.environ.get("RANK", "0"))
    torch.save({"state": detector.network_.state_dict(),
                "scores": torch.from_numpy(detector.decision_scores_),
                "truth": torch.from_numpy(is_outlier),
                "history": detector.history_}, out / f"rank{rank}.pt")


if __name__ == "__main__":
    main()
