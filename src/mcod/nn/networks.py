"""Encoders and heads: f = E(x), z = g(f) (unit norm), w = h(z) (one logit per memory item)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _conv_bn_relu(c_in: int, c_out: int) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU()]


SMALL_CNN_MIN_SIZE = 8  # its three 2x poolings leave nothing of a smaller image


class SmallCNN(nn.Sequential):
    """A four-stage VGG-style CNN: mcod's CPU-friendly default backbone."""

    def __init__(self, in_channels: int, feature_dim: int) -> None:
        super().__init__(
            *_conv_bn_relu(in_channels, 16),
            nn.MaxPool2d(2),
            *_conv_bn_relu(16, 32),
            nn.MaxPool2d(2),
            *_conv_bn_relu(32, 64),
            nn.MaxPool2d(2),
            *_conv_bn_relu(64, feature_dim),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        )


class PreActBlock(nn.Module):
    """Pre-activation residual basic block (BN-ReLU-conv, twice)."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(c_in)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        projects = stride != 1 or c_in != c_out
        self.shortcut = nn.Conv2d(c_in, c_out, 1, stride, bias=False) if projects else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(x))
        shortcut = x if self.shortcut is None else self.shortcut(out)
        out = self.conv1(out)
        out = self.conv2(F.relu(self.bn2(out)))
        return out + shortcut


class WideResNet10x4(nn.Sequential):
    """The release's backbone: conv 16, one block per stage at 64/128/256, strides 1/2/2."""

    def __init__(self, in_channels: int, feature_dim: int = 256) -> None:
        widths = (64, 128, feature_dim)
        super().__init__(
            nn.Conv2d(in_channels, 16, 3, padding=1, bias=False),
            PreActBlock(16, widths[0], 1),
            PreActBlock(widths[0], widths[1], 2),
            PreActBlock(widths[1], widths[2], 2),
            nn.BatchNorm2d(widths[2]),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        )


class MLPEncoder(nn.Sequential):
    """Encoder for tables: two hidden layers with BatchNorm."""

    def __init__(self, in_features: int, feature_dim: int, hidden: int = 256) -> None:
        super().__init__(
            nn.Linear(in_features, hidden),
            nn.BatchNorm1d(hidden),
            nn.ReLU(),
            nn.Linear(hidden, feature_dim),
            nn.BatchNorm1d(feature_dim),
            nn.ReLU(),
        )


class ClusterHead(nn.Module):
    """w = h(z): one addressing logit per memory item.

    With a temperature, logits are cosine similarities to learned prototypes divided by
    it, so addressing is sharp from the first step; without, a plain linear layer.
    """

    def __init__(self, embedding_dim: int, n_items: int, temperature: float | None) -> None:
        super().__init__()
        self.linear = nn.Linear(embedding_dim, n_items, bias=temperature is None)
        self.temperature = temperature

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if self.temperature is None:
            return self.linear(z)
        return F.normalize(z, dim=1) @ F.normalize(self.linear.weight, dim=1).T / self.temperature


class MCODEncoder(nn.Module):
    """Backbone plus projection, cluster and (optional) rotation heads.

    `forward` returns (f, z, w): backbone feature, unit-norm embedding, cluster logits.
    The backbone comes built (`build_backbone`); the heads are built here, in this order.
    """

    def __init__(
        self,
        backbone: nn.Module,
        feature_dim: int,
        embedding_dim: int,
        n_items: int,
        address_temperature: float | None,
        rotation_head: bool,
    ) -> None:
        super().__init__()
        self.backbone = backbone
        d, e = feature_dim, embedding_dim
        self.projection = nn.Sequential(nn.Linear(d, d), nn.ReLU(), nn.Linear(d, e))
        self.cluster = ClusterHead(e, n_items, address_temperature)
        self.rotation = nn.Linear(d, 4) if rotation_head else None

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        f = self.backbone(x)
        z = F.normalize(self.projection(f), dim=1)
        return f, z, self.cluster(z)


def build_backbone(name: str, input_shape: tuple[int, ...], feature_dim: int) -> nn.Module:
    """The encoder E named `name` for the data: (C, H, W) images or (D,) table rows."""
    if name == "mlp":
        if len(input_shape) != 1:
            raise ValueError(f"the mlp backbone takes table rows, got shape {input_shape}")
        return MLPEncoder(input_shape[0], feature_dim)
    if len(input_shape) != 3:
        raise ValueError(f"the {name} backbone takes (C, H, W) images, got {input_shape}")
    channels = input_shape[0]
    if name == "cnn":
        if min(input_shape[1:]) < SMALL_CNN_MIN_SIZE:
            raise ValueError(f"the cnn backbone takes images of at least {SMALL_CNN_MIN_SIZE}"
                             f"x{SMALL_CNN_MIN_SIZE} pixels, got {input_shape[1:]}")
        return SmallCNN(channels, feature_dim)
    if name == "wrn10_4":
        return WideResNet10x4(channels, feature_dim)
    raise ValueError(f"unknown backbone {name!r}")
