"""Encoder features cached on disk per image, so that a refit, a rescore or another
benchmark task encodes only the images it has not seen before.

Encoding is the slow part of a pretrained fit (about 30 ms an image at 128 px on one CPU
core against seconds for the head), and the same images come back often: a refit with other
head settings, a folder scored that shares most files with the training folder, and every
benchmark task (one class plus a few others, drawn from the same dataset). So each image is
keyed by a digest of its own content (an array image's shape, dtype and bytes; a file's
bytes and whether it is read grey), inside a *store* per encoder (spec and a hash of its
weights), input size and resize policy: whatever changes the features changes the key.

A store is a folder of append-only shards. A shard is an ``.npz`` written atomically with
its rows sorted by digest: ``digests`` (N, 32) bytes, ``features`` (N, D) float32 (float64
in the stores of an encoder run in float64: `ImageEncoder.dtype`), a short
checksum per row (of its digest and features) and a checksum of the rest. A lookup reads
every shard's digests (32 bytes an image), finds its keys with ``np.searchsorted`` and
gathers only the rows it needs from a memory map of the features, checking each one.
New rows go to a new shard; past `MAX_SHARDS` shards they are merged into one (the merged
shard is written first, then the old ones removed). A shard that fails a check is removed
with a warning and its rows are computed again. Two processes may share a store: shards
are never changed in place, a shard removed by another's merge is simply a miss, and rows
written twice are harmless. The folder only ever holds such stores: deleting it is safe.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
import warnings
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from mcod.data.preprocessing import READ_CHUNK_BYTES, release_pages
from mcod.io.atomic import atomic_write
from mcod.nn.encoders import ImageEncoder, ImageFilesLike, extract_features

__all__ = ["FeatureCache", "FeatureStore", "cached_features", "default_cache_dir",
           "image_digests"]

MAX_SHARDS = 16  # more shards than this in a store are merged into one
_READ_CHUNK = 1 << 20
_DIGEST = 32  # bytes of an image's sha256
_ROW_CHECK = 8  # bytes of a row's blake2b checksum
_SHARD_GLOB = "shard-*.npz"
_LOCAL_HEADER = 30  # bytes of a zip member's fixed local header


def default_cache_dir() -> Path:
    """$MCOD_FEATURE_CACHE, else $MCOD_CACHE_DIR/features, else ~/.cache/mcod/features."""
    if os.environ.get("MCOD_FEATURE_CACHE"):
        return Path(os.environ["MCOD_FEATURE_CACHE"]).expanduser()
    base = os.environ.get("MCOD_CACHE_DIR") or "~/.cache/mcod"
    return Path(base).expanduser() / "features"


def image_digests(images: np.ndarray | ImageFilesLike) -> np.ndarray:
    """One sha256 per image, as an (N,) ``S32`` array: of an array image's shape, dtype and
    bytes, or of a file's bytes and its grey flag (a colour file read grey encodes apart)."""
    out = np.empty(len(images), dtype=f"S{_DIGEST}")
    if isinstance(images, np.ndarray):
        shape = images.shape[1:]
        if len(shape) == 3 and shape[-1] == 1:  # (H, W, 1) is the grey (H, W) image it holds
            shape = shape[:-1]
        prefix = f"array:{shape}:{images.dtype.str}:".encode()
        step = max(1, READ_CHUNK_BYTES // max(1, images[:1].nbytes))
        for start in range(0, len(images), step):  # a memory map's pages let go per step
            for i in range(start, min(start + step, len(images))):
                digest = hashlib.sha256(prefix)
                digest.update(np.ascontiguousarray(images[i]).data.cast("B"))
                out[i] = digest.digest()
            release_pages(images)
        return out
    prefix = b"file:grey:" if images.grey else b"file:rgb:"
    for i, path in enumerate(images.files):
        digest = hashlib.sha256(prefix)
        with open(path, "rb") as handle:
            while chunk := handle.read(_READ_CHUNK):
                digest.update(chunk)
        out[i] = digest.digest()
    return out


class _CorruptShard(ValueError):
    """A shard that fails a check (unreadable, wrong shapes, a checksum that differs)."""


def _raw(digests: np.ndarray) -> np.ndarray:
    """(N,) S32 digests as their (N, 32) bytes (an S32 item drops trailing zero bytes)."""
    return np.ascontiguousarray(digests).view(np.uint8).reshape(-1, _DIGEST)


def _row_checks(digests: np.ndarray, features: np.ndarray) -> np.ndarray:
    """(N, 8) uint8: blake2b of each row's digest and features, so a row read from a memory
    map is checked alone, and a row moved next to another digest fails too."""
    raw = _raw(digests)
    out = np.empty((len(digests), _ROW_CHECK), dtype=np.uint8)
    for i in range(len(digests)):
        check = hashlib.blake2b(raw[i].tobytes(), digest_size=_ROW_CHECK)
        check.update(np.ascontiguousarray(features[i]).data.cast("B"))
        out[i] = np.frombuffer(check.digest(), dtype=np.uint8)
    return out


def _index_checksum(digests: np.ndarray, checks: np.ndarray, width: int) -> str:
    digest = hashlib.sha256(f"{len(digests)}x{width}:".encode())
    digest.update(digests.tobytes())
    digest.update(checks.tobytes())
    return digest.hexdigest()


def _member_memmap(path: Path, name: str, dtype: np.dtype) -> np.ndarray:
    """A read-only memory map of an uncompressed ``.npy`` member of an ``.npz`` (what
    ``np.savez`` writes), so that a lookup reads only the feature rows it gathers."""
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo(f"{name}.npy")
    if info.compress_type != zipfile.ZIP_STORED:
        raise _CorruptShard(f"{name} is compressed")
    with open(path, "rb") as handle:
        handle.seek(info.header_offset)
        name_length, extra_length = struct.unpack("<26xHH", handle.read(_LOCAL_HEADER))
        handle.seek(info.header_offset + _LOCAL_HEADER + name_length + extra_length)
        version = np.lib.format.read_magic(handle)
        if version == (1, 0):
            shape, fortran, stored = np.lib.format.read_array_header_1_0(handle)
        elif version == (2, 0):
            shape, fortran, stored = np.lib.format.read_array_header_2_0(handle)
        else:
            raise _CorruptShard(f"npy version {version}")
        offset = handle.tell()
    if fortran or stored != dtype or len(shape) != 2:
        raise _CorruptShard(f"{name} is {stored} {shape}, not {dtype} (N, D)")
    # past the end of a truncated file, np.memmap raises ValueError: a corrupt shard
    return np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=tuple(shape))


@dataclass
class _Shard:
    """One shard's index (digests, row checks), its features mapped, not read."""

    path: Path
    digests: np.ndarray  # (N,) S32, sorted
    checks: np.ndarray  # (N, 8) uint8
    features: np.ndarray  # (N, D) memory map, of the store's dtype

    @classmethod
    def open(cls, path: Path, dtype: np.dtype) -> _Shard:
        try:
            with np.load(path, allow_pickle=False) as shard:
                raw, checks = shard["digests"], shard["checks"]
                checksum = str(shard["checksum"])
            features = _member_memmap(path, "features", dtype)
        except FileNotFoundError:
            raise
        except (OSError, ValueError, KeyError, EOFError, struct.error,
                zipfile.BadZipFile) as error:
            raise _CorruptShard(str(error) or type(error).__name__) from None
        if (raw.dtype != np.uint8 or raw.shape != (len(features), _DIGEST)
                or checks.dtype != np.uint8 or checks.shape != (len(features), _ROW_CHECK)):
            raise _CorruptShard("its arrays' shapes disagree")
        if _index_checksum(raw, checks, features.shape[1]) != checksum:
            raise _CorruptShard("index checksum mismatch")
        digests = raw.view(f"S{_DIGEST}").reshape(-1)
        if len(digests) > 1 and not (digests[:-1] < digests[1:]).all():
            raise _CorruptShard("its digests are not sorted and unique")
        return cls(path, digests, checks, features)

    def rows(self, positions: np.ndarray) -> np.ndarray:
        """The features at ``positions`` (sorted), each checked against its row checksum
        (`_member_memmap` has checked that the file holds them all)."""
        features = np.array(self.features[positions], dtype=self.features.dtype)
        if not np.isfinite(features).all():
            raise _CorruptShard("non-finite values")
        if not np.array_equal(_row_checks(self.digests[positions], features),
                              self.checks[positions]):
            raise _CorruptShard("row checksum mismatch")
        return features


class FeatureStore:
    """The shards of one encoder, input size and resize policy (see the module docstring),
    holding features of one ``dtype``."""

    def __init__(self, folder: Path, dtype: np.dtype) -> None:
        self.folder, self.dtype = folder, dtype
        # shards opened (index read and checked) before, by path, with the file's
        # (mtime, size) then: scoring asks once per chunk, and a shard's index is all its
        # digests, so each is read and checked again only when its file changed
        self._opened: dict[Path, tuple[tuple[int, int], _Shard]] = {}

    def _shards(self) -> list[_Shard]:
        """Every readable shard; a corrupt one is removed with a warning, one that another
        process's merge removed meanwhile is skipped."""
        shards, opened = [], {}
        for path in sorted(self.folder.glob(_SHARD_GLOB)):
            try:
                stat = path.stat()
                stamp = (stat.st_mtime_ns, stat.st_size)
                known = self._opened.get(path)
                shard = (known[1] if known is not None and known[0] == stamp
                         else _Shard.open(path, self.dtype))
            except FileNotFoundError:
                continue
            except _CorruptShard as error:
                self._drop(path, error)
                continue
            shards.append(shard)
            opened[path] = (stamp, shard)
        self._opened = opened
        return shards

    @staticmethod
    def _drop(path: Path, error: Exception) -> None:
        warnings.warn(f"feature cache shard {path} is unreadable ({error}); removing it, "
                      "its images will be encoded again", stacklevel=4)
        path.unlink(missing_ok=True)

    def get(self, keys: np.ndarray) -> tuple[np.ndarray | None, np.ndarray]:
        """(features (len(keys), D) with the rows found filled, or None when none is, the
        mask of keys found) for sorted unique ``S32`` digests (as ``np.unique`` gives)."""
        found = np.zeros(len(keys), dtype=bool)
        out: np.ndarray | None = None
        if not self.folder.is_dir():
            return out, found
        for shard in self._shards():
            if found.all():
                break
            pos = np.searchsorted(shard.digests, keys)
            inside = pos < len(shard.digests)
            hit = ~found & inside
            hit[hit] = shard.digests[pos[hit]] == keys[hit]
            if not hit.any():
                continue
            try:  # keys sorted: positions ascend, the rows are read in file order
                rows = shard.rows(pos[hit])
            except _CorruptShard as error:
                self._drop(shard.path, error)
                continue
            if out is None:
                out = np.zeros((len(keys), rows.shape[1]), dtype=self.dtype)
            out[hit] = rows
            found |= hit
        return out, found

    def put(self, keys: np.ndarray, features: np.ndarray) -> None:
        """Add rows for unique digests in a new shard; merge the shards past `MAX_SHARDS`."""
        self.folder.mkdir(parents=True, exist_ok=True)
        self._write(keys, np.ascontiguousarray(features, dtype=self.dtype))
        if len(list(self.folder.glob(_SHARD_GLOB))) > MAX_SHARDS:
            self._merge()

    def _write(self, keys: np.ndarray, features: np.ndarray) -> Path:
        """One shard, sorted by digest, named by its digests: the same rows written by two
        processes replace each other instead of adding a copy."""
        order = np.argsort(keys)
        keys, features = keys[order], features[order]
        raw = _raw(keys)
        checks = _row_checks(keys, features)
        name = hashlib.sha256(raw.tobytes()).hexdigest()[:32]
        path = self.folder / f"shard-{name}.npz"
        with atomic_write(path, "wb") as handle:
            np.savez(handle, digests=raw, features=features, checks=checks,
                     checksum=np.array(_index_checksum(raw, checks, features.shape[1])))
        return path

    def _merge(self) -> None:
        """All shards in one: written first, the old ones removed after (a reader meanwhile
        sees the rows twice or, for a shard gone, misses them). Holds the store in memory."""
        shards = self._shards()
        keys, parts = [], []
        for shard in shards:
            try:
                parts.append(shard.rows(np.arange(len(shard.digests))))
            except _CorruptShard as error:
                self._drop(shard.path, error)
                continue
            keys.append(shard.digests)
        if not parts:
            return
        unique, first = np.unique(np.concatenate(keys), return_index=True)
        merged = self._write(unique, np.concatenate(parts)[first])
        for shard in shards:
            if shard.path != merged:
                shard.path.unlink(missing_ok=True)


class FeatureCache:
    """A folder of feature stores, one per encoder, input size and resize policy."""

    def __init__(self, folder: str | os.PathLike[str] | None = None) -> None:
        self.folder = Path(folder).expanduser() if folder is not None else default_cache_dir()
        self._stores: dict[str, FeatureStore] = {}  # kept, with the shards they opened

    def store(self, encoder: ImageEncoder, size: int, policy: str) -> FeatureStore:
        """The store of features from this encoder (spec and weights) at this size and
        resize policy, and of its dtype where that is not float32 (whose stores' names
        predate it); its folder name is a hash of them."""
        fields = {"encoder": encoder.spec, "weights": encoder.digest, "size": int(size),
                  "policy": policy}
        dtype = torch.empty(0, dtype=encoder.dtype).numpy().dtype
        if dtype != np.float32:
            fields["dtype"] = dtype.name
        key = hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:32]
        return self._stores.setdefault(key, FeatureStore(self.folder / key, dtype))


class _KeptFiles:
    """The files of a folder where ``keep`` is set, as `extract_features` reads a folder.
    Every file is decoded and only the kept ones are passed on: decoding costs a few ms an
    image against ~30 ms to encode it, and a folder's grey/RGB mode stays the whole one's."""

    def __init__(self, images: ImageFilesLike, keep: np.ndarray) -> None:
        self.images, self.keep = images, keep
        self.files = [f for f, k in zip(images.files, keep, strict=True) if k]
        self.grey = images.grey

    def __len__(self) -> int:
        return len(self.files)

    def batches(self, size: int, policy: str = "crop", batch_size: int = 64,
                progress: bool = False) -> Iterator[np.ndarray]:
        start = 0
        for batch in self.images.batches(size, policy, batch_size, progress):
            kept = batch[self.keep[start:start + len(batch)]]
            start += len(batch)
            if len(kept):
                yield kept


def cached_features(
    encoder: ImageEncoder,
    images: np.ndarray | ImageFilesLike,
    size: int,
    cache: FeatureCache | None,
    batch_size: int | None = None,
    device: str | torch.device = "cpu",
    progress: bool = False,
    policy: str = "crop",
) -> np.ndarray:
    """`extract_features`, with the images already in ``cache`` read from it and only the
    others encoded (an image that appears twice, once) and then stored.

    ``cache`` None: no cache. ``policy`` only applies to folders (arrays are resized whole).
    """
    if cache is None or len(images) == 0:
        return extract_features(encoder, images, size, batch_size, device, progress, policy)
    folder = not isinstance(images, np.ndarray)
    store = cache.store(encoder, size, policy if folder else "resize")
    keys, first, inverse = np.unique(image_digests(images), return_index=True,
                                     return_inverse=True)
    features, found = store.get(keys)
    if found.all() and features is not None:
        return features[inverse]
    missing = np.flatnonzero(~found)
    order = np.argsort(first[missing])  # the rows to encode, in input order
    cached = len(images) - int(np.isin(inverse, missing).sum())  # repeats of a new one: not
    desc = f"encoding ({cached:,} of {len(images):,} from the cache)" if cached else "encoding"
    if isinstance(images, np.ndarray):  # read a batch of them at a time, never copied whole
        rows = first[missing[order]]
        new = extract_features(encoder, images, size, batch_size, device, progress, policy,
                               rows=rows, desc=desc)
    else:
        keep = np.zeros(len(images), dtype=bool)
        keep[first[missing]] = True
        new = extract_features(encoder, _KeptFiles(images, keep), size, batch_size, device,
                               progress, policy, desc=desc)
    store.put(keys[missing[order]], new)
    if features is None:
        features = np.zeros((len(keys), new.shape[1]), dtype=new.dtype)
    features[missing[order]] = new
    return features[inverse]
