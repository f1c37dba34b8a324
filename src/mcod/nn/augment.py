"""Views for contrastive learning, as batched tensor ops on the training device.

Images go through kornia (torchvision's per-sample PIL transforms are not used);
tables through simple corruptions. Randomness comes from torch's global generator,
which `MCOD.fit` seeds.
"""

from __future__ import annotations

import kornia.augmentation as K
import torch
from torch import nn


def release_key_view(image_size: int, crop_min_scale: float) -> nn.Module:
    """The release's key view: resized crop (area 0.2-1 there), blur (p 0.5), h-flip."""
    return nn.Sequential(
        K.RandomResizedCrop((image_size, image_size), scale=(crop_min_scale, 1.0)),
        K.RandomGaussianBlur((3, 3), sigma=(0.1, 2.0), p=0.5),
        K.RandomHorizontalFlip(),
    )


def symmetric_view(image_size: int, crop_min_scale: float, color_jitter: float) -> nn.Module:
    """mcod's view for both branches: milder crops, blur, optional brightness/contrast jitter.

    Milder crops than the release keep most of an object, so two views of one image
    stay recognisably the same thing on small images such as digits.
    """
    steps: list[nn.Module] = [
        K.RandomResizedCrop(
            (image_size, image_size), scale=(crop_min_scale, 1.0), ratio=(0.8, 1.25)
        )
    ]
    if color_jitter > 0:
        steps.append(K.ColorJiggle(brightness=color_jitter, contrast=color_jitter, p=0.8))
    steps.append(K.RandomGaussianBlur((3, 3), sigma=(0.1, 1.0), p=0.3))
    return nn.Sequential(*steps)


class TabularView(nn.Module):
    """Corrupt table rows: Gaussian noise, masked features, values swapped with other rows."""

    def __init__(self, noise: float, mask_rate: float, swap_rate: float):
        super().__init__()
        self.noise, self.mask_rate, self.swap_rate = noise, mask_rate, swap_rate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        other_rows = x[torch.randperm(len(x), device=x.device)]
        swap = torch.rand_like(x) < self.swap_rate
        x = torch.where(swap, other_rows, x)
        keep = (torch.rand_like(x) >= self.mask_rate).to(x.dtype)
        return x * keep + self.noise * torch.randn_like(x)


def make_views(
    augment: str,
    image_size: int,
    crop_min_scale: float,
    color_jitter: float,
    table_rates: tuple[float, float, float],
) -> tuple[nn.Module, nn.Module]:
    """(query view, key view) of the kind `augment` names: "release", "symmetric" (images)
    or "tabular" (rows; `table_rates` = (noise, mask rate, swap rate))."""
    size, crop = image_size, crop_min_scale
    if augment == "release":
        return nn.Identity(), release_key_view(size, crop)
    if augment == "symmetric":
        return symmetric_view(size, crop, color_jitter), symmetric_view(size, crop, color_jitter)
    if augment == "tabular":
        return TabularView(*table_rates), TabularView(*table_rates)
    raise ValueError(f"unknown augment {augment!r}")


def rotate_batch(x: torch.Tensor, quarter_turns: torch.Tensor) -> torch.Tensor:
    """Rotate each image by its own multiple of 90 degrees (quarter_turns in 0..3)."""
    out = x.clone()
    for k in range(1, 4):
        chosen = quarter_turns == k
        if chosen.any():
            out[chosen] = torch.rot90(x[chosen], k, dims=(2, 3))
    return out
