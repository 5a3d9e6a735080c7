"""A worker's memory: freed heap pages given back to the OS (glibc's ``malloc_trim``), and the
objects built at start-up kept out of the cyclic garbage collector's way (``gc.freeze``).

A worker's threads (event loop, database writer, readers) allocate from separate glibc arenas. A
burst (a stalled commit while requests queue, a large read) raises an arena's high-water mark,
and the pages freed afterwards stay in the process: the resident size keeps the step for the
process's lifetime. ``malloc_trim(0)`` returns every whole free page of every arena
(``madvise(MADV_DONTNEED)``); a worker job calls it once a minute, off the request path (it takes
a few milliseconds at most). On a C library without it (musl, macOS) this does nothing.

Python's cyclic collector walks every container object it tracks in a full (oldest-generation)
collection. A worker holds about 100,000 of them once started (aiohttp, SQLAlchemy, pydantic,
the configuration); under load a full collection came about once every few seconds of traffic
and stopped the event loop for 58-122 ms on a 2-core Intel Xeon, every request in flight with it
(it was the p99). ``freeze_start_up_objects`` collects once, then moves every object alive into
the permanent generation, which collections skip: a full collection then walks only what was
made since (a few thousand objects, 1-3 ms). Frozen objects are still freed by reference
counting; only cycles among them would wait, so after a reload has let go of the previous
authority, ``refreeze`` thaws, collects (one full pass) and freezes again.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
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


def freeze_start_up_objects() -> None:
    """Collect what start-up left behind, then freeze everything alive (see the module text)."""
    gc.collect()
    gc.freeze()


def refreeze() -> None:
    """After a reload dropped the previous authority: one full collection of everything, then
    freeze what is alive again (a pause of one full collection, once per burst of reloads)."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()
