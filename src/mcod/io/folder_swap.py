"""Replace a whole output folder so that it is never lost, whatever stops the program.

``mcod clean`` builds its result in a hidden sibling folder, ``.DIR.tmp-*``, then puts it
in place of DIR:

- Where the system can (Linux 3.15+ on ext4, xfs, btrfs, tmpfs and most others),
  ``renameat2(RENAME_EXCHANGE)`` swaps the two folders in one step: at every instant DIR
  is the old result or the new one. The old one, now in the hidden folder, is removed.
- Elsewhere, DIR is first renamed to ``.DIR.old-*/previous``, then the new result is
  renamed to DIR. Between the two, DIR is missing for an instant; Ctrl-C, SIGTERM and
  SIGHUP wait until both renames are done, and after a ``kill -9`` there the next
  ``mcod clean`` to DIR puts the old result back (:func:`recover`) before it starts.

A :class:`FolderLock` keeps two runs from writing the same DIR at once, and
:func:`fingerprint` lets a run see that DIR changed while it trained.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import os
import shutil
import signal
import tempfile
from collections.abc import Iterator
from pathlib import Path

from mcod.io.signals import handlers_set

__all__ = ["FolderLock", "exchange", "fingerprint", "recover", "replace_folder", "work_folder"]

_RENAME_EXCHANGE = 2  # linux/fs.h
_AT_FDCWD = -100
_UNSUPPORTED = {errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EPERM}
_DEFERRED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def _renameat2() -> ctypes._CFuncPtr | None:  # type: ignore[name-defined]
    try:
        return ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError):  # not glibc >= 2.28 / not Linux
        return None


def exchange(a: Path, b: Path) -> bool:
    """Swap the folders ``a`` and ``b`` atomically; False where the system cannot (then
    nothing was changed)."""
    call = _renameat2()
    if call is None:
        return False
    if call(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in _UNSUPPORTED:
        return False
    raise OSError(code, os.strerror(code), str(b))


def _hidden(out: Path, kind: str) -> str:
    return f".{out.name}.{kind}-"


def work_folder(out: Path, mode: int) -> Path:
    """A new hidden folder beside ``out`` (same file system, so renames are atomic) with
    the permissions ``mode``, to build a result in."""
    work = Path(tempfile.mkdtemp(dir=out.parent, prefix=_hidden(out, "tmp")))
    work.chmod(mode)  # mkdtemp makes 0700; give the result mkdir's mode
    return work


@contextlib.contextmanager
def _signals_deferred() -> Iterator[None]:
    """Ctrl-C, SIGTERM and SIGHUP that arrive in the block are acted on as it ends. (Their
    handlers are swapped, not the signals blocked: a blocked signal still reaches the
    program through any other thread, torch's among them.)"""
    arrived: list[int] = []
    try:
        with handlers_set(_DEFERRED, lambda signum, _: arrived.append(signum)):
            yield
    finally:
        for signum in dict.fromkeys(arrived):
            signal.raise_signal(signum)


def replace_folder(work: Path, out: Path) -> None:
    """Put the folder ``work`` in place of ``out`` (which may not exist) and remove the
    previous ``out``; see the module's docstring for what holds at each instant."""
    if not out.exists():
        work.rename(out)  # an empty DIR made meanwhile is replaced; a filled one refuses
        return
    if exchange(work, out):
        shutil.rmtree(work)  # the previous result; a kill here leaves it to recover()
        return
    old = Path(tempfile.mkdtemp(dir=out.parent, prefix=_hidden(out, "old")))
    swapped = False
    try:
        with _signals_deferred():  # a signal held here is raised as the block ends
            out.rename(old / "previous")
            try:
                work.rename(out)
                swapped = True
            except BaseException:
                (old / "previous").rename(out)
                raise
    finally:  # unless putting it back failed: then recover() restores it next time
        if swapped or not (old / "previous").exists():
            shutil.rmtree(old, ignore_errors=True)


def recover(out: Path) -> list[str]:
    """Undo what a killed run left beside ``out``: a previous result moved aside goes back
    to ``out`` if ``out`` is missing, other left-overs are removed. Call it holding the
    :class:`FolderLock` of ``out``. Returns a line for each thing done."""
    done: list[str] = []
    if not out.parent.is_dir():
        return done
    for old in sorted(out.parent.glob(_hidden(out, "old") + "*")):
        previous = old / "previous"
        if previous.is_dir() and not out.exists():
            previous.rename(out)
            done.append(f"restored {out} from an interrupted run ({old.name})")
        shutil.rmtree(old, ignore_errors=True)
    for work in sorted(out.parent.glob(_hidden(out, "tmp") + "*")):
        shutil.rmtree(work, ignore_errors=True)
        done.append(f"removed {work.name}, left by an interrupted run")
    return done


class FolderLock:
    """An exclusive lock on writing ``out``, held by one process at a time (``flock`` on a
    hidden ``.DIR.lock`` file beside it, released by the system if the process dies)."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.path = out.parent / f".{out.name}.lock"
        self._fd: int | None = None

    def __enter__(self) -> FolderLock:
        while self._fd is None:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                raise FileExistsError(f"another mcod is writing {self.out}; wait for it to "
                                      "finish or choose another --out") from None
            if self._is_current(fd):
                self._fd = fd
            else:  # its holder removed that file as it finished: lock the new one
                os.close(fd)
        return self

    def _is_current(self, fd: int) -> bool:
        try:
            return os.stat(self.path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            return False

    def __exit__(self, *exc: object) -> None:
        if self._fd is not None:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()  # while still held: a waiting run then makes a new one
            os.close(self._fd)
            self._fd = None


def fingerprint(folder: Path) -> frozenset[tuple[str, int, int]] | None:
    """What is in ``folder`` (relative paths, sizes, modification times), to tell whether
    something changed it; None when it does not exist."""
    if not folder.is_dir():
        return None
    entries = []
    for root, dirs, files in os.walk(folder):
        for name in dirs + files:
            path = Path(root) / name
            info = path.lstat()
            entries.append((str(path.relative_to(folder)), info.st_size, info.st_mtime_ns))
    return frozenset(entries)
