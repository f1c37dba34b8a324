"""Label-based metrics. Scores: higher = more outlying; y: 1 = outlier, 0 = inlier."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score


def _check(y: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y).ravel().astype(np.int64)
    scores = np.asarray(scores, dtype=np.float64).ravel()
    if y.shape != scores.shape:
        raise ValueError(f"y {y.shape} and scores {scores.shape} differ in length")
    if not np.isfinite(scores).all():
        raise ValueError(f"{int((~np.isfinite(scores)).sum())} scores are NaN or infinite")
    if set(np.unique(y)) != {0, 1}:
        raise ValueError("metrics need both inliers (0) and outliers (1) in y")
    return y, scores


def auroc(y: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve, outliers positive."""
    y, scores = _check(y, scores)
    return float(roc_auc_score(y, scores))


def ap_out(y: np.ndarray, scores: np.ndarray) -> float:
    """Average precision with the outliers as the positive class."""
    y, scores = _check(y, scores)
    return float(average_precision_score(y, scores))


def ap_in(y: np.ndarray, scores: np.ndarray) -> float:
    """Average precision with the inliers as the positive class (scores negated)."""
    y, scores = _check(y, scores)
    return float(average_precision_score(1 - y, -scores))


def all_metrics(y: np.ndarray, scores: np.ndarray) -> dict[str, float]:
    return {"auroc": auroc(y, scores), "ap_out": ap_out(y, scores), "ap_in": ap_in(y, scores)}
