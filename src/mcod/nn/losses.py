"""The loss terms of MCOD, each a pure function of tensors."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from mcod.nn.memory import best_fitting, read_distance


def instance_nce(
    queries: torch.Tensor, keys: torch.Tensor, negatives: torch.Tensor, temperature: float
) -> torch.Tensor:
    """MoCo InfoNCE: mean_i -log softmax over [q_i.k_i, q_i.n for n in queue] at index 0.

    Keys and negatives carry no gradient; negatives must be the queue *before* the
    current keys are pushed.
    """
    positive = (queries * keys.detach()).sum(dim=1, keepdim=True)
    negative = queries @ negatives.detach().T
    logits = torch.cat([positive, negative], dim=1) / temperature
    target = torch.zeros(len(queries), dtype=torch.long, device=queries.device)
    return F.cross_entropy(logits, target)


def cluster_contrastive(
    assign_a: torch.Tensor, assign_b: torch.Tensor, temperature: float
) -> torch.Tensor:
    """NT-Xent over the 2K cluster columns of two views' B x K assignment matrices.

    Column j of one view is the positive of column j of the other: a cluster must mean
    the same samples under both views.
    """
    k = assign_a.shape[1]
    columns = F.normalize(torch.cat([assign_a.T, assign_b.T], dim=0), dim=1)  # 2K x B
    similarity = columns @ columns.T / temperature
    similarity.fill_diagonal_(float("-inf"))  # a column is not its own negative
    target = torch.cat([torch.arange(k, 2 * k), torch.arange(k)]).to(columns.device)
    return F.cross_entropy(similarity, target)


def balance_entropy(probabilities: torch.Tensor) -> torch.Tensor:
    """log K - H(mean assignment): zero when clusters are used equally."""
    mean = probabilities.mean(dim=0)
    entropy = -(mean * torch.log(mean.clamp_min(1e-12))).sum()
    return math.log(probabilities.shape[1]) - entropy


def balance_squared_usage(assignments: torch.Tensor) -> torch.Tensor:
    """sum_j (sum_i u_j[i])^2 / B: the release's form, smallest for an even split."""
    return assignments.sum(dim=0).pow(2).sum() / assignments.shape[0]


def memory_read_loss(
    features: torch.Tensor, recalled: torch.Tensor, reduction: str = "mean", trim: float = 0.0
) -> torch.Tensor:
    """||f_i - r_i||^2 over the batch: pulls features toward what memory recalls.

    `trim` leaves the batch's worst-fitting share of samples out: under unknown
    contamination the read should pull the majority (the inliers) to memory, not the
    outliers, so that their distance to memory stays large.
    """
    distances = read_distance(features, recalled)
    if trim:
        distances = distances[best_fitting(distances, trim)]
    if reduction == "sum":
        return distances.sum()
    if reduction == "mean":
        return distances.mean()
    raise ValueError(f"reduction must be 'mean' or 'sum', got {reduction!r}")
