"""Atomic file writes: readers see the old file or the new one, never half of one.

The content goes to a temporary file in the destination's directory (same file system),
which is flushed, synced and then renamed over the destination with ``os.replace``. If
writing fails, the temporary file is removed and the destination is left untouched.
"""

from __future__ import annotations

import errno
import os
import re
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

__all__ = ["atomic_write", "disk_full_named", "plain_mode", "write_atomic"]

_TEMP_SUFFIX = ".tmp"
_FULL_ERRNOS = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}
_SHORT_WRITE = re.compile(r"\d+ requested and \d+ written")  # numpy's tofile, errno unset


def plain_mode(folder: bool = False) -> int:
    """The permissions a plain ``open(path, "w")`` (or ``mkdir``) would give: 0o666 (0o777)
    & ~umask; mkstemp and mkdtemp make 0o600 and 0o700."""
    umask = os.umask(0)
    os.umask(umask)
    return (0o777 if folder else 0o666) & ~umask


@contextmanager
def atomic_write(
    path: str | os.PathLike[str],
    mode: str = "w",
    encoding: str | None = "utf-8",
    newline: str | None = None,
) -> Iterator[IO[Any]]:
    """Open a temporary file for writing; on a clean exit it replaces ``path``.

    ``mode`` is "w" (text, ``encoding`` and ``newline`` apply) or "wb" (binary). The
    destination directory must exist.
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_write mode must be 'w' or 'wb', got {mode!r}")
    target = Path(path)
    directory = target.parent if str(target.parent) else Path(".")
    if not directory.is_dir():
        raise FileNotFoundError(f"directory does not exist: {directory}")
    with disk_full_named(target):
        fd, temp_name = tempfile.mkstemp(dir=directory, prefix=f".{target.name}.",
                                         suffix=_TEMP_SUFFIX)
        with _replacing(Path(temp_name), target):
            handle: IO[Any]
            if mode == "wb":
                handle = os.fdopen(fd, "wb")
            else:
                handle = os.fdopen(fd, "w", encoding=encoding, newline=newline)
            with handle:
                yield handle
                handle.flush()
                os.fsync(handle.fileno())


@contextmanager
def _replacing(temp: Path, target: Path) -> Iterator[None]:
    """Once the block has written ``temp``, it replaces ``target``; on any failure or
    signal it is removed instead."""
    try:
        yield
        os.chmod(temp, plain_mode())
        os.replace(temp, target)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def write_atomic(
    path: str | os.PathLike[str],
    writer: Callable[[IO[Any]], object],
    mode: str = "w",
    **open_kwargs: Any,
) -> Path:
    """Call ``writer(file)`` inside :func:`atomic_write`; return the destination path."""
    with atomic_write(path, mode, **open_kwargs) as handle:
        writer(handle)
    return Path(path)


@contextmanager
def disk_full_named(path: str | os.PathLike[str]) -> Iterator[None]:
    """Raise a full disk (ENOSPC, a quota, or numpy's short write "230400 requested and
    102272 written") as one OSError, "disk full while writing PATH", which says what to
    fix; other errors pass unchanged. Wrap the whole write, flush and close included."""
    try:
        yield
    except OSError as error:
        if error.errno not in _FULL_ERRNOS and not _SHORT_WRITE.fullmatch(str(error)):
            raise
        full = OSError(f"disk full while writing {path}")
        full.errno = errno.ENOSPC
        raise full from error
