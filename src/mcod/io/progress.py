"""Progress of the long steps (training, reading and encoding images, copying files):
whether to show it, and a tqdm bar where one is drawn in place, plain lines elsewhere.

A fit can run for minutes: in a notebook or at a terminal, minutes without a word look
like a hang, so the setting "auto" shows progress there and none where stderr goes to a
log file or a pipe. Where progress is shown but stderr cannot redraw a bar (``mcod detect
... 2> log``, a batch job's output), every redraw would pile onto one huge line, so it is
written as whole lines, one at most every ``LINE_SECONDS`` and one at the end, such as
``mcod fit: 12/20 epochs (60%), 41 s; inst 1.234, clu 0.456``.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator, Mapping
from types import TracebackType
from typing import Any, Protocol, TextIO

__all__ = ["LINE_SECONDS", "PROGRESS_CHOICES", "Progress", "check_progress", "draws_in_place",
           "progress", "show_progress"]

LINE_SECONDS = 10.0  # at most one progress line this often (plus the last one)
PROGRESS_CHOICES = (True, False, "auto")


class Progress(Protocol):
    """What mcod uses of a tqdm bar; a `_Lines` offers the same."""

    def __iter__(self) -> Iterator[Any]: ...
    def __enter__(self) -> Progress: ...
    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None, /) -> None: ...
    def update(self, n: int = 1) -> object: ...
    def set_postfix(self, ordered_dict: Mapping[str, object] | None = None) -> None: ...
    def close(self) -> None: ...


def draws_in_place(stream: TextIO) -> bool:
    """Whether a bar written to ``stream`` is redrawn in place: a terminal, or a Jupyter
    kernel (whose output area handles carriage returns and tqdm's widgets)."""
    if "ipykernel" in sys.modules:
        return True
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


def check_progress(value: object, name: str = "verbose") -> None:
    """Refuse anything but True, False and "auto", with a ValueError naming ``name``."""
    if not (isinstance(value, bool) or (isinstance(value, str) and value == "auto")):
        raise ValueError(f"{name} must be True, False or 'auto', got {value!r}")


def show_progress(value: bool | str) -> bool:
    """``value`` (checked by :func:`check_progress`) as a yes or no: "auto" is yes where a
    person is likely watching: a Jupyter kernel, or stderr a terminal."""
    check_progress(value)
    return draws_in_place(sys.stderr) if value == "auto" else bool(value)


def progress(iterable: Iterable[Any] | None = None, *, total: int | None = None, desc: str,
             unit: str, enabled: bool = True, leave: bool = True,
             initial: int = 0) -> Progress:
    """A progress bar over ``iterable`` (or one advanced by ``update``) on stderr: tqdm's
    where it draws in place, else `_Lines`; nothing shown unless ``enabled``. ``initial``:
    the count already done (a resumed fit), with ``total`` the whole."""
    if enabled and not draws_in_place(sys.stderr):
        return _Lines(iterable, total, desc, unit, sys.stderr, initial)
    from tqdm.auto import tqdm

    bar: Progress = tqdm(iterable, total=total, desc=desc, unit=unit, leave=leave,
                         disable=not enabled, initial=initial)
    return bar


class _Lines:
    """Progress as whole lines on ``stream``: the count (of the total, with its share), the
    time since the start and the last `set_postfix` values."""

    def __init__(self, iterable: Iterable[Any] | None, total: int | None, desc: str,
                 unit: str, stream: TextIO, initial: int = 0) -> None:
        if total is None and iterable is not None and hasattr(iterable, "__len__"):
            total = len(iterable)  # type: ignore[arg-type]
        self.iterable, self.total, self.desc, self.unit = iterable, total, desc, unit
        self.stream = stream
        self.n = initial
        self.postfix = ""
        self.started = time.monotonic()
        self.written_at = self.started  # the first line comes LINE_SECONDS in, or at the end
        self.written_n = initial  # nothing new to say until more are counted

    def __iter__(self) -> Iterator[Any]:
        if self.iterable is None:
            raise TypeError("this progress has no iterable; call update() instead")
        try:
            for item in self.iterable:
                yield item
                self.update()
        finally:
            self.close()

    def __enter__(self) -> _Lines:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None, /) -> None:
        self.close()

    def update(self, n: int = 1) -> None:
        """Count ``n`` more; write a line when LINE_SECONDS have passed or all are done."""
        self.n += n
        now = time.monotonic()
        if now - self.written_at >= LINE_SECONDS or self.n == self.total:
            self._write(now)

    def set_postfix(self, ordered_dict: Mapping[str, object] | None = None) -> None:
        """Values shown after the count (the losses of the epoch just done)."""
        values = ordered_dict or {}
        self.postfix = ", ".join(f"{name} {value}" for name, value in values.items())

    def close(self) -> None:
        """The last line, unless it was written already (or nothing was counted)."""
        if self.written_n != self.n:
            self._write(time.monotonic())

    def line(self, now: float) -> str:
        """'mcod fit: 12/20 epochs (60%), 41 s; inst 1.234'."""
        units = self.unit if self.n == 1 and self.total in (None, 1) else self.unit + "s"
        done = f"{self.n:,}" if self.total is None else f"{self.n:,}/{self.total:,}"
        share = f" ({self.n / self.total:.0%})" if self.total else ""
        text = f"{self.desc}: {done} {units}{share}, {now - self.started:,.0f} s"
        return text + (f"; {self.postfix}" if self.postfix else "")

    def _write(self, now: float) -> None:
        self.stream.write(self.line(now) + "\n")
        self.stream.flush()
        self.written_at, self.written_n = now, self.n
