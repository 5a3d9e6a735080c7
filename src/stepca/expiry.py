"""Expiry warnings (docs/inventory.md): certificates that near their end without having been
renewed, reported once each as a warning in the log and, when configured, a webhook POST.

A cluster job (one worker of all instances) runs every ``checkEvery``: it reads the certificates
due (``Store.expiry_due``: valid now, ending within ``within``, past two thirds of their life,
not revoked, no later certificate of the same kind, subject and provisioner, not reported yet),
reports each, and records it in ``expiry_notices`` (the same row for every instance, so a warning
never repeats). A webhook that fails is tried again at the next check; the log line is written
at each try. Rows of expired certificates are purged.

The webhook body (``application/json``)::

    {"type": "certificate.expiring", "serial": "...", "kind": "x509", "subject": "...",
     "provisioner": "...", "notAfter": "2026-12-03T10:00:00Z", "secondsLeft": 3120}

with ``X-Stepca-Signature: sha256=<hex HMAC-SHA256 of the body under webhookSecret>`` when a
secret is set (compare it in constant time).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from stepca.db.operations import NoteExpiryOp

if TYPE_CHECKING:
    from stepca.config import ExpiryWarningsConfig
    from stepca.db.records import CertificateRow
    from stepca.db.store import Store

log = logging.getLogger("stepca.expiry")

#: seconds between the job's ticks (a check runs when ``checkEvery`` has passed, so a reload
#: that changes it takes effect without a restart)
TICK = 1.0
#: certificates reported per check at most (the rest at the next one)
BATCH = 500
WEBHOOK_TIMEOUT = 10.0


def body_of(row: CertificateRow, now: int) -> bytes:
    return json.dumps(
        {
            "type": "certificate.expiring",
            "serial": row.serial,
            "kind": row.kind,
            "subject": row.subject,
            "provisioner": row.provisioner,
            "notAfter": datetime.fromtimestamp(row.not_after, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "secondsLeft": max(0, row.not_after - now),
        },
        separators=(",", ":"),
    ).encode()


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class ExpiryWarnings:
    """One per worker (the job runs in one of them); ``configure`` on every load."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.config: ExpiryWarningsConfig | None = None
        self._session: Any = None
        self._next_at = 0.0

    def configure(self, config: ExpiryWarningsConfig | None) -> None:
        self.config = config

    async def tick(self) -> None:
        """The cluster job's tick (every ``TICK`` seconds): a check when ``checkEvery`` passed."""
        if self.config is None or time.monotonic() < self._next_at:
            return
        self._next_at = time.monotonic() + self.config.check_every.total_seconds()
        await self.check()

    async def check(self) -> None:
        cfg = self.config
        if cfg is None:
            return
        now = int(time.time())
        due = await self.store.expiry_due(now, int(cfg.within.total_seconds()), BATCH)
        for row in due:
            left = max(0, row.not_after - now)
            log.warning(
                "certificate expiring without renewal: serial %s, %s subject %r, provisioner %r, "
                "%d minutes left",
                row.serial,
                row.kind,
                row.subject,
                row.provisioner,
                left // 60,
            )
            if cfg.webhook_url and not await self._post(cfg, body_of(row, now)):
                continue  # not recorded: reported again at the next check
            await self.store.apply(NoteExpiryOp(row.serial, row.kind, row.not_after, now))
        await self.store.purge_expiry_notices(now)

    async def _post(self, cfg: ExpiryWarningsConfig, body: bytes) -> bool:
        import aiohttp

        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=WEBHOOK_TIMEOUT))
        headers = {"Content-Type": "application/json", "User-Agent": "stepca-expiry-warnings"}
        if cfg.webhook_secret:
            headers["X-Stepca-Signature"] = signature(cfg.webhook_secret, body)
        try:
            async with self._session.post(cfg.webhook_url, data=body, headers=headers) as resp:
                if 200 <= resp.status < 300:
                    return True
                log.warning(
                    "expiry webhook %s answered %d: tried again at the next check",
                    cfg.webhook_url,
                    resp.status,
                )
        except Exception as exc:
            log.warning("expiry webhook %s failed (%s): tried again at the next check", cfg.webhook_url, exc)
        return False

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()


__all__ = ["ExpiryWarnings", "body_of", "signature"]
