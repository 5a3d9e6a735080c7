"""Connections spread evenly over the workers of one listening socket.

Every worker accepts from the same socket, and the kernel hands a new connection to whichever
worker asks first: a burst of keep-alive connections (a load balancer's pool, a proxy, a load
generator) can land 25 on one worker and 7 on the other. Each worker is one event loop on one
core, so the busy one saturates while the other idles: throughput drops and the tail latency of
the busy one's clients doubles (measured: 16/16 -> 2,191 certs/s, p99 27 ms; 25/7 -> 2,000
certs/s, p99 42 ms; docs/benchmarks.md).

The supervisor maps one shared page before it forks (``ConnectionShares``); each worker writes
how many connections it holds into its slot whenever that changes, and before accepting another
it looks at the others': a worker holding more than the least loaded one waits (``DEFER_STEP``)
for them to take the connection, at most ``MAX_DEFER`` in all per connection, then accepts it
anyway, so a stopped or stuck worker costs a new client at most that much delay, never a refusal.
"""

from __future__ import annotations

import mmap
import struct

#: how long a worker that holds more connections than another waits before looking again
DEFER_STEP = 0.002
#: a worker accepts after deferring this long whatever the others hold (they may be stuck)
MAX_DEFER = 0.02

_SLOT = struct.Struct("q")


class ConnectionShares:
    """One signed 64-bit count per worker in an anonymous shared mapping (inherited by fork).

    Reads are unlocked: a count read while another worker writes it is one connection off at
    worst, which only shifts which worker takes the next connection."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._map = mmap.mmap(-1, max(1, workers) * _SLOT.size)  # MAP_SHARED | MAP_ANONYMOUS

    def set(self, index: int, count: int) -> None:
        _SLOT.pack_into(self._map, index * _SLOT.size, count)

    def counts(self) -> list[int]:
        return [_SLOT.unpack_from(self._map, i * _SLOT.size)[0] for i in range(self.workers)]

    def ahead(self, index: int) -> bool:
        """True when worker ``index`` holds more connections than some other worker."""
        if self.workers < 2:
            return False
        counts = self.counts()
        mine = counts[index]
        return any(count < mine for i, count in enumerate(counts) if i != index)

    def close(self) -> None:
        self._map.close()
