"""A FIFO queue of the most recent keys (features, embeddings, cluster logits)."""

from __future__ import annotations

import torch
from torch import nn


class KeyQueue(nn.Module):
    """Ring buffer of the last `size` keys; reads return only the filled part.

    Holds key features f (memory write, erase usage), key embeddings z (negatives of
    the instance loss) and key cluster logits w (write weights).
    """

    features: torch.Tensor
    embeddings: torch.Tensor
    logits: torch.Tensor
    pointer: torch.Tensor
    filled: torch.Tensor

    def __init__(self, size: int, feature_dim: int, embedding_dim: int, n_clusters: int) -> None:
        super().__init__()
        if size < 1:
            raise ValueError(f"queue size must be positive, got {size}")
        self.register_buffer("features", torch.zeros(size, feature_dim))
        self.register_buffer("embeddings", torch.zeros(size, embedding_dim))
        self.register_buffer("logits", torch.zeros(size, n_clusters))
        self.register_buffer("pointer", torch.zeros((), dtype=torch.long))
        self.register_buffer("filled", torch.zeros((), dtype=torch.long))

    @property
    def size(self) -> int:
        return self.features.shape[0]

    def __len__(self) -> int:
        return int(self.filled)

    @torch.no_grad()
    def push(self, features: torch.Tensor, embeddings: torch.Tensor, logits: torch.Tensor) -> None:
        """Enqueue a batch of keys, overwriting the oldest ones."""
        n = features.shape[0]
        if n > self.size:  # only the newest `size` keys can be kept
            features, embeddings, logits = (
                features[-self.size :],
                embeddings[-self.size :],
                logits[-self.size :],
            )
            n = self.size
        index = (self.pointer + torch.arange(n, device=self.pointer.device)) % self.size
        self.features[index] = features
        self.embeddings[index] = embeddings
        self.logits[index] = logits
        self.pointer.copy_((self.pointer + n) % self.size)
        self.filled.copy_(torch.clamp(self.filled + n, max=self.size))

    def contents(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The filled keys as (features, embeddings, logits)."""
        n = len(self)
        return self.features[:n], self.embeddings[:n], self.logits[:n]
