"""The on-disk feature cache: hits skip the encoder, changes miss, bad entries are rebuilt."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from mcod.nn.encoders import ImageEncoder
from mcod.nn.feature_cache import FeatureCache, cached_features, default_cache_dir


class _Counting(nn.Module):
    """Mean colour per channel, counting the images it sees: a hit must see none."""

    def __init__(self, scale: float = 1.0) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.tensor(scale), requires_grad=False)
        self.seen = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen += len(x)
        return x.mean(dim=(2, 3)) * self.scale


def _encoder(scale: float = 1.0) -> ImageEncoder:
    return ImageEncoder(_Counting(scale), "counting", pooled=True)


def _images(seed: int = 0, n: int = 6) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, 8, 8, 3), dtype=np.uint8)


def test_hit_skips_the_encoder_and_gives_the_same_features(tmp_path):
    cache, encoder, images = FeatureCache(tmp_path), _encoder(), _images()
    first = cached_features(encoder, images, 8, cache)
    assert encoder.net.seen == 6
    again = cached_features(encoder, images, 8, cache)
    assert encoder.net.seen == 6  # read from disk
    np.testing.assert_array_equal(first, again)
    assert len(list(tmp_path.glob("*.npz"))) == 1


@pytest.mark.parametrize("change", ["pixels", "size", "weights"])
def test_a_change_of_input_size_or_weights_misses(tmp_path, change):
    cache, images = FeatureCache(tmp_path), _images()
    cached_features(_encoder(), images, 8, cache)
    encoder = _encoder(2.0 if change == "weights" else 1.0)
    if change == "pixels":
        images = images.copy()
        images[3, 0, 0, 0] ^= 1
    cached_features(encoder, images, 16 if change == "size" else 8, cache)
    assert encoder.net.seen == 6
    assert len(list(tmp_path.glob("*.npz"))) == 2


def _only_entry(folder: Path) -> Path:
    (entry,) = folder.glob("*.npz")
    return entry


@pytest.mark.parametrize("damage", ["truncated", "garbage", "other_values"])
def test_a_corrupt_entry_is_rebuilt_with_a_warning(tmp_path, damage):
    cache, images = FeatureCache(tmp_path), _images()
    good = cached_features(_encoder(), images, 8, cache)
    entry = _only_entry(tmp_path)
    if damage == "truncated":
        entry.write_bytes(entry.read_bytes()[:100])
    elif damage == "garbage":
        entry.write_bytes(b"\x00" * 64)
    else:  # valid file, features changed without their checksum
        with np.load(entry) as old:
            np.savez(entry, features=old["features"] + 1, key=old["key"],
                     checksum=old["checksum"])
    encoder = _encoder()
    with pytest.warns(UserWarning, match="rebuilding"):
        rebuilt = cached_features(encoder, images, 8, cache)
    assert encoder.net.seen == 6
    np.testing.assert_array_equal(rebuilt, good)
    assert cached_features(encoder, images, 8, cache) is not None and encoder.net.seen == 6


def test_no_cache_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("MCOD_FEATURE_CACHE", str(tmp_path))
    cached_features(_encoder(), _images(), 8, None)
    assert not any(tmp_path.iterdir())


def test_default_folder_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.delenv("MCOD_FEATURE_CACHE", raising=False)
    monkeypatch.setenv("MCOD_CACHE_DIR", str(tmp_path))
    assert default_cache_dir() == tmp_path / "features"
    monkeypatch.setenv("MCOD_FEATURE_CACHE", str(tmp_path / "own"))
    assert default_cache_dir() == tmp_path / "own"
    monkeypatch.delenv("MCOD_FEATURE_CACHE")
    monkeypatch.delenv("MCOD_CACHE_DIR")
    assert default_cache_dir() == Path.home() / ".cache" / "mcod" / "features"


class _Files:
    """An image folder as `mcod.data.folders.ImageFiles` presents it (duck-typed)."""

    grey = False

    def __init__(self, files: list[Path], images: np.ndarray) -> None:
        self.files, self.images = files, images

    def __len__(self) -> int:
        return len(self.files)

    def batches(self, size, policy="crop", batch_size=64, progress=False):
        for start in range(0, len(self.images), batch_size):
            yield self.images[start:start + batch_size]


def test_folders_are_keyed_by_their_files_bytes(tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    files = [folder / f"{i}.png" for i in range(6)]
    for i, path in enumerate(files):
        path.write_bytes(bytes([i]) * 10)
    cache, images = FeatureCache(tmp_path / "cache"), _images()
    encoder = _encoder()
    cached_features(encoder, _Files(files, images), 8, cache, batch_size=4)
    cached_features(encoder, _Files(files, images), 8, cache)
    assert encoder.net.seen == 6
    files[2].write_bytes(b"edited")
    cached_features(encoder, _Files(files, images), 8, cache)
    cached_features(encoder, _Files(files, images), 8, cache, policy="pad")
    assert encoder.net.seen == 18  # a changed file, then another resize policy
