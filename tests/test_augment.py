"""Views: the configured augmentations, shapes kept, and the jitter switch."""

from __future__ import annotations

import kornia.augmentation as K
import torch

from mcod.augment import TabularView, make_views
from mcod.config import DEFAULT, RELEASE


def has_jitter(view: torch.nn.Module) -> bool:
    return any(isinstance(step, K.ColorJiggle) for step in view.modules())


def test_symmetric_views_keep_shape_and_change_the_images():
    torch.manual_seed(0)
    x = torch.rand(8, 1, 32, 32)
    query_view, key_view = make_views(DEFAULT)
    for view in (query_view, key_view):
        out = view(x)
        assert out.shape == x.shape
        assert not torch.allclose(out, x)


def test_color_jitter_is_off_at_zero_and_on_above():
    assert not any(has_jitter(v) for v in make_views(DEFAULT.replace(color_jitter=0.0)))
    assert all(has_jitter(v) for v in make_views(DEFAULT.replace(color_jitter=0.3)))


def test_release_query_view_is_the_image_itself():
    query_view, _ = make_views(RELEASE)
    x = torch.rand(4, 3, 32, 32)
    assert torch.equal(query_view(x), x)


def test_tabular_view_corrupts_rows_but_keeps_shape():
    torch.manual_seed(0)
    x = torch.randn(64, 5)
    out = TabularView()(x)
    assert out.shape == x.shape
    assert not torch.allclose(out, x)
