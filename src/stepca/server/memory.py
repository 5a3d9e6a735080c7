"""Giving freed heap memory back to the operating system (glibc's ``malloc_trim``).

A worker's threads (event loop, database writer, readers) allocate from separate glibc arenas. A
burst (a stalled commit while requests queue, a large read) raises an arena's high-water mark,
and the pages freed afterwards stay in the process: the resident size keeps the step for the
process's lifetime. ``malloc_trim(0)`` returns every whole free page of every arena
(``madvise(MADV_DONTNEED)``); a worker job calls it once a minute, off the request path (it takes
a few milliseconds at most). On a C library without it (musl, macOS) this does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from collections.abc import Callable

_trim: Callable[[int], int] | None = None
_looked = False


def _malloc_trim() -> Callable[[int], int] | None:
    global _trim, _looked
    if not _looked:
        _looked = True
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
            fn = libc.malloc_trim
        except (OSError, AttributeError):
            return None
        fn.argtypes = [ctypes.c_size_t]
        fn.restype = ctypes.c_int
        _trim = fn
    return _trim


def available() -> bool:
    return _malloc_trim() is not None


def release_free_memory() -> bool:
    """Give the free pages of the heap back to the OS; True when some were released."""
    fn = _malloc_trim()
    return bool(fn(0)) if fn is not None else False
