"""The archive ``torch.save`` writes, with the SHA-256 of its content as one entry more:
written atomically, and read back without running code, only once its entries, size and
checksum are checked. Model files (:mod:`mcod.model_file`, :mod:`mcod.persistence`) and
training checkpoints (:mod:`mcod.nn.checkpoint`) are such archives; each caller gives its
own limits, name and error class, so that every refusal is one line naming the file.
"""

from __future__ import annotations

import functools
import hashlib
import io
import math
import os
import pickle
import reprlib
import struct
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

import mcod
from mcod.io.atomic import atomic_write

__all__ = ["CHECKSUM_ENTRY", "Limits", "check_archive", "check_tensor", "digest", "is_checksum",
           "need", "read_archive", "shown", "with_checksum", "write_archive"]

CHECKSUM_ENTRY = "mcod.sha256"  # beside torch's data.pkl in the archive's folder

# What zipfile raises on a damaged archive (a bad CRC is a BadZipFile; an encrypted entry
# a RuntimeError; a garbled UTF-8 name a UnicodeDecodeError)
_ZIP_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, RuntimeError,
               struct.error, UnicodeDecodeError)


@dataclass(frozen=True)
class Limits:
    """What an archive may hold, and what it is called."""

    kind: str  # what the archive is, in messages: "model file", "checkpoint"
    max_bytes: int  # the whole file
    max_pickle_bytes: int  # an entry read whole: the plain values (data.pkl) and such
    max_entries: int


# --------------------------------------------------------------------------- writing


def with_checksum(archive: bytes) -> bytes:
    """The archive torch.save wrote, with the SHA-256 of its entries as one entry more:
    torch does not check the zip's CRCs, so a flipped bit would otherwise load as a
    different model."""
    buffer = io.BytesIO(archive)
    with zipfile.ZipFile(buffer, "a") as zipped:
        folder = zipped.namelist()[0].split("/", 1)[0]
        zipped.writestr(f"{folder}/{CHECKSUM_ENTRY}", digest(zipped))
    return buffer.getvalue()


def write_archive(state: dict[str, Any], path: str | os.PathLike[str]) -> Path:
    """``torch.save(state)`` with its checksum, replacing ``path`` atomically."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    with atomic_write(path, "wb") as handle:
        handle.write(with_checksum(buffer.getvalue()))
    return Path(path)


def digest(zipped: zipfile.ZipFile) -> str:
    """SHA-256 of every entry but the checksum (names, sizes and bytes, in name order),
    read a MiB at a time; zipfile also checks each entry's CRC-32 as it reads."""
    digest = hashlib.sha256()
    for info in sorted(zipped.infolist(), key=lambda i: i.filename):
        if is_checksum(info.filename):
            continue
        digest.update(f"{info.filename}\0{info.file_size}\0".encode())
        with zipped.open(info) as entry:
            for chunk in iter(functools.partial(entry.read, 2**20), b""):
                digest.update(chunk)
    return f"sha256:{digest.hexdigest()}"


def is_checksum(name: str) -> bool:
    return name.rsplit("/", 1)[-1] == CHECKSUM_ENTRY


# --------------------------------------------------------------------------- reading


def _unreadable(path: Path, limits: Limits, error: type[Exception]) -> Exception:
    return error(f"cannot read {path}: not an mcod {limits.kind}, "
                 "or it is corrupt")


def check_archive(path: Path, limits: Limits, error: type[Exception]) -> None:
    """Refuse an archive whose entries could unpack to more than the file holds, or
    whose content does not match its checksum, before torch reads any of it. Archives
    without the checksum (model files of older mcods) have only zipfile's CRCs checked."""
    size = path.stat().st_size
    if size > limits.max_bytes:
        raise error(f"{path} is {size} bytes; a {limits.kind} holds at most "
                    f"{limits.max_bytes} (no mcod {limits.kind} needs more)")
    if not zipfile.is_zipfile(path):  # torch.save writes a zip archive; anything else is not ours
        raise _unreadable(path, limits, error)
    try:
        with zipfile.ZipFile(path) as zipped:
            entries = zipped.infolist()
            _check_entries(path, entries, size, limits, error)
            checksums = [i for i in entries if is_checksum(i.filename)]
            stored = zipped.read(checksums[0]) if checksums else None
            try:
                actual = digest(zipped).encode()
            except _ZIP_ERRORS:  # an entry's CRC-32 (or its header) is wrong
                actual = None
    except _ZIP_ERRORS:
        raise _unreadable(path, limits, error) from None
    if actual is None or stored not in (None, actual):
        raise error(f"{path} is corrupt: its content does not match the checksums stored in it")


def _check_entries(path: Path, entries: list[zipfile.ZipInfo], size: int, limits: Limits,
                   error: type[Exception]) -> None:
    """Entries stored as they are (torch.save never compresses): what they unpack to is
    then what the file holds; a deflated entry of a few MB could unpack to GBs."""
    if len(entries) > limits.max_entries:
        raise error(f"{path} holds {len(entries)} entries; a {limits.kind} holds at most "
                    f"{limits.max_entries}")
    for info in entries:
        if info.compress_type != zipfile.ZIP_STORED or info.compress_size != info.file_size:
            raise error(
                f"{path}: entry {info.filename!r} is compressed ({info.compress_size} bytes "
                f"that unpack to {info.file_size}); mcod {limits.kind}s store entries as "
                "they are")
        tensor = "/data/" in info.filename  # mapped, not read, by torch.load(mmap=True)
        if not tensor and info.file_size > limits.max_pickle_bytes:
            raise error(f"{path}: entry {info.filename!r} takes {info.file_size} bytes; "
                        f"entries other than tensors take at most {limits.max_pickle_bytes}")
    if sum(info.file_size for info in entries) > size:
        raise _unreadable(path, limits, error)


def read_archive(path: Path, form: str, limits: Limits,
                 error: type[Exception]) -> dict[str, Any]:
    """The saved state (format tag ``form``), its tensors mapped from the file (``mmap``),
    not yet read: the caller checks each against its own shapes before using its values."""
    if not path.exists():
        raise FileNotFoundError(f"{limits.kind} not found: {path}")
    if not path.is_file():
        raise error(f"not a file: {path}")
    check_archive(path, limits, error)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except pickle.UnpicklingError:
        # weights_only refuses classes and functions: this is how a file holding code fails.
        raise error(
            f"refusing to load {path}: it holds Python objects other than tensors and plain "
            f"values (mcod {limits.kind}s never do)"
        ) from None
    except (RuntimeError, EOFError, OSError, zipfile.BadZipFile, ValueError, KeyError):
        raise _unreadable(path, limits, error) from None
    if not isinstance(state, dict) or "format" not in state:
        raise error(f"{path} is not an mcod {limits.kind} (no format tag)")
    if not isinstance(state["format"], str) or state["format"] != form:
        raise error(f"{path} has format {reprlib.repr(state['format'])}; "
                    f"this mcod ({mcod.__version__}) reads {form!r}")
    return state


# --------------------------------------------------------------------------- fields


def shown(value: object) -> str:
    """A short description of a value, for an error message (never its full repr)."""
    if isinstance(value, torch.Tensor):
        return f"a {value.dtype} tensor of shape {list(value.shape)}"
    return reprlib.repr(value)


def is_int(value: object) -> bool:
    """A Python int read from a file (not a bool, which is one to Python)."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: object) -> bool:
    """A finite Python int or float read from a file (not a bool)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(
        value)


def need(ok: bool, field: str, expected: str, value: object) -> None:
    """Raise the one-line complaint (a ValueError) about ``field`` unless ``ok``."""
    if not ok:
        raise ValueError(f"{field} must be {expected}, got {shown(value)}")


def check_tensor(value: object, field: str, dtype: torch.dtype, shape: tuple[int, ...]) -> None:
    """A tensor of this dtype and shape holding its own values, all finite: an expanded
    view (stride 0) of a few stored values would grow to its full size when used."""
    expected = f"a {dtype} tensor of shape {list(shape)}"
    need(isinstance(value, torch.Tensor) and value.dtype == dtype
         and tuple(value.shape) == shape, field, expected, value)
    assert isinstance(value, torch.Tensor)  # for type checkers: need said so
    owned = (value.layout == torch.strided and value.is_contiguous()
             and value.storage_offset() == 0
             and value.untyped_storage().nbytes() == value.numel() * value.element_size())
    stored = value.untyped_storage().nbytes() // max(1, value.element_size())
    need(owned, field, f"{expected} holding its own values", f"a view of {stored} stored values")
    if value.is_floating_point():
        need(bool(torch.isfinite(value).all()), field, "finite", "NaN or infinite values")
