"""A worker gives freed heap memory back to the OS (stepca.server.memory, the
``release-free-memory`` job): after a burst of allocations in a thread's malloc arena, the
resident size falls back only when ``malloc_trim`` runs."""

from __future__ import annotations

import subprocess
import sys

import pytest

from stepca.server import memory

BURST = """
import re, threading
from pathlib import Path
from stepca.server import memory
def anon():
    return int(re.search(r"^RssAnon:\\s+(\\d+)", Path("/proc/self/status").read_text(), re.M).group(1))
keep = []
def burst():
    blocks = [bytes(4000) for _ in range(50_000)]  # ~200 MB from this thread's arena
    keep.append(blocks[-1])  # the arena's top stays in use: only malloc_trim returns the rest
    del blocks
t = threading.Thread(target=burst); t.start(); t.join()
before = anon()
released = memory.release_free_memory() if TRIM else None
print(before, anon(), released)
"""


def run_burst(trim: bool) -> tuple[int, int]:
    out = subprocess.run(
        [sys.executable, "-c", f"TRIM = {trim}\n" + BURST], check=True, capture_output=True, text=True
    ).stdout.split()
    return int(out[0]), int(out[1])


@pytest.mark.skipif(not memory.available(), reason="no glibc malloc_trim here")
def test_freed_memory_goes_back_to_the_os_only_with_the_trim() -> None:
    before, after = run_burst(trim=False)
    assert before > 150_000 and after > 150_000  # KiB: freed, yet still resident
    before, after = run_burst(trim=True)
    assert before > 150_000 and after < before - 150_000


FREEZE = """
import gc, weakref
from stepca.server import memory
class Node:
    pass
def cycle():
    a, b = Node(), Node()
    a.other, b.other = b, a
    return a
kept = [[i] for i in range(50_000)]  # start-up objects that live on
garbage = cycle()
dead = weakref.ref(garbage)
del garbage  # a cycle left behind by start-up: the first collection frees it
memory.freeze_start_up_objects()
print(dead() is None, gc.get_freeze_count() >= 50_000, len(gc.get_objects(2)) < 1000)
held = cycle()
memory.freeze_start_up_objects()  # frozen while referenced (an authority before a reload)
frozen = weakref.ref(held)
del held  # let go of (the reload's grace is over): frozen, so a collection skips it
gc.collect()
print(frozen() is not None)
memory.refreeze()
print(frozen() is None, gc.get_freeze_count() >= 50_000)
"""


def test_start_up_objects_are_frozen_and_a_refreeze_collects_their_cycles() -> None:
    out = subprocess.run([sys.executable, "-c", FREEZE], check=True, capture_output=True, text=True)
    lines = [line.split() for line in out.stdout.splitlines()]
    # start-up garbage collected first; what lives is frozen; the oldest generation is near empty
    assert lines[0] == ["True", "True", "True"], out.stdout
    # a cycle frozen while referenced outlives collections until a refreeze (after a reload)
    assert lines[1] == ["True"], out.stdout
    assert lines[2] == ["True", "True"], out.stdout
