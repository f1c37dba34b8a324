"""Encoder features cached on disk, so that a refit or a rescore skips the encoder.

Encoding is the slow part of a pretrained fit (about 30 ms an image at 128 px on one CPU
core against seconds for the head), and the same images are often fitted again with other
head settings. An entry is keyed by what determines the features: the content of the
images (the array's bytes, or each file's bytes), the encoder spec and a hash of its
weights, the input size and the folder's resize policy. Entries are written atomically and
checked on read (shape, dtype, finite values, a checksum of the bytes); a bad entry is
rebuilt with a warning. The folder only ever holds such entries: deleting it is safe.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
import zipfile
from pathlib import Path

import numpy as np
import torch

from mcod.io.atomic import atomic_write
from mcod.nn.encoders import ImageEncoder, ImageFilesLike, extract_features

__all__ = ["FeatureCache", "cached_features", "content_digest", "default_cache_dir"]

_READ_CHUNK = 1 << 20


def default_cache_dir() -> Path:
    """$MCOD_FEATURE_CACHE, else $MCOD_CACHE_DIR/features, else ~/.cache/mcod/features."""
    if os.environ.get("MCOD_FEATURE_CACHE"):
        return Path(os.environ["MCOD_FEATURE_CACHE"]).expanduser()
    base = os.environ.get("MCOD_CACHE_DIR") or "~/.cache/mcod"
    return Path(base).expanduser() / "features"


def content_digest(images: np.ndarray | ImageFilesLike) -> str:
    """sha256 of an array (shape, dtype and bytes) or of a folder's files' bytes, in order."""
    digest = hashlib.sha256()
    if isinstance(images, np.ndarray):
        digest.update(f"array:{images.shape}:{images.dtype.str}".encode())
        digest.update(np.ascontiguousarray(images).data.cast("B"))
        return digest.hexdigest()
    for path in images.files:
        file_digest = hashlib.sha256()
        with open(path, "rb") as handle:
            while chunk := handle.read(_READ_CHUNK):
                file_digest.update(chunk)
        digest.update(file_digest.digest())
    return digest.hexdigest()


def _checksum(features: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(features).tobytes()).hexdigest()


class FeatureCache:
    """A folder of feature entries, one ``<key>.npz`` each (see the module docstring)."""

    def __init__(self, folder: str | os.PathLike[str] | None = None) -> None:
        self.folder = Path(folder).expanduser() if folder is not None else default_cache_dir()

    @staticmethod
    def key(content: str, encoder: ImageEncoder, size: int, policy: str) -> str:
        """The entry name for these images through this encoder at this size and policy."""
        fields = {"content": content, "encoder": encoder.spec, "weights": encoder.digest,
                  "size": int(size), "policy": policy}
        return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()

    def path(self, key: str) -> Path:
        return self.folder / f"{key}.npz"

    def get(self, key: str, n: int) -> np.ndarray | None:
        """The cached (n, D) features, or None when absent or bad (a bad entry warns)."""
        path = self.path(key)
        if not path.exists():
            return None
        try:
            features = _read_entry(path, key, n)
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as error:
            warnings.warn(f"feature cache entry {path} is unreadable ({error}); rebuilding it",
                          stacklevel=3)
            return None
        return features

    def put(self, key: str, features: np.ndarray) -> None:
        """Store features atomically (a reader never sees half an entry)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        features = np.ascontiguousarray(features, dtype=np.float32)
        with atomic_write(self.path(key), "wb") as handle:
            np.savez(handle, features=features, key=np.array(key),
                     checksum=np.array(_checksum(features)))


def _read_entry(path: Path, key: str, n: int) -> np.ndarray:
    with np.load(path, allow_pickle=False) as entry:
        features, stored_key, checksum = entry["features"], str(entry["key"]), \
            str(entry["checksum"])
    if stored_key != key:
        raise ValueError("it belongs to another key")
    if features.dtype != np.float32 or features.ndim != 2 or len(features) != n:
        raise ValueError(f"{features.dtype} {features.shape} instead of float32 ({n}, D)")
    if not np.isfinite(features).all():
        raise ValueError("non-finite values")
    if _checksum(features) != checksum:
        raise ValueError("checksum mismatch")
    return features


def cached_features(
    encoder: ImageEncoder,
    images: np.ndarray | ImageFilesLike,
    size: int,
    cache: FeatureCache | None,
    batch_size: int = 64,
    device: str | torch.device = "cpu",
    progress: bool = False,
    policy: str = "crop",
) -> np.ndarray:
    """`extract_features`, read from ``cache`` when it holds them, else computed and stored.

    ``cache`` None: no cache. ``policy`` only applies to folders (arrays are resized whole).
    """
    if cache is None:
        return extract_features(encoder, images, size, batch_size, device, progress, policy)
    folder = not isinstance(images, np.ndarray)
    key = cache.key(content_digest(images), encoder, size, policy if folder else "resize")
    features = cache.get(key, len(images))
    if features is None:
        features = extract_features(encoder, images, size, batch_size, device, progress, policy)
        cache.put(key, features)
    return features
