"""The one place where an `MCODConfig` becomes networks and views.

As in MoCo's builder, the pieces below it (`mcod.nn.networks`, `mcod.nn.augment`) take
the few numbers they use; this module reads them from the config.
"""

from __future__ import annotations

from torch import nn

from mcod.config import MCODConfig
from mcod.nn.augment import make_views
from mcod.nn.networks import MCODEncoder, build_backbone


def build_encoder(config: MCODConfig, input_shape: tuple[int, ...]) -> MCODEncoder:
    """The query encoder for samples of `input_shape`: backbone first, then its heads."""
    backbone = build_backbone(config.backbone, input_shape, config.feature_dim)
    return MCODEncoder(
        backbone,
        feature_dim=config.feature_dim,
        embedding_dim=config.embedding_dim,
        n_items=config.n_memory,
        address_temperature=config.address_temperature,
        rotation_head=config.rotation_weight > 0,
    )


def build_views(config: MCODConfig) -> tuple[nn.Module, nn.Module]:
    """(query view, key view) for the config's `augment` setting."""
    return make_views(
        config.augment,
        image_size=config.image_size,
        crop_min_scale=config.crop_min_scale,
        color_jitter=config.color_jitter,
        table_rates=(config.table_noise, config.table_mask_rate, config.table_swap_rate),
    )
