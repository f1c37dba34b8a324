"""Images -> frozen pretrained encoder -> (feature cache) -> the rows MCOD's head trains on.

With a config whose ``encoder`` is set (``pretrained``), MCOD does not learn image features
from pixels: it encodes each image once with an ImageNet encoder and trains the memory,
the contrastive heads and the mlp on those features, as on a table. Rows are L2-normalised
(cosine geometry, what kNN on these features scores well with) and never whitened on the
contaminated data (PCA whitening dropped CIFAR-10 UOD to 0.39 in a probe). The score
whitens only by the rows the memory trusts (``reference_trim``, `mcod.ensemble.WhitenedReference`).
"""

from __future__ import annotations

import copy
import functools
import os

import numpy as np
import torch

from mcod.config import MCODConfig
from mcod.data.inputs import scale_01
from mcod.nn.distributed import ALONE, Group
from mcod.nn.encoders import EncoderUnavailableError, ImageEncoder, load_encoder
from mcod.nn.feature_cache import FeatureCache, cached_features

__all__ = ["check_encoder", "encoded_rows", "encoder_for", "feature_cache_for", "unit_rows"]


def encoder_for(spec: str, float64: bool = False) -> ImageEncoder:
    """The encoder of a spec, loaded once per process (loading and hashing take ~0.3 s);
    ``float64``: computing in float64 (`MCODConfig.image_float64`; its digest is still
    that of the weights it was loaded with)."""
    return _loaded(spec, bool(float64))


@functools.lru_cache(maxsize=2)
def _loaded(spec: str, float64: bool) -> ImageEncoder:  # one cache key per encoder
    if float64:  # a float64 copy of the float32 one: its file is not read and hashed again
        return copy.deepcopy(_loaded(spec, False)).double()
    return load_encoder(spec)


def check_encoder(spec: str, digest: str | None) -> None:
    """Refuse a saved model whose encoder is missing here, or has other weights than at fit."""
    try:
        encoder = encoder_for(spec)
    except (EncoderUnavailableError, FileNotFoundError, ValueError) as error:
        raise ValueError(f"the model needs the image encoder {spec!r}, which is unavailable "
                         f"here: {error}") from None
    if digest is not None and encoder.digest != digest:
        raise ValueError(f"the image encoder {spec!r} here has other weights than the one the "
                         "model was fitted with; its scores would not mean the same")


def feature_cache_for(folder: str | os.PathLike[str] | None) -> FeatureCache | None:
    """MCOD's ``feature_cache`` parameter: "auto" = the per-user default, None = none."""
    if folder is None:
        return None
    return FeatureCache(None if folder == "auto" else folder)


def _channels_last(arr: np.ndarray, pixel_range: tuple[float, float]) -> np.ndarray:
    """(N, C, H, W) -> (N, H, W, C) in the encoder's units: uint8 stays uint8 (no float copy
    of a whole folder of photos); anything else mapped onto [0, 1] floats."""
    if arr.dtype == np.uint8 and pixel_range == (0.0, 255.0):
        return np.moveaxis(arr, 1, -1)
    return np.moveaxis(scale_01(arr, pixel_range), 1, -1)


def encoded_rows(
    arr: np.ndarray,
    pixel_range: tuple[float, float],
    config: MCODConfig,
    device: torch.device,
    cache: FeatureCache | None,
    progress: bool = False,
    group: Group = ALONE,
) -> tuple[np.ndarray, str]:
    """(L2-normalised float64 features (N, D), the encoder's weight digest) of (N, C, H, W)
    images whose intensities ``pixel_range`` maps onto [0, 1]; a torchrun ``group`` encodes
    a share in each process and gathers them."""
    encoder = encoder_for(config.encoder, config.image_float64)
    images = _channels_last(arr, pixel_range)
    features = group.shard_rows(
        lambda part: cached_features(encoder, part, config.encoder_size, cache, device=device,
                                     progress=progress), images)
    return unit_rows(features.astype(np.float64)), encoder.digest


def unit_rows(features: np.ndarray) -> np.ndarray:
    """Rows scaled to length 1 (cosine geometry); an all-zero row stays zero."""
    norms = np.linalg.norm(features, axis=1, keepdims=True)
    return features / np.maximum(norms, 1e-12)
