"""Waiting out an unavailable database (restart, failover, dropped connection, deadlock victim).

One policy for reads and writes: retry on a new connection with a doubling delay (50 ms to 1 s)
for ``window`` seconds, then give up with the last error.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

from stepca.db.engine import describe

log = logging.getLogger("stepca.db")
T = TypeVar("T")

#: how long a read or a write waits for an unavailable database before failing; the writer thread
#: keeps the next operations queued meanwhile
RECONNECT_WINDOW = 15.0


class Retry:
    def __init__(self, transient: tuple[type[Exception], ...], window: float = RECONNECT_WINDOW) -> None:
        self.transient = transient
        self.window = window

    def run(self, attempt: Callable[[bool], T], on_transient: Callable[[], None] | None = None) -> T:
        """``attempt(retrying)`` until it returns; ``retrying`` is True from the second try on."""
        deadline = 0.0
        delay = 0.0
        while True:
            try:
                return attempt(bool(deadline))
            except self.transient as exc:
                if on_transient is not None:
                    on_transient()
                now = time.monotonic()
                if not deadline:
                    deadline = now + self.window
                    log.warning("database unavailable, retrying for %.0fs: %s", self.window, describe(exc))
                elif now >= deadline:
                    raise
                time.sleep(delay)
                delay = min(max(delay * 2, 0.05), 1.0)
