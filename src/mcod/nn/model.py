"""MCODNet: query and momentum encoders, key queue and memory, wired together.

Kept in the spirit of MoCo's compact builder: the network knows how to compute its
training losses for two views of a batch and how to score samples; the loop that feeds
it batches lives in `mcod.nn.training`.
"""

from __future__ import annotations

import copy
import functools
import operator
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from mcod.config import MCODConfig
from mcod.nn import losses
from mcod.nn.builder import build_encoder
from mcod.nn.memory import Memory, best_fitting
from mcod.nn.queue import KeyQueue

CONSOLIDATE_BATCH = 1024  # samples encoded at a time in the final write

Keys = tuple[torch.Tensor, torch.Tensor, torch.Tensor]  # key features, embeddings, logits
Rows = Callable[..., tuple[torch.Tensor, ...]]  # the rows of the whole batch (see training_losses)
Terms = dict[str, torch.Tensor]  # weighted loss terms by name: inst, clu, bal, read, rot


def _as_they_are(*parts: torch.Tensor) -> tuple[torch.Tensor, ...]:
    return parts


def _softmax_rows(*logits: torch.Tensor) -> tuple[torch.Tensor, ...]:
    return tuple(w.softmax(dim=1) for w in logits)


def _clean_items(queued_logits: torch.Tensor) -> None:
    return None  # the read sees the stored items


def _no_rotation_term(f: torch.Tensor, quarter_turns: torch.Tensor | None) -> Terms:
    return {}


class MCODNet(nn.Module):
    """Everything MCOD learns, as one module whose state_dict is the saved model.

    The config's choices for training (how logits become cluster assignments, which balance
    loss, erased or clean items for the read, a rotation term or none) are made here, once,
    so that `training_losses` is the method's step without branches on the config.
    """

    def __init__(
        self,
        config: MCODConfig,
        input_shape: tuple[int, ...],
        queue_size: int,
    ) -> None:
        super().__init__()
        self.config = config
        self.query = build_encoder(config, input_shape)
        self.key = copy.deepcopy(self.query)
        for parameter in self.key.parameters():
            parameter.requires_grad_(False)
        self.memory = Memory(config.n_memory, config.feature_dim)
        self.queue = KeyQueue(queue_size, config.feature_dim, config.embedding_dim, config.n_memory)
        self._assign: Rows = _softmax_rows if config.cluster_softmax else _as_they_are
        self._balance: Callable[[torch.Tensor], torch.Tensor] = (
            losses.balance_entropy if config.balance == "entropy"
            else losses.balance_squared_usage
        )
        self._read_items: Callable[[torch.Tensor], torch.Tensor | None] = (
            self._erased_items if config.erase else _clean_items
        )
        self._rotation_term: Callable[[torch.Tensor, torch.Tensor | None], Terms] = (
            self._rotation_loss if self.query.rotation is not None else _no_rotation_term
        )

    def memory_feature(self, features: torch.Tensor) -> torch.Tensor:
        """The feature as memory sees it (unit norm in mcod's default)."""
        return F.normalize(features, dim=1) if self.config.normalize_features else features

    @torch.no_grad()
    def momentum_update(self) -> None:
        """theta_k <- m * theta_k + (1 - m) * theta_q."""
        m = self.config.momentum
        for q, k in zip(self.query.parameters(), self.key.parameters(), strict=True):
            k.mul_(m).add_(q.detach(), alpha=1.0 - m)

    def training_losses(
        self,
        query_view: torch.Tensor,
        key_view: torch.Tensor,
        use_read: bool,
        quarter_turns: torch.Tensor | None = None,
        whole_batch: Rows = _as_they_are,
    ) -> tuple[Terms, Keys]:
        """All loss terms for one batch, and its keys for `after_step`.

        Reads the queue as it was before this batch; the caller sums the terms, steps
        the optimiser, then hands the keys to `after_step`. Where the batch is shared by
        several processes, ``whole_batch`` gives the rows of all their shares (the gradient
        flowing back to each), so that the terms of the batch as a whole (clusters,
        balance, the read's trim) are those of one process; per-sample means need not.
        The read term joins once `use_read` (after the warm-up) and the queue holds keys;
        the rotation term where there is a rotation head and `quarter_turns` are given.
        """
        c = self.config
        f_q, z_q, w_q = self.query(query_view)
        with torch.no_grad():
            self.momentum_update()
            f_k, z_k, w_k = self.key(key_view)
        keys = (self.memory_feature(f_k), z_k, w_k)

        queued_features, queued_embeddings, queued_logits = self.queue.contents()
        inst = losses.instance_nce(z_q, z_k, queued_embeddings, c.temperature)
        terms = {"inst": c.instance_weight * inst}
        all_w_q, all_w_k = whole_batch(w_q, w_k)
        assign_q, assign_k = self._assign(all_w_q, all_w_k)
        clu = losses.cluster_contrastive(assign_q, assign_k, c.cluster_temperature)
        terms["clu"] = c.cluster_weight * clu
        terms["bal"] = c.balance_weight * self._balance(all_w_q.softmax(dim=1))
        if use_read and len(self.queue) > 0:
            recalled = self.memory.read(w_q, self._read_items(queued_logits))
            features, recalled = whole_batch(self.memory_feature(f_q), recalled)
            read = losses.memory_read_loss(features, recalled, c.read_reduction, c.read_trim)
            terms["read"] = c.read_weight * read
        terms.update(self._rotation_term(f_q, quarter_turns))
        return terms, keys

    def _erased_items(self, queued_logits: torch.Tensor) -> torch.Tensor:
        """The items the read sees with `erase`: perturbed where little used (`Memory.erased`)."""
        return self.memory.erased(queued_logits, self.config.erase_std)

    def _rotation_loss(self, f: torch.Tensor, quarter_turns: torch.Tensor | None) -> Terms:
        """The weighted 4-way rotation prediction loss, where the batch was turned."""
        if quarter_turns is None or self.query.rotation is None:
            return {}
        rotation_logits = self.query.rotation(f)
        return {"rot": self.config.rotation_weight * F.cross_entropy(rotation_logits,
                                                                     quarter_turns)}

    @torch.no_grad()
    def after_step(self, keys: Keys) -> None:
        """Push this batch's keys, then rewrite memory from the queue."""
        self.queue.push(*keys)
        features, _, logits = self.queue.contents()
        self.memory.write(features, logits)

    @torch.no_grad()
    def consolidate(self, data: torch.Tensor) -> None:
        """One last write from clean, eval-mode features of all the data.

        Queue keys come from augmented views and an encoder a few steps old; scoring
        sees clean views of the final encoder, so the memory is rewritten in that space,
        in every orientation that scoring will look at. With `consolidate_trim`, the
        items are then written again without the worst-scored share of the data, so that
        items are not placed among the outliers they would otherwise recall.
        """
        self.eval()
        batches = data.split(CONSOLIDATE_BATCH)
        parts = [self.encode(view) for batch in batches for view in self.views(batch)]
        raw, logits = torch.cat([f for f, _ in parts]), torch.cat([w for _, w in parts])
        features = self.memory_feature(raw)
        self.memory.write(features, logits)
        if self.config.consolidate_trim:
            kept = best_fitting(self.outlier_distance(raw, logits), self.config.consolidate_trim)
            self.memory.write(features[kept], logits[kept])

    def views(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The inputs a sample is scored by: itself, plus its quarter turns if configured."""
        if not (self.config.score_rotations and x.dim() == 4):
            return [x]
        return [torch.rot90(x, k, dims=(2, 3)) if k else x for k in range(4)]

    @torch.no_grad()
    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(encoder feature f before any normalisation, cluster logits); call in eval mode."""
        f, _, w = self.query(x)
        return f, w

    @torch.no_grad()
    def embed(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(memory feature, cluster logits) of upright samples; call in eval mode."""
        f, w = self.encode(x)
        return self.memory_feature(f), w

    def outlier_distance(self, f: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
        """The configured memory distance (`Memory.distance`) of encoder features f.

        With `score_by_norm` it is multiplied by ||f||: far from the data a ReLU encoder
        is nearly positively homogeneous, so a row far beyond the others keeps the
        direction of a normal one and differs only in norm, which unit features drop.
        """
        distance = self.memory.distance(self.memory_feature(f), logits, self.config.score)
        return distance * f.norm(dim=1) if self.config.score_by_norm else distance

    @torch.no_grad()
    def score_encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """`encode` as scoring runs it, in float64: an mlp (tables, and the head over a
        frozen encoder), and a convolutional encoder with ``image_float64``, in float64
        throughout, its float32 weights and input cast; other convolutional encoders in
        float32, their output cast (float64 convolutions take ~3.5x as long on CPU)."""
        if self.config.backbone != "mlp" and not self.config.image_float64:
            f, w = self.encode(x)
            return f.double(), w.double()
        if next(self.query.parameters()).dtype == torch.float64:  # (the ONNX export's copy)
            f, _, w = self.query(x.double())
            return f, w
        state = {name: tensor.double() if tensor.is_floating_point() else tensor
                 for name, tensor in (*self.query.named_parameters(),
                                      *self.query.named_buffers())}
        f, _, w = torch.func.functional_call(self.query, state, (x.double(),))
        return f, w

    @torch.no_grad()
    def score(self, x: torch.Tensor) -> torch.Tensor:
        """s(x): `outlier_distance` averaged over `views`, in float64 (`score_encode`).

        Training runs in float32; scoring does not: in float32 the memory distance
        (torch.cdist's ``|f|^2 + |m|^2 - 2 f.m`` of unit features) rounds by ~3e-7, as much
        as near-tied samples differ, so their order was an accident of rounding that no
        other runtime (an ONNX export) reproduces."""
        distances = [self.outlier_distance(*self.score_encode(view)) for view in self.views(x)]
        return functools.reduce(operator.add, distances) / len(distances)  # traceable (ONNX)
