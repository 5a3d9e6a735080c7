"""The audit log of certificate events, read back: the rows of the changes themselves.

An issuance (sign, renew, rekey, acme; X.509 or SSH) is its ``certificates`` row and a revocation
its ``revocations`` row, each with the audit columns of migration v5 (``credential``: the
one-time token's id, ``cert:<serial>`` for mTLS, ``dashboard``; ``remote``: the client's
address), written by the same INSERT as the change — so the log costs the issuance path two
short columns, not a row and its indexes. The names are read out of the stored certificate here,
off the request path.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, select

from stepca.db import schema
from stepca.db.records import provisioner_name


def _names(kind: str, der: bytes) -> list[str]:
    try:
        if kind == "ssh":
            from stepca.crypto.sshcert import certificate_from_blob

            return [p.decode(errors="replace") for p in certificate_from_blob(der).valid_principals]
        from cryptography import x509

        san = x509.load_der_x509_certificate(der).extensions.get_extension_for_class(
            x509.SubjectAlternativeName
        )
        return [str(n.value) for n in san.value]
    except Exception:  # no SAN, or a stored blob that does not parse: no names
        return []


def _issued(r: Any) -> dict[str, Any]:
    return {
        "at": r.created_at * 1000,
        "action": r.origin if r.kind == "x509" else f"ssh-{r.origin}",
        "kind": r.kind,
        "serial": r.serial,
        "subject": r.subject,
        "names": _names(r.kind, bytes(r.der)),
        "provisioner": r.provisioner,
        "credential": r.credential,
        "remote": r.remote,
    }


def _revoked(r: Any, subject: str) -> dict[str, Any]:
    credential = r.credential or r.token_id or (f"cert:{r.serial}" if r.mtls else "")
    return {
        "at": r.revoked_at * 1000,
        "action": "revoke" if r.kind == "x509" else "ssh-revoke",
        "kind": r.kind,
        "serial": r.serial,
        "subject": subject,
        "names": [],
        "provisioner": provisioner_name(r.provisioner),
        "credential": credential,
        "remote": r.remote,
    }


def events(conn: Connection, serial: str = "", limit: int = 100) -> list[dict[str, Any]]:
    """The newest events first (of one serial when given): issuances by ``created_at`` (its
    index), revocations by ``revoked_at``, merged."""
    c, r = schema.certificates, schema.revocations
    cq = select(c)
    rq = select(r)
    if serial:
        cq, rq = cq.where(c.c.serial == serial), rq.where(r.c.serial == serial)
    issued = list(conn.execute(cq.order_by(c.c.created_at.desc()).limit(limit)))
    revoked = list(conn.execute(rq.order_by(r.c.revoked_at.desc()).limit(limit)))
    subjects = {(i.serial, i.kind): i.subject for i in issued}
    missing = [(x.serial, x.kind) for x in revoked if (x.serial, x.kind) not in subjects]
    for s, k in missing:
        found = conn.execute(select(c.c.subject).where(c.c.serial == s, c.c.kind == k)).first()
        subjects[(s, k)] = found.subject if found else ""
    out = [_issued(i) for i in issued] + [_revoked(x, subjects[(x.serial, x.kind)]) for x in revoked]
    out.sort(key=lambda e: (e["at"], e["action"] == "revoke" or e["action"] == "ssh-revoke"), reverse=True)
    return out[:limit]
