"""Probe (#18, one-class MNIST): does a local term on the encoder's unit features, added to
the novelty default's whitened distance, reach LOF on the same features without losing
Fashion-MNIST and CIFAR-10? Per task (full bench task, seed 7 by default): fit
`MCOD(novelty=True)`; terms on the test rows: the model's score (`centre`), kNN-k mean
distance and LOF-20 on the unit features (the fit rows as reference); sums of the model's
score and a local term, each standardised by its own training scores (leave-self-out for
kNN, LOF's own factors, the model's cross-fitted ones), so no label enters.

    python benchmarks/explore/local_term_probe.py mnist 2-4 7 OUT_DIR
"""

import sys
import time

import numpy as np
from novelty_tasks import log_record, novelty_fits
from sklearn.metrics import roc_auc_score
from sklearn.neighbors import LocalOutlierFactor, NearestNeighbors


def _z(train: np.ndarray, test: np.ndarray) -> np.ndarray:
    return (test - train.mean()) / train.std()


def main(name, classes, seed, out):
    start = time.time()
    for images, task, m in novelty_fits(name, classes, seed):
        test_scores = m.decision_function(images[task.score_idx])
        encode = m._encoder(m.config_, m.device_)  # a probe reads the encoder as fit does
        fit_unit = encode(m.preprocessor_.check(images[task.fit_idx]), m.pixel_range_)[0]
        test_unit = encode(m.preprocessor_.check(images[task.score_idx]), m.pixel_range_)[0]
        record = {"ds": name, "c": task.inlier_class, "seed": task.seed,
                  "centre": roc_auc_score(task.y, test_scores)}
        terms = {}
        for k in (1, 5, 20):
            nn = NearestNeighbors(n_neighbors=k + 1).fit(fit_unit)
            train = nn.kneighbors(fit_unit)[0][:, 1:].mean(1)  # leave self out
            test = nn.kneighbors(test_unit, n_neighbors=k)[0].mean(1)
            terms[f"knn{k}"] = (train, test)
        lof = LocalOutlierFactor(n_neighbors=20, novelty=True).fit(fit_unit)
        terms["lof20"] = (-lof.negative_outlier_factor_, -lof.score_samples(test_unit))
        for term, (train, test) in terms.items():
            record[term] = roc_auc_score(task.y, test)
            combined = _z(m.decision_scores_, test_scores) + _z(train, test)
            record[f"centre+{term}"] = roc_auc_score(task.y, combined)
        log_record(out, record, start)
        start = time.time()


if __name__ == "__main__":
    main(*sys.argv[1:5])
