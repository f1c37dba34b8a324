"""The baselines that pretrained MCOD must beat: classic detectors on the same frozen
ImageNet features, and the one-off extraction that serves every task of a dataset.

Issue #18 measured kNN by hand (CIFAR-10 UOD rho 0.1, 10,000-image subsample: 0.859 at
224 px, 0.844 at 128 px);
registered here, kNN, LOF, IsolationForest and OCSVM run on the same tasks, splits and
L2-normalised features as mcod-default, with the settings their raw-pixel runs use.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from mcod.config import get_config
from mcod.nn.feature_cache import FeatureCache, cached_features
from mcod.nn.pretrained import encoder_for, unit_rows

SCORE_CHUNK = 1024  # rows of the similarity matrix held at a time
ENCODE_CHUNK = 5000  # images encoded (and cached) per step of `encode_dataset`


class _OnFeatures:
    """Images -> L2-normalised features of the ``default`` config's encoder and size."""

    def __init__(self, encoder: str | None, size: int | None, cache: FeatureCache | None) -> None:
        config = get_config("default")
        self.encoder = encoder or config.encoder
        self.size = size or config.encoder_size
        self.cache = cache if cache is not None else FeatureCache()

    def _features(self, images: np.ndarray) -> np.ndarray:
        return unit_rows(cached_features(encoder_for(self.encoder), images, self.size,
                                         self.cache))


class PretrainedKNN(_OnFeatures):
    """kNN (mean cosine distance to ``k`` neighbours, itself left out at fit)."""

    def __init__(self, k: int = 50, encoder: str | None = None, size: int | None = None,
                 cache: FeatureCache | None = None) -> None:
        super().__init__(encoder, size, cache)
        self.k = k

    def _scores(self, features: np.ndarray, leave_self_out: bool) -> np.ndarray:
        k = min(self.k, len(self.reference_) - int(leave_self_out))
        scores = np.empty(len(features))
        for start in range(0, len(features), SCORE_CHUNK):
            sim = features[start:start + SCORE_CHUNK] @ self.reference_.T
            if leave_self_out:
                rows = np.arange(len(sim))
                sim[rows, start + rows] = -np.inf
            top = -np.partition(-sim, k - 1, axis=1)[:, :k]
            scores[start:start + SCORE_CHUNK] = 1.0 - top.mean(axis=1)
        return scores

    def fit(self, X: np.ndarray, y: object = None) -> PretrainedKNN:
        if len(X) < 2:
            raise ValueError("kNN needs at least 2 images to fit")
        self.reference_ = self._features(X)
        self.decision_scores_ = self._scores(self.reference_, leave_self_out=True)
        return self

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        return self._scores(self._features(X), leave_self_out=False)


class OnPretrainedFeatures(_OnFeatures):
    """Any PyOD-style detector (fit / decision_scores_ / decision_function) on the features."""

    def __init__(self, detector: Any, encoder: str | None = None, size: int | None = None,
                 cache: FeatureCache | None = None) -> None:
        super().__init__(encoder, size, cache)
        self.detector = detector

    def fit(self, X: np.ndarray, y: object = None) -> OnPretrainedFeatures:
        self.detector.fit(self._features(X))
        self.decision_scores_ = np.asarray(self.detector.decision_scores_)
        return self

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        return np.asarray(self.detector.decision_function(self._features(X)))


def encode_dataset(images: np.ndarray, needed: Iterable[np.ndarray],
                   say: Callable[[str], None]) -> None:
    """Encode (into the per-user feature cache) every image some task reads, a chunk at a
    time (an interrupted pass keeps what it did), so each run then finds its features."""
    config = get_config("default")
    index = np.unique(np.concatenate([np.asarray(i) for i in needed]))
    encoder, cache = encoder_for(config.encoder), FeatureCache()
    for start in range(0, len(index), ENCODE_CHUNK):
        chunk = index[start:start + ENCODE_CHUNK]
        cached_features(encoder, images[chunk], config.encoder_size, cache)
        say(f"bench: encoded {start + len(chunk):,} of {len(index):,} images")
