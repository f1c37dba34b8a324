"""The on-disk feature cache, per image: hits skip the encoder, a new or changed image alone
is encoded, a duplicate once, bad shards are rebuilt, many shards merged."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from mcod.nn.encoders import ImageEncoder, extract_features
from mcod.nn.feature_cache import MAX_SHARDS, FeatureCache, cached_features, default_cache_dir


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


def _shards(folder: Path) -> list[Path]:
    return sorted(folder.glob("*/shard-*.npz"))


def _plain(images: np.ndarray) -> np.ndarray:
    """The features without a cache: what every cached answer must equal, row for row."""
    return extract_features(_encoder(), images, 8)


def test_hit_skips_the_encoder_and_gives_the_same_features(tmp_path):
    cache, encoder, images = FeatureCache(tmp_path), _encoder(), _images()
    first = cached_features(encoder, images, 8, cache)
    assert encoder.net.seen == 6
    again = cached_features(encoder, images, 8, cache)
    assert encoder.net.seen == 6  # read from disk
    np.testing.assert_array_equal(first, again)
    np.testing.assert_array_equal(again, _plain(images))
    assert len(_shards(tmp_path)) == 1


def test_a_float64_encoder_keeps_its_features_in_float64_in_a_store_of_its_own(tmp_path):
    cache, images = FeatureCache(tmp_path), _images()
    single = cached_features(_encoder(), images, 8, cache)
    double = _encoder().double()
    first = cached_features(double, images, 8, cache)
    assert double.net.seen == 6 and first.dtype == np.float64  # not the float32 rows
    again = cached_features(double, images, 8, cache)
    assert double.net.seen == 6 and again.dtype == np.float64
    np.testing.assert_array_equal(again, first)
    np.testing.assert_array_equal(again, extract_features(_encoder().double(), images, 8))
    assert not np.array_equal(again, single.astype(np.float64))  # float32's rounding
    assert len(_shards(tmp_path)) == 2
    np.testing.assert_array_equal(cached_features(_encoder(), images, 8, cache), single)


def test_a_float32_store_keeps_the_name_it_had_before_float64_stores(tmp_path):
    """Its folder is named by the encoder, weights, size and policy alone: caches written
    before float64 stores existed are still found."""
    encoder = _encoder()
    cached_features(encoder, _images(), 8, FeatureCache(tmp_path))
    fields = {"encoder": "counting", "weights": encoder.digest, "size": 8, "policy": "resize"}
    name = hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:32]
    assert [shard.parent.name for shard in _shards(tmp_path)] == [name]


def test_a_shard_of_the_other_dtype_is_removed_and_its_images_encoded_again(tmp_path):
    images = _images()
    cached_features(_encoder().double(), images, 8, FeatureCache(tmp_path / "double"))
    cached_features(_encoder(), images, 8, FeatureCache(tmp_path / "single"))
    (single,), (double,) = _shards(tmp_path / "single"), _shards(tmp_path / "double")
    single.unlink()
    double.rename(single.parent / double.name)  # float64 rows in a float32 store
    encoder = _encoder()
    with pytest.warns(UserWarning, match="not float32"):
        features = cached_features(encoder, images, 8, FeatureCache(tmp_path / "single"))
    assert encoder.net.seen == 6 and features.dtype == np.float32
    np.testing.assert_array_equal(features, _plain(images))


def test_grey_images_with_and_without_a_channel_axis_share_their_entries(tmp_path):
    cache, encoder = FeatureCache(tmp_path), _encoder()
    grey = _images()[..., 0]  # (N, H, W), as a benchmark holds them
    first = cached_features(encoder, grey[..., None], 8, cache)  # (N, H, W, 1), as MCOD does
    again = cached_features(encoder, grey, 8, cache)
    assert encoder.net.seen == 6
    np.testing.assert_array_equal(first, again)


def test_a_partial_hit_encodes_only_the_new_images_in_input_order(tmp_path):
    cache, encoder = FeatureCache(tmp_path), _encoder()
    old, new = _images(0), _images(1, n=4)
    cached_features(encoder, old, 8, cache)
    mixed = np.concatenate([new[:2], old[4:], new[2:], old[:1]])  # old and new interleaved
    features = cached_features(encoder, mixed, 8, cache)
    assert encoder.net.seen == 6 + 4
    np.testing.assert_array_equal(features, _plain(mixed))
    assert len(_shards(tmp_path)) == 2  # the new rows in a shard of their own


def test_the_progress_says_how_many_images_came_from_the_cache(tmp_path, capsys):
    """The bar counts only the images it encodes; its label says the rest came from the
    cache, so 4 of 4 encoded out of 9 does not read as images gone missing."""
    cache, encoder = FeatureCache(tmp_path), _encoder()
    old, new = _images(0), _images(1, n=4)
    cached_features(encoder, old, 8, cache)
    capsys.readouterr()
    cached_features(encoder, np.concatenate([new[:2], old[:5], new[2:]]), 8, cache,
                    progress=True)
    assert "encoding (5 of 9 from the cache)" in capsys.readouterr().err
    cached_features(encoder, _images(2, n=3), 8, cache, progress=True)  # none cached
    err = capsys.readouterr().err
    assert "encoding" in err and "from the cache" not in err


def test_changed_pixels_reencode_only_that_image(tmp_path):
    cache, encoder, images = FeatureCache(tmp_path), _encoder(), _images()
    cached_features(encoder, images, 8, cache)
    images = images.copy()
    images[3, 0, 0, 0] ^= 1
    features = cached_features(encoder, images, 8, cache)
    assert encoder.net.seen == 6 + 1
    np.testing.assert_array_equal(features, _plain(images))


@pytest.mark.parametrize("change", ["size", "weights", "dtype"])
def test_another_input_size_weights_or_dtype_misses_every_image(tmp_path, change):
    cache, images = FeatureCache(tmp_path), _images()
    cached_features(_encoder(), images, 8, cache)
    encoder = _encoder(2.0 if change == "weights" else 1.0)
    if change == "dtype":  # the same picture as floats: another key (its rounding may differ)
        images = images.astype(np.float32) / 255
    cached_features(encoder, images, 16 if change == "size" else 8, cache)
    assert encoder.net.seen == 6


def test_duplicates_in_one_input_are_encoded_once(tmp_path):
    cache, encoder, images = FeatureCache(tmp_path), _encoder(), _images(n=3)
    repeated = images[[0, 1, 0, 2, 2, 0]]
    features = cached_features(encoder, repeated, 8, cache)
    assert encoder.net.seen == 3
    np.testing.assert_array_equal(features, _plain(repeated))
    with np.load(_shards(tmp_path)[0]) as shard:
        assert len(shard["digests"]) == 3


def _damage(shard: Path, damage: str) -> None:
    if damage == "truncated":
        shard.write_bytes(shard.read_bytes()[:-100])
    elif damage == "garbage":
        shard.write_bytes(b"\x00" * 64)
    elif damage == "other_values":  # a valid file, features changed without their checks
        with np.load(shard) as old:
            arrays = dict(old)
        arrays["features"] = arrays["features"] + 1
        np.savez(shard, **arrays)
    else:  # one bit of one feature flipped in place: only its row check can tell
        data = bytearray(shard.read_bytes())
        offset = bytes(data).index(b"features.npy")
        data[offset + 200] ^= 1  # past the member's npy header, inside the features
        shard.write_bytes(bytes(data))


@pytest.mark.parametrize("damage", ["truncated", "garbage", "other_values", "flipped_bit"])
def test_a_corrupt_shard_is_removed_with_a_warning_and_its_rows_rebuilt(tmp_path, damage):
    cache, images = FeatureCache(tmp_path), _images(n=40)
    good = cached_features(_encoder(), images, 8, cache)
    (shard,) = _shards(tmp_path)
    _damage(shard, damage)
    encoder = _encoder()
    with pytest.warns(UserWarning, match="encoded again"):
        rebuilt = cached_features(encoder, images, 8, cache)
    assert encoder.net.seen == 40
    np.testing.assert_array_equal(rebuilt, good)
    cached_features(encoder, images, 8, cache)  # the rebuilt shard serves, silently
    assert encoder.net.seen == 40 and len(_shards(tmp_path)) == 1


def test_shards_past_the_limit_are_merged_into_one(tmp_path):
    cache, encoder = FeatureCache(tmp_path), _encoder()
    parts = [_images(seed, n=2) for seed in range(MAX_SHARDS + 1)]
    for part in parts[:-1]:
        cached_features(encoder, part, 8, cache)
    assert len(_shards(tmp_path)) == MAX_SHARDS
    cached_features(encoder, parts[-1], 8, cache)
    assert len(_shards(tmp_path)) == 1  # written merged, the old ones gone
    every = np.concatenate(parts)
    features = cached_features(encoder, every, 8, cache)
    assert encoder.net.seen == len(every)  # each image encoded once, all found after merging
    np.testing.assert_array_equal(features, _plain(every))


def test_stores_of_other_encoders_stay_apart(tmp_path):
    cache, images = FeatureCache(tmp_path), _images()
    cached_features(_encoder(), images, 8, cache)
    cached_features(_encoder(2.0), images, 8, cache)
    cached_features(_encoder(), images, 16, cache)
    assert len({path.parent for path in _shards(tmp_path)}) == 3


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


def test_folders_are_keyed_by_each_files_bytes_and_read_mode(tmp_path):
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
    changed = images.copy()
    changed[2] = 0  # what the edited file now decodes to
    features = cached_features(encoder, _Files(files, changed), 8, cache, batch_size=4)
    assert encoder.net.seen == 7  # the edited file alone
    np.testing.assert_array_equal(features, _plain(changed))
    cached_features(encoder, _Files(files, images), 8, cache, policy="pad")
    assert encoder.net.seen == 13  # another resize policy: another store
    grey = _Files(files, images)
    grey.grey = True
    cached_features(encoder, grey, 8, cache)
    assert encoder.net.seen == 19  # read grey: other features


def test_a_store_reads_a_shard_index_once_until_the_file_changes(tmp_path, monkeypatch):
    """Scoring asks the cache once per chunk: an unchanged shard's index is not read and
    checked again, and a shard damaged after it was read is caught all the same."""
    from mcod.nn import feature_cache

    cache, images = FeatureCache(tmp_path), _images(n=40)
    good = cached_features(_encoder(), images, 8, cache)
    opened = []
    real_open = feature_cache._Shard.open.__func__
    monkeypatch.setattr(feature_cache._Shard, "open",
                        classmethod(lambda cls, path, dtype: opened.append(path)
                                    or real_open(cls, path, dtype)))
    for _ in range(3):
        np.testing.assert_array_equal(cached_features(_encoder(), images, 8, cache), good)
    assert len(opened) == 1
    (shard,) = _shards(tmp_path)
    _damage(shard, "other_values")
    encoder = _encoder()
    with pytest.warns(UserWarning, match="encoded again"):
        np.testing.assert_array_equal(cached_features(encoder, images, 8, cache), good)
    assert encoder.net.seen == 40 and len(opened) == 2
