"""Python signal handlers set for the length of a block, then put back.

Handlers can only be set in the main thread; elsewhere the block runs with the handlers
as they are (Python runs handlers in the main thread only anyway).
"""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["handlers_set"]


@contextmanager
def handlers_set(signums: Iterable[int], handler: Callable[[int, Any], Any]) -> Iterator[None]:
    """``handler`` for each of ``signums`` inside the block."""
    try:
        previous = {signum: signal.signal(signum, handler) for signum in signums}
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        for signum, former in previous.items():
            signal.signal(signum, former)
