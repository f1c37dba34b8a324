"""Whether to show progress bars: a setting of True, False or "auto".

Why: a fit can run for minutes. In a notebook or at a terminal, minutes without a word
look like a hang, so "auto" shows progress there; in a script whose stderr goes to a log
file or a pipe (a job scheduler, a test run) bars would only fill it, so "auto" shows none.
"""

from __future__ import annotations

import sys

__all__ = ["PROGRESS_CHOICES", "check_progress", "show_progress"]

PROGRESS_CHOICES = (True, False, "auto")


def check_progress(value: object, name: str = "verbose") -> None:
    """Refuse anything but True, False and "auto", with a ValueError naming ``name``."""
    if not (isinstance(value, bool) or (isinstance(value, str) and value == "auto")):
        raise ValueError(f"{name} must be True, False or 'auto', got {value!r}")


def _watched() -> bool:
    """True in a Jupyter kernel (a notebook, Colab, VS Code's notebooks) and when stderr
    is a terminal."""
    if "ipykernel" in sys.modules:
        return True
    isatty = getattr(sys.stderr, "isatty", None)
    return bool(isatty and isatty())


def show_progress(value: bool | str) -> bool:
    """``value`` (checked by :func:`check_progress`) as a yes or no: "auto" is yes where a
    person is likely watching (:func:`_watched`)."""
    check_progress(value)
    return _watched() if value == "auto" else bool(value)
