"""Progress of the long steps (training, reading and encoding images, copying files):
a tqdm bar where one is drawn in place, plain lines everywhere else.

A bar redraws itself with carriage returns. On a terminal or in a Jupyter notebook that
is a bar; written to a file or a pipe (``mcod detect ... 2> log``, a batch job's output)
every redraw piles onto one huge line. So where stderr is neither, progress is written as
whole lines, one at most every ``LINE_SECONDS`` and one at the end, such as
``mcod fit: 12/20 epochs (60%), 41 s; inst 1.234, clu 0.456``.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator, Mapping
from types import TracebackType
from typing import Any, Protocol, TextIO

__all__ = ["LINE_SECONDS", "Progress", "draws_in_place", "progress"]

LINE_SECONDS = 10.0  # at most one progress line this often (plus the last one)


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


def progress(iterable: Iterable[Any] | None = None, *, total: int | None = None, desc: str,
             unit: str, enabled: bool = True, leave: bool = True) -> Progress:
    """A progress bar over ``iterable`` (or one advanced by ``update``) on stderr: tqdm's
    where it draws in place, else `_Lines`; nothing shown unless ``enabled``."""
    if enabled and not draws_in_place(sys.stderr):
        return _Lines(iterable, total, desc, unit, sys.stderr)
    from tqdm.auto import tqdm

    bar: Progress = tqdm(iterable, total=total, desc=desc, unit=unit, leave=leave,
                         disable=not enabled)
    return bar


class _Lines:
    """Progress as whole lines on ``stream``: the count (of the total, with its share), the
    time since the start and the last `set_postfix` values."""

    def __init__(self, iterable: Iterable[Any] | None, total: int | None, desc: str,
                 unit: str, stream: TextIO) -> None:
        if total is None and iterable is not None and hasattr(iterable, "__len__"):
            total = len(iterable)  # type: ignore[arg-type]
        self.iterable, self.total, self.desc, self.unit = iterable, total, desc, unit
        self.stream = stream
        self.n = 0
        self.postfix = ""
        self.started = time.monotonic()
        self.written_at = self.started  # the first line comes LINE_SECONDS in, or at the end
        self.written_n: int | None = None

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
        if self.n and self.written_n != self.n:
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
