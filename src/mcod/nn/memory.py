"""The memory: K prototype items in feature space, read by soft attention."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class Memory(nn.Module):
    """K unit-norm items M (K x d) with read, write and erase.

    Items are a buffer, not a parameter: they move only by `write`, never by gradient.
    """

    items: torch.Tensor

    def __init__(self, n_items: int, dim: int) -> None:
        super().__init__()
        init = torch.randn(n_items, dim)
        self.register_buffer("items", F.normalize(init, dim=1))

    def read(self, logits: torch.Tensor, items: torch.Tensor | None = None) -> torch.Tensor:
        """r = softmax(w)^T M: what memory recalls for cluster logits w (B x K), in their
        dtype (scoring reads in float64, training in float32)."""
        items = self.items if items is None else items
        return logits.softmax(dim=1) @ items.to(logits.dtype)

    @torch.no_grad()
    def write(self, features: torch.Tensor, logits: torch.Tensor) -> None:
        """Item j <- normalise(sum_n softmax(w_n)_j f_n): soft-assigned mean of recent keys."""
        weights = logits.softmax(dim=1)  # N x K
        self.items.copy_(F.normalize(weights.T @ features, dim=1))

    @torch.no_grad()
    def erased(
        self, logits: torch.Tensor, std: float, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """Items perturbed by noise scaled by (1 - usage): lets dead items move to the data.

        Usage u_j is the share of queued samples whose top cluster is j. Returns a new
        tensor; the stored items stay clean, since scoring must never see erase noise.
        """
        usage = self.usage(logits)
        noise = torch.randn(self.items.shape, generator=generator, device="cpu")
        noise = noise.to(self.items.device) * (std * (1.0 - usage)).unsqueeze(1)
        return F.normalize(self.items + noise, dim=1)

    def distance(self, features: torch.Tensor, logits: torch.Tensor, score: str) -> torch.Tensor:
        """Per-sample outlier score: distance to what memory reads ("read") or to its nearest item.

        "read" is the method's score; "nearest" lets an item held mostly by inliers
        judge a sample even when the addressing head spreads its attention. Computed in the
        features' dtype: float32 in training, float64 in scoring (`MCODNet.score`).
        """
        if score == "read":
            return read_distance(features, self.read(logits.to(features.dtype)))
        if score == "nearest":
            items = self.items.to(features.dtype)
            return torch.cdist(features, items).pow(2).min(dim=1).values
        raise ValueError(f"score must be 'read' or 'nearest', got {score!r}")

    @torch.no_grad()
    def usage(self, logits: torch.Tensor) -> torch.Tensor:
        """Share of samples whose top cluster is each item (sums to 1)."""
        return top_item_counts(logits, self.items.shape[0]).float() / len(logits)


def top_item_counts(logits: torch.Tensor, n_items: int) -> torch.Tensor:
    """How many samples have each item as their top cluster (highest logit or attention;
    ties: the first item): what an item's usage counts, in training and in the report."""
    return torch.bincount(logits.argmax(dim=1), minlength=n_items)


def read_distance(features: torch.Tensor, recalled: torch.Tensor) -> torch.Tensor:
    """Squared distance ||f - r||^2 per sample: the read loss term and the outlier score."""
    return (features - recalled).pow(2).sum(dim=1)


def best_fitting(distances: torch.Tensor, trim: float) -> torch.Tensor:
    """Indices of the samples closest to memory, leaving out the worst-fitting `trim` share.

    Under unknown contamination the worst-fitting samples are the likeliest outliers, so
    what pulls features toward memory or writes it should leave them out.
    """
    if not 0.0 <= trim < 1.0:
        raise ValueError(f"trim must be in [0, 1), got {trim!r}")
    return distances.argsort()[: max(1, round(len(distances) * (1.0 - trim)))]
