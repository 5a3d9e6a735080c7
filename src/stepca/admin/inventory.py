"""The certificate inventory (issue 15; docs/inventory.md): what the CA issued, a page at a time,
filtered, and one certificate exported. Reads only; who may read is ``AdminCore.authorize_reader``.

Pages are in expiry order (soonest first) with keyset cursors: the cursor is the last row's
``not_after`` and serial, so page 10,000 costs what page 1 does (``certificates`` indexes:
``not_after``, ``(provisioner, not_after)``, ``subject``; revoked or not is read through the
revocations' primary key).
"""

from __future__ import annotations

import base64
import binascii
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from stepca.db.records import CertificateQuery, CertificateRow
from stepca.errors import BadRequest, NotFound

if TYPE_CHECKING:
    from stepca.db.store import Store

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
KINDS = ("x509", "ssh")


def _time(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def row_json(row: CertificateRow) -> dict[str, Any]:
    out: dict[str, Any] = {
        "serial": row.serial,
        "kind": row.kind,
        "provisioner": row.provisioner,
        "subject": row.subject,
        "notBefore": _time(row.not_before),
        "notAfter": _time(row.not_after),
        "origin": row.origin,
        "createdAt": _time(row.created_at) if row.created_at else "",
        "revoked": bool(row.revoked_at),
    }
    if row.revoked_at:
        out["revokedAt"] = _time(row.revoked_at)
        out["reasonCode"] = row.reason_code
    return out


def encode_cursor(row: CertificateRow) -> str:
    return base64.urlsafe_b64encode(f"{row.not_after}:{row.serial}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[int, str] | None:
    if not cursor:
        return None
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        not_after, serial = text.split(":", 1)
        if not serial.isdigit():
            raise ValueError
        return int(not_after), serial
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise BadRequest(f"invalid cursor '{cursor[:40]}'") from None


def _flag(value: str, name: str) -> bool | None:
    if value in ("", None):
        return None
    if value.lower() in ("true", "1", "yes"):
        return True
    if value.lower() in ("false", "0", "no"):
        return False
    raise BadRequest(f"{name} must be true or false")


def _seconds(value: str, name: str) -> int:
    from stepca._durations import parse_duration

    try:
        seconds = int(parse_duration(value).total_seconds())
    except ValueError as exc:
        raise BadRequest(f"{name}: {exc}") from None
    if seconds <= 0:
        raise BadRequest(f"{name} must be a positive duration")
    return seconds


def query_from(params: dict[str, str], now: int | None = None) -> CertificateQuery:
    """The query of ``GET /admin/certificates`` parameters: ``provisioner``, ``subject``,
    ``revoked`` (true/false), ``expiringWithin`` (a duration: valid now and ending within it),
    ``expired`` (true: include expired certificates), ``kind`` (x509|ssh), ``cursor``, ``limit``."""
    now = int(time.time()) if now is None else now
    kind = params.get("kind") or "x509"
    if kind not in KINDS:
        raise BadRequest(f"kind must be one of {', '.join(KINDS)}")
    raw_limit = params.get("limit") or ""
    if raw_limit and not raw_limit.isdigit():
        raise BadRequest(f"limit '{raw_limit[:20]}' is not an integer")
    limit = min(int(raw_limit or DEFAULT_LIMIT), MAX_LIMIT) or DEFAULT_LIMIT
    within = params.get("expiringWithin") or ""
    include_expired = _flag(params.get("expired", ""), "expired") is True
    return CertificateQuery(
        kind=kind,
        provisioner=params.get("provisioner", ""),
        subject=params.get("subject", ""),
        revoked=_flag(params.get("revoked", ""), "revoked"),
        not_after_from=0 if include_expired and not within else now,
        not_after_to=now + _seconds(within, "expiringWithin") if within else 0,
        after=decode_cursor(params.get("cursor", "")),
        limit=limit,
    )


class Inventory:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def page(self, params: dict[str, str]) -> dict[str, Any]:
        q = query_from(params)
        rows = await self.store.list_certificates(q)
        return {
            "certificates": [row_json(r) for r in rows],
            "nextCursor": encode_cursor(rows[-1]) if len(rows) == q.limit else "",
        }

    async def export(self, serial: str, kind: str = "x509") -> dict[str, Any]:
        """One certificate: its record and its certificate (PEM for X.509, the OpenSSH line for SSH)."""
        if not serial.isdigit() or len(serial) > 60:
            raise BadRequest("serial must be a decimal number")
        record = await self.store.get_certificate(serial, kind)
        if record is None:
            raise NotFound(f"certificate with serial {serial} not found")
        revocation = await self.store.get_revocation(serial, kind)
        row = CertificateRow(
            serial=record.serial,
            kind=record.kind,
            provisioner=record.provisioner,
            subject=record.subject,
            not_before=record.not_before,
            not_after=record.not_after,
            origin=record.origin,
            created_at=0,
            revoked_at=revocation.revoked_at if revocation else 0,
            reason_code=revocation.reason_code if revocation else 0,
        )
        out = row_json(row)
        out.pop("createdAt")
        if kind == "x509":
            from stepca.crypto.pem import der_to_pem

            out["certificate"] = der_to_pem(record.der, "CERTIFICATE")
        else:
            from stepca.crypto.sshcert import authorized_line

            out["certificate"] = authorized_line(record.der)
        return out


__all__ = ["Inventory", "decode_cursor", "encode_cursor", "query_from", "row_json"]
