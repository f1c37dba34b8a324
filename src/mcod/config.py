"""Named training configurations: the release-faithful one and mcod's own defaults.

``default`` sends images through a frozen ImageNet encoder into MCOD's head; ``scratch``
learns image features from the pixels (mcod's default before 0.2); ``tabular`` is the head
alone, for tables; ``release`` follows the authors' release.

Every knob of the method lives here so that a fitted model can be saved as plain JSON
and so that ablations are a `dataclasses.replace` away.
"""

from __future__ import annotations

import dataclasses
import functools
import numbers
import typing
from dataclasses import dataclass
from typing import Any, Literal

MAX_SEED = 2**32 - 1  # torch keeps 32 bits of a seed: larger ones would alias smaller ones


@dataclass(frozen=True)
class MCODConfig:
    """Hyper-parameters of one MCOD training run (see docs/method.md)."""

    name: str
    backbone: Literal["cnn", "wrn10_4", "mlp"]
    image_size: int  # images are resized to image_size x image_size
    feature_dim: int  # backbone feature f, the space of the memory
    embedding_dim: int  # projection z, the space of the instance loss
    n_memory: int  # K memory items = K cluster logits
    queue_size: int  # r queued keys (capped by the data size at fit time)
    instance_weight: float  # weight of the instance InfoNCE (0 = off, an ablation)
    temperature: float  # tau of the instance InfoNCE
    cluster_temperature: float  # tau_w of the cluster-level NT-Xent
    address_temperature: float | None  # cosine addressing head at this temperature; None = linear
    cluster_weight: float  # weight of the cluster-level NT-Xent (0 = off, an ablation)
    cluster_softmax: bool  # cluster loss on softmax assignments (True) or raw logits
    balance: Literal["squared_usage", "entropy"]
    balance_weight: float
    read_weight: float  # lambda of the memory read loss
    read_reduction: Literal["mean", "sum"]
    read_trim: float  # share of each batch's worst-fitting samples left out of the read loss
    momentum: float  # m of the key encoder
    epochs: int
    warmup_epochs: int  # read loss off before this epoch
    min_steps: int  # small data: more epochs until this many optimiser steps (unless set)
    batch_size: int
    lr: float
    weight_decay: float
    augment: Literal["release", "symmetric", "tabular"]
    crop_min_scale: float  # smallest area share kept by the random resized crop
    color_jitter: float  # brightness/contrast jitter strength of symmetric views (0 = off)
    erase: bool
    erase_std: float  # noise scale for an unused memory item
    average_weights_from: float | None  # SWA of the query encoder from this share of epochs on
    consolidate: bool  # end training with one write from clean eval-mode features of all data
    consolidate_trim: float  # that write again without the worst-scored share of the data
    normalize_features: bool  # memory and score on L2-normalised f
    rotation_weight: float  # weight of the 4-way rotation prediction loss (0 = off)
    score_rotations: bool  # average the memory score over the 4 rotations of a sample
    score: Literal["read", "nearest"]  # ||f - read(w)||^2, or ||f - nearest item||^2
    score_by_norm: bool  # that distance times ||f|| before normalisation (tables)
    table_noise: float  # tabular views: std of the Gaussian noise added to standardised rows
    table_mask_rate: float  # tabular views: share of values zeroed
    table_swap_rate: float  # tabular views: share of values taken from another row
    table_yeo_johnson: bool  # tables: per-column Yeo-Johnson (data.scaling) after standardising
    members: int  # networks trained from different random draws; their scores averaged
    # images through a frozen pretrained encoder (mcod.nn.encoders spec; "" = learn from pixels)
    # into the mlp head as L2-normalised feature rows (mcod.nn.pretrained)
    encoder: str = ""
    encoder_size: int = 128  # pixels (square) the encoder sees; 128 keeps CPU fits fast
    # the score as the distance to a whitened reference (MCODEnsemble.reference): the rows
    # whose memory score is in the lowest 1 - reference_trim; 0 = off (the memory score)
    reference_trim: float = 0.0
    reference_shrink: float = 0.1  # the reference covariance shrunk this far to its mean variance
    # the reference's distance joined by the fit rows' local geometry (mcod.nn.local_terms):
    # for clean fit rows only, so `novelty` sets it
    local_terms: bool = False
    # image networks score in float64, a frozen encoder also encodes in it (~3.5x slower
    # to encode on CPU): scores that an exported ONNX graph keeps in the same order
    # (mcod.export); float32 convolutions round apart from onnxruntime's by ~1e-6
    image_float64: bool = False

    def __post_init__(self) -> None:
        # checked here, not during or after a fit's training, where these are first used
        for name, kinds in _kinds().items():
            value = getattr(self, name)
            if isinstance(value, bool) and bool not in kinds or not isinstance(value, kinds):
                raise ValueError(f"{name} must be {_KIND_NAMES[kinds]}, got {value!r}")
        for name, allowed in _choices().items():
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got {getattr(self, name)!r}")
        for name in ("consolidate_trim", "read_trim", "reference_trim"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"{name} must be in [0, 1), got {getattr(self, name)!r}")
        if self.average_weights_from is not None and not 0.0 <= self.average_weights_from < 1.0:
            raise ValueError("average_weights_from must be None or in [0, 1), got "
                             f"{self.average_weights_from!r}")
        for name in _COUNTS:
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)!r}")
        for name in ("image_size", "warmup_epochs", "min_steps"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be at least 0, got {getattr(self, name)!r}")
        for name in ("temperature", "cluster_temperature", "address_temperature"):
            value = getattr(self, name)
            if value is not None and not value > 0:  # also refuses NaN
                raise ValueError(f"{name} must be positive, got {value!r}")
        if self.encoder and self.backbone != "mlp":
            raise ValueError("an encoder feeds the mlp head: set backbone='mlp'")
        if self.encoder and self.encoder_size < 16:
            raise ValueError(f"encoder_size must be at least 16, got {self.encoder_size!r}")
        if not 0.0 <= self.reference_shrink <= 1.0:
            raise ValueError(f"reference_shrink must be in [0, 1], got {self.reference_shrink!r}")
        if self.reference_trim and self.backbone != "mlp":
            raise ValueError("a whitened reference scores rows: set backbone='mlp'")
        if self.image_float64 and self.backbone == "mlp" and not self.encoder:
            raise ValueError("image_float64 (--float64) is for image networks; tables score "
                             "in float64 already")
        if self.local_terms and not self.reference_trim:
            raise ValueError("local_terms join the whitened reference: set reference_trim")
        if self.reference_trim and self.table_yeo_johnson:
            raise ValueError("a whitened reference undoes a linear scaling, not Yeo-Johnson")
        if self.score_by_norm and not self.normalize_features:
            raise ValueError("score_by_norm needs normalize_features (it restores the norm)")

    @property
    def input_size(self) -> int:
        """The side, in pixels, that images are brought to: the encoder's input with a
        pretrained encoder, else the network's ``image_size``."""
        return self.encoder_size if self.encoder else self.image_size

    def replace(self, **changes: Any) -> MCODConfig:
        # Any: fields of several types; __post_init__ checks each value
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, object]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, object]) -> MCODConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise ValueError(f"unknown MCOD config fields: {sorted(unknown)}")
        optional = {f.name for f in dataclasses.fields(cls)
                    if f.default is not dataclasses.MISSING}  # added later, with defaults
        missing = known - set(values) - optional
        if missing:
            raise ValueError(
                f"MCOD config lacks fields {sorted(missing)}: it was written by an older mcod"
                " (refit the model, or add the fields)"
            )
        return cls(**values)  # type: ignore[arg-type]


# sizes and counts that a network or a schedule cannot be built with at 0
_COUNTS = ("feature_dim", "embedding_dim", "n_memory", "queue_size", "epochs", "batch_size",
           "members")

_KINDS: dict[object, tuple[type, ...]] = {  # annotation -> the runtime types it admits
    int: (numbers.Integral,),
    float: (numbers.Real,),
    bool: (bool,),
    str: (str,),
    float | None: (numbers.Real, type(None)),
}
_KIND_NAMES = {(numbers.Integral,): "an integer", (numbers.Real,): "a number",
               (bool,): "True or False", (str,): "text",
               (numbers.Real, type(None)): "a number or None"}


@functools.cache
def _kinds() -> dict[str, tuple[type, ...]]:
    """The runtime types of each non-Literal field: a config read from a file (or typed by
    hand) with a temperature "0.1" or a size 8.0 is refused here, not deep inside torch.
    A bool is refused where a number is expected (it is an int to Python)."""
    hints = typing.get_type_hints(MCODConfig)
    return {name: _KINDS[hint] for name, hint in hints.items()
            if typing.get_origin(hint) is not Literal}


@functools.cache
def _choices() -> dict[str, tuple[object, ...]]:
    """The allowed values of each Literal field: a typo such as "entropie" is refused when
    the config is made, not taken silently for another choice."""
    hints = typing.get_type_hints(MCODConfig)
    return {name: typing.get_args(hint) for name, hint in hints.items()
            if typing.get_origin(hint) is Literal}


RELEASE = MCODConfig(
    name="release",
    backbone="wrn10_4",
    image_size=32,
    feature_dim=256,
    embedding_dim=128,
    n_memory=10,
    queue_size=4096,
    instance_weight=1.0,
    temperature=10.0,
    cluster_temperature=0.01,
    address_temperature=None,
    cluster_weight=1.0,
    cluster_softmax=False,
    balance="squared_usage",
    balance_weight=0.05,
    read_weight=1.0,
    read_reduction="sum",
    read_trim=0.0,
    momentum=0.999,
    epochs=200,
    warmup_epochs=100,
    min_steps=0,
    batch_size=256,
    lr=1e-4,
    weight_decay=5e-4,
    augment="release",
    crop_min_scale=0.2,
    color_jitter=0.0,
    erase=True,
    erase_std=1.0,
    average_weights_from=None,
    consolidate=False,
    consolidate_trim=0.0,
    normalize_features=False,
    rotation_weight=0.0,
    score_rotations=False,
    score="read",
    score_by_norm=False,
    table_noise=0.1,
    table_mask_rate=0.15,
    table_swap_rate=0.15,
    table_yeo_johnson=False,
    members=1,
)

SCRATCH = RELEASE.replace(
    name="scratch",
    backbone="cnn",
    feature_dim=128,
    embedding_dim=64,
    queue_size=1024,
    cluster_temperature=1.0,
    cluster_softmax=True,
    balance="entropy",
    balance_weight=1.0,
    read_reduction="mean",
    read_trim=0.2,  # leave the worst-fitting fifth of each batch out of the read loss
    momentum=0.99,
    epochs=20,
    warmup_epochs=5,
    min_steps=600,
    batch_size=128,
    lr=1e-3,
    weight_decay=1e-4,
    augment="symmetric",
    crop_min_scale=0.5,
    color_jitter=0.1,
    erase_std=0.1,
    average_weights_from=0.5,  # average the weights of the last half of the epochs
    consolidate=True,
    consolidate_trim=0.2,  # the last write leaves out the worst-scored fifth of the data
    score="nearest",  # distance to the nearest memory item
    normalize_features=True,
    address_temperature=0.1,
    temperature=0.1,
    rotation_weight=0.0,
    score_rotations=False,
)

TABULAR = SCRATCH.replace(
    name="tabular",
    backbone="mlp",
    image_size=0,
    augment="tabular",
    warmup_epochs=0,  # tables: the read loss from the first epoch
    epochs=5,  # tables: the early stage scores better (inliers are fitted first)
    min_steps=150,
    average_weights_from=0.0,  # tables: average the whole (short) run
    consolidate_trim=0.1,
    score_by_norm=True,  # a ReLU encoder keeps a far-out row's direction, not its norm
    table_mask_rate=0.0,  # tables: noise-only views keep what distinguishes a row
    table_swap_rate=0.0,
    members=5,  # tables: a small network's score swings with the seed; average five
)

DEFAULT = TABULAR.replace(
    name="default",
    # ImageNet weights shipped in a wheel (offline, CPU-fast), read at two depths: the last
    # maps and the stride-16 block's 2x2 grid. One-class MNIST, dev classes 0-4 of a
    # subsample: 0.958 -> 0.980; CIFAR-10 level (benchmarks/DEVELOPMENT.md, pretrained step 5)
    encoder="efficientnet-lite0+mid",
    encoder_size=128,  # CIFAR-10 kNN 0.844 vs 0.859 at 224 px, at a third of the time
    # a class of natural images has more modes than 10 items hold: CIFAR-10 dev classes 0-4
    # 0.779 -> 0.803 (benchmarks/explore/pretrained_log.txt)
    n_memory=50,
    # the score: distance to the 70% of rows the memory scores lowest, whitened by their
    # shrunk covariance (MCODEnsemble.reference). CIFAR-10 UOD, 10k subsample: dev classes
    # 0-4 kNN-50 0.821 -> 0.843, confirm 5-9 0.895 -> 0.913 (benchmarks/explore/head_notes.md)
    reference_trim=0.3,
    reference_shrink=0.1,
)

# The reference's trim when the user says the training data hold no outliers (MCOD's
# ``novelty``): the 30% the default leaves out guards against outliers that are not there,
# and drops the class's own rarer looks. One-class development tasks (3 sets, classes 0-4,
# seed 7): 0.01 gains 0.0066 AUROC over 0.3, within 0.0004 of the best trim per task; in
# UOD it would lose 0.024 (benchmarks/DEVELOPMENT.md, "Novelty detection").
NOVELTY_TRIM = 0.01

CONFIGS: dict[str, MCODConfig] = {c.name: c for c in (DEFAULT, SCRATCH, RELEASE, TABULAR)}


def get_config(config: str | MCODConfig) -> MCODConfig:
    """Look up a named configuration, or pass a custom one through."""
    if isinstance(config, MCODConfig):
        return config
    try:
        return CONFIGS[config]
    except KeyError:
        raise ValueError(f"unknown config {config!r}; choose one of {sorted(CONFIGS)}") from None
