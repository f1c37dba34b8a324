"""Probe (#18, one-class MNIST), step 1: per task (full bench task, one seed), fit
`MCOD(novelty=True)` and save what any local score term needs, so that candidates are
compared offline on the same fits: the model's test and (cross-fitted) training scores,
the encoder's unit features of the fit and test rows, and the test labels (evaluation
only). `local_term_analysis.py` reads the saved arrays.

    python benchmarks/explore/local_term_dump.py mnist 0-9 7 OUT_DIR
"""

import sys
import time

import numpy as np
from novelty_tasks import log_record, novelty_fits
from sklearn.metrics import roc_auc_score


def main(name, classes, seed, out):
    start = time.time()
    for images, task, m in novelty_fits(name, classes, seed):
        encode = m._encoder(m.config_, m.device_)  # a probe reads the encoder as fit does
        fit_unit = encode(m.preprocessor_.check(images[task.fit_idx]), m.pixel_range_)[0]
        test_unit = encode(m.preprocessor_.check(images[task.score_idx]), m.pixel_range_)[0]
        test_scores = m.decision_function(images[task.score_idx])
        np.savez(f"{out}/{name}_{task.inlier_class}_{task.seed}.npz",
                 train_scores=m.decision_scores_, test_scores=test_scores, y=task.y,
                 fit_unit=fit_unit.astype(np.float32), test_unit=test_unit.astype(np.float32))
        log_record(out, {"ds": name, "c": task.inlier_class, "seed": task.seed,
                         "centre": roc_auc_score(task.y, test_scores)}, start)
        start = time.time()


if __name__ == "__main__":
    main(*sys.argv[1:5])
