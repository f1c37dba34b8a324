"""glibc's allocator set up for torch on CPU.

glibc hands out blocks above a moving threshold (at most 32 MB) with fresh ``mmap`` calls and
gives them back on free, so a network whose activations are a few MB each maps, zero-fills
and unmaps them at every layer: on 2 cores EfficientNet-Lite0 spent 60% of its time in the
kernel. Pinning the threshold at its ceiling and keeping freed memory for reuse halves the
time at the same peak memory (benchmarks/encoding_speed.py). Process-wide, so only the
command line and the benchmark's run processes call it, never the library.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

__all__ = ["keep_freed_memory"]

_M_TRIM_THRESHOLD = -1  # mallopt parameters, from glibc's malloc.h
_M_MMAP_THRESHOLD = -3
_MMAP_CEILING = 32 << 20  # glibc's largest mmap threshold on 64-bit
_TRIM = 1 << 30  # freed memory kept for reuse before it is given back


def keep_freed_memory() -> bool:
    """Tune glibc's malloc as described above; False where there is no glibc (macOS,
    Windows, musl) and nothing changed."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, _MMAP_CEILING) and mallopt(_M_TRIM_THRESHOLD, _TRIM))
