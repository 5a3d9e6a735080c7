"""PostgreSQL ``LISTEN``: a fast path beside the version polls (a change is seen in
milliseconds instead of at the next poll). The poll stays the source of truth: a lost
notification, a dropped listening connection or another backend only cost the poll interval.

One daemon thread per listener holds its own autocommit connection (outside the pool), waits on
``notifies`` in one-second slices (so ``stop`` is prompt), and reconnects after a failure; after
each (re)connection it calls ``on_notify`` once, since a change may have been missed meanwhile.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from sqlalchemy.engine import URL

log = logging.getLogger("stepca.db")

#: the channel the admin changes notify (``queries.admin``)
ADMIN_CHANNEL = "stepca_admin"
RECONNECT_DELAY = 1.0


class Listener:
    def __init__(self, url: URL, channel: str, on_notify: Callable[[], None]) -> None:
        self._conninfo = url.set(drivername="postgresql").render_as_string(hide_password=False)
        self._channel = channel
        self._on_notify = on_notify
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"stepca-listen-{channel}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=3)

    def _run(self) -> None:
        import psycopg
        from psycopg import sql

        while not self._stop.is_set():
            try:
                with psycopg.connect(self._conninfo, autocommit=True, connect_timeout=5) as conn:
                    conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self._channel)))
                    self._on_notify()
                    while not self._stop.is_set():
                        for _ in conn.notifies(timeout=1.0):
                            self._on_notify()
            except Exception as exc:
                log.debug("LISTEN %s: %s (the poll covers it)", self._channel, exc)
                self._stop.wait(RECONNECT_DELAY)
