"""Output paths checked before any work is spent: they never land on an input.

Every file mcod writes replaces its destination atomically (``mcod.io.atomic``), so a wrong
destination is not half-written but replaced whole: a ``--save-model`` that names the
input array, a ``--out`` folder that holds the input table as ``scores.csv``, a device
node such as ``/dev/null``. The rules, checked before training:

- an output is a regular file or a folder, or does not exist yet: never a link, a device,
  a FIFO or a socket;
- no output resolves to an input file (the array, the table, the model, an image of the
  folder), nor to another output of the same run;
- the folder an output goes to can be written (a read-only or unwritable place fails now,
  not after an hour of training);
- a file mcod names itself in a folder it is given (``--out DIR`` writes DIR/scores.csv,
  ``--report DIR`` DIR/index.html) replaces only a file mcod wrote, told by its content
  (the scores header, the report's title), unless ``--overwrite``: a user's own
  ``scores.csv`` or web page there is left alone.
"""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from mcod.data.inputs import InputError

__all__ = ["Output", "check_outputs", "check_writable", "file_output", "folder_output",
           "resolved"]


@dataclass(frozen=True)
class Output:
    """One path a command will write: the file itself, or (``folder``) a folder it fills."""

    option: str  # the option that named it, for messages: --out, --report, --save-model
    value: str  # as the user gave it
    path: Path  # the file (or folder) that will be written
    folder: bool = False
    # for a file named by mcod in a given folder: whether an existing one is mcod's own
    ours: Callable[[Path], bool] | None = None


def file_output(option: str, value: str) -> Output:
    """The file ``value`` given with ``option`` (``--save-model model.pt``)."""
    check_writable(option, value, folder=False)
    return Output(option, value, Path(value).expanduser())


def folder_output(option: str, value: str, file_name: str | None = None,
                  ours: Callable[[Path], bool] | None = None) -> Output:
    """The folder ``value`` given with ``option``: the file ``file_name`` written in it
    (``--out DIR`` writes DIR/scores.csv), or with no name the folder itself (clean).
    ``ours`` tells whether an existing ``file_name`` is one mcod wrote (see the module)."""
    check_writable(option, value, folder=True)
    folder = Path(value).expanduser()
    if file_name is None:
        return Output(option, value, folder, folder=True)
    return Output(option, value, folder / file_name, ours=ours)


def resolved(path: str | os.PathLike[str]) -> Path:
    """``path`` with ``~``, links and ``..`` resolved, whether or not it exists."""
    return Path(os.path.realpath(Path(path).expanduser()))


def check_writable(option: str, value: str, folder: bool) -> None:
    """Refuse an output path of the wrong kind (a file where a folder is needed, or the
    reverse, or a file on the way to it)."""
    path = Path(value).expanduser()
    if folder and path.exists() and not path.is_dir():
        raise InputError(f"{option} {value} is a file; give a folder")
    if not folder and (path.is_dir() or value.endswith(("/", os.sep))):
        raise InputError(f"{option} {value} is a folder; give a file name in it")
    blocking = next((p for p in path.parents if p.exists() and not p.is_dir()), None)
    if blocking is not None:
        raise InputError(f"{option} {value}: {blocking} is a file, not a folder")


def _check_kind(output: Output) -> None:
    """A file output may only replace a regular file; a folder output only a folder."""
    try:
        info = os.lstat(output.path)
    except FileNotFoundError:
        return
    if stat.S_ISLNK(info.st_mode):
        raise InputError(f"{output.option} {output.value}: {output.path} is a link; mcod "
                         "replaces only regular files and folders, give another path")
    wanted = stat.S_ISDIR if output.folder else stat.S_ISREG
    if not wanted(info.st_mode):
        what = "a folder" if output.folder else "a regular file"
        raise InputError(f"{output.option} {output.value}: {output.path} exists and is not "
                         f"{what}; give another path")


def _check_ours(output: Output) -> None:
    """Refuse to replace a file that mcod did not write (see the module's rules)."""
    if output.ours is not None and output.path.is_file() and not output.ours(output.path):
        raise InputError(f"{output.option} {output.value}: {output.path} exists and was not "
                         "written by mcod; pass --overwrite to replace it, or give another "
                         "folder")


def _nearest_existing(path: Path) -> Path:
    return next(p for p in (path, *path.parents) if p.exists())


def _check_can_write(output: Output) -> None:
    """Create and remove a file where the output will go: the only check that sees
    read-only mounts, permissions and root alike."""
    folder = output.path if output.folder else output.path.parent
    place = _nearest_existing(folder)
    try:
        with tempfile.TemporaryFile(dir=place):
            pass
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise InputError(f"{output.option} {output.value}: cannot write in {place} "
                         f"({reason})") from None


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def check_outputs(outputs: Sequence[Output], inputs: Iterable[Path],
                  overwrite: bool = False) -> None:
    """Refuse, before any work, outputs that would replace an input, each other, or
    something that is not ours to replace (see the module's rules; ``overwrite``: a file
    of mcod's name that mcod did not write may be replaced)."""
    input_paths = {resolved(p): Path(p) for p in inputs}
    seen: dict[Path, Output] = {}
    for output in outputs:
        _check_kind(output)
        target = resolved(output.path)
        hit = input_paths.get(target) or next(
            (given for real, given in input_paths.items() if _same_file(real, target)), None)
        if hit is not None:
            raise InputError(f"{output.option} {output.value} would overwrite the input "
                             f"{hit}; give an output path that is not an input")
        if target in seen:
            raise InputError(f"{output.option} {output.value} and {seen[target].option} "
                             f"{seen[target].value} would write the same file {target}")
        seen[target] = output
        if not overwrite:  # after the input check: --overwrite never replaces an input
            _check_ours(output)
        _check_can_write(output)
