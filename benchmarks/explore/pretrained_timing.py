"""Wall time of one full CIFAR-10 UOD task (class c, rho 0.1, seed 0: 6,666 images) with
MCOD(config="pretrained"): encoding, head training and scoring, from an empty feature cache
(a fresh one in /tmp); then knn-pretrained on the same task, from that cache.

    PYTHONPATH=src python benchmarks/explore/pretrained_timing.py 0 [threads]
"""

from __future__ import annotations

import sys
import tempfile
import time

import torch
from sklearn.metrics import roc_auc_score

from mcod import MCOD
from mcod.bench.on_features import PretrainedKNN
from mcod.data.datasets import load_dataset, uod_split
from mcod.nn.feature_cache import FeatureCache


def main(inlier_class: int, threads: int = 1) -> None:
    torch.set_num_threads(threads)
    data = load_dataset("cifar10", "/work/shared/data")
    idx, y = uod_split(data.labels, inlier_class, 0.1, seed=0)
    images = data.images[idx]
    with tempfile.TemporaryDirectory(prefix="mcod-timing-") as cache:
        start = time.time()
        detector = MCOD(config="pretrained", random_state=0, feature_cache=cache).fit(images)
        seconds = time.time() - start
        knn = PretrainedKNN(cache=FeatureCache(cache)).fit(images)
    print(f"cifar10 full uod c={inlier_class} n={len(y)} threads={threads} "
          f"score={roc_auc_score(y, detector.decision_scores_):.4f} "
          f"knn50={roc_auc_score(y, knn.decision_scores_):.4f} "
          f"fit+score={seconds:.0f}s", flush=True)


if __name__ == "__main__":
    main(int(sys.argv[1]), *(int(a) for a in sys.argv[2:3]))
