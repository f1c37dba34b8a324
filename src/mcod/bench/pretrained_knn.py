"""The baseline that pretrained MCOD must beat: kNN on frozen ImageNet features.

docs/method.md measured it by hand (CIFAR-10 UOD rho 0.1: 0.859 at 224 px, 0.844 at 128 px);
as a registered detector it runs on the same tasks, splits and features as mcod-pretrained.
Score: the mean cosine distance to the k nearest fitted images (itself left out at fit).
"""

from __future__ import annotations

import numpy as np

from mcod.config import get_config
from mcod.nn.feature_cache import FeatureCache, cached_features
from mcod.nn.pretrained import encoder_for

SCORE_CHUNK = 1024  # rows of the similarity matrix held at a time


class PretrainedKNN:
    """kNN (mean cosine distance, ``k`` neighbours) on L2-normalised encoder features,
    the encoder and input size of the ``pretrained`` config unless given."""

    def __init__(self, k: int = 50, encoder: str | None = None, size: int | None = None,
                 cache: FeatureCache | None = None) -> None:
        config = get_config("pretrained")
        self.k = k
        self.encoder = encoder or config.encoder
        self.size = size or config.encoder_size
        self.cache = cache if cache is not None else FeatureCache()

    def _features(self, images: np.ndarray) -> np.ndarray:
        features = cached_features(encoder_for(self.encoder), images, self.size, self.cache)
        return features / np.maximum(np.linalg.norm(features, axis=1, keepdims=True), 1e-12)

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
