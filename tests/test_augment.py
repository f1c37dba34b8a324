"""Views: the configured augmentations, shapes kept, and the jitter switch."""

from __future__ import annotations

import kornia.augmentation as K
import torch

from mcod.config import RELEASE, SCRATCH, TABULAR
from mcod.nn.augment import TabularView
from mcod.nn.builder import build_views


def has_jitter(view: torch.nn.Module) -> bool:
    return any(isinstance(step, K.ColorJiggle) for step in view.modules())


def test_symmetric_views_keep_shape_and_change_the_images():
    torch.manual_seed(0)
    x = torch.rand(8, 1, 32, 32)
    query_view, key_view = build_views(SCRATCH)
    for view in (query_view, key_view):
        out = view(x)
        assert out.shape == x.shape
        assert not torch.allclose(out, x)


def test_color_jitter_is_off_at_zero_and_on_above():
    assert not any(has_jitter(v) for v in build_views(SCRATCH.replace(color_jitter=0.0)))
    assert all(has_jitter(v) for v in build_views(SCRATCH.replace(color_jitter=0.3)))


def test_release_query_view_is_the_image_itself():
    query_view, _ = build_views(RELEASE)
    x = torch.rand(4, 3, 32, 32)
    assert torch.equal(query_view(x), x)


def test_tabular_view_corrupts_rows_but_keeps_shape():
    torch.manual_seed(0)
    x = torch.randn(64, 5)
    out = TabularView(noise=0.1, mask_rate=0.15, swap_rate=0.15)(x)
    assert out.shape == x.shape
    assert not torch.allclose(out, x)


def test_tabular_views_follow_the_config_rates():
    torch.manual_seed(0)
    x = torch.full((2000, 5), 3.0)
    noise_only, _ = build_views(TABULAR.replace(table_noise=0.1))
    out = noise_only(x) - x  # TABULAR: no masking, no swapping, only the noise
    assert abs(out.std().item() - 0.1) < 0.005 and abs(out.mean().item()) < 0.005
    masked, _ = build_views(TABULAR.replace(table_noise=0.0, table_mask_rate=0.5))
    zeroed = (masked(x) == 0).float().mean().item()
    assert abs(zeroed - 0.5) < 0.02
