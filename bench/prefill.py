"""Fill a stepca database with N certificates and M revocations, as a long-lived CA has them.

    .venv/bin/python bench/prefill.py TARGET [--certificates 1000000] [--revocations 100000]
                                             [--span-days 365] [--future-days 30] [--batch 50000]

TARGET is a STEPPATH made by ``step ca init`` (its ca.json ``db`` block says where the database
is: the embedded SQLite file, or a server), an SQLite file, or a database URL
(``postgresql://user@host:5432/name``, ``mysql://root@127.0.0.1:3306/name``, any SQLAlchemy
URL). The schema is created the way step-ca creates it (``stepca.db.migrate``) when missing.

Rows look like the CA's own: random 128-bit serials (decimal strings), realistic DER leaves
(~600 bytes: a P-256 certificate with SANs, key usages and the provisioner extension, its serial
patched in; the signature does not verify, which no query looks at), 24-hour lifetimes whose
``not_after`` is spread uniformly from ``--span-days`` ago to ``--future-days`` ahead, and M
revocations of certificates among them. Inserts go by ``executemany`` in transactions of
``--batch`` rows; SQLite writes with ``synchronous=OFF`` and a large cache while filling, then
switches the file to WAL as the CA uses it.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DAY = 86400
REASONS = (0, 1, 3, 4, 5)  # unspecified, keyCompromise, affiliationChanged, superseded, cessation


@dataclass(frozen=True)
class Target:
    url: Any  # sqlalchemy.engine.URL
    kind: str  # sqlite | postgresql | mysql
    provisioner: str


def resolve(spec: str, provisioner: str | None = None) -> Target:
    """A STEPPATH, an SQLite file or a URL -> where to write, and the provisioner name to use."""
    from sqlalchemy.engine import make_url

    from stepca.db.engine import resolve_target

    path = Path(spec)
    if (path / "config" / "ca.json").is_file():
        from stepca.config import DBConfig

        cfg = json.loads((path / "config" / "ca.json").read_text())
        db = DBConfig.model_validate(cfg["db"]) if cfg.get("db") else None
        target = resolve_target(db, path / "db" / "stepca.db")
        provs = cfg.get("authority", {}).get("provisioners") or [{}]
        return Target(target.url, target.kind, provisioner or provs[0].get("name", "bench@example.com"))
    name = provisioner or "bench@example.com"
    if "://" not in spec:
        return Target(make_url(f"sqlite:///{path.resolve()}"), "sqlite", name)
    url = make_url(spec)
    backend = url.get_backend_name()
    drivers = {"postgresql": "postgresql+psycopg", "postgres": "postgresql+psycopg", "mysql": "mysql+pymysql"}
    if url.drivername in drivers:
        url = url.set(drivername=drivers[url.drivername])
    kind = {"postgres": "postgresql", "mariadb": "mysql"}.get(backend, backend)
    if kind not in ("sqlite", "postgresql", "mysql"):
        raise SystemExit(f"unsupported database URL {spec!r}: use sqlite, postgresql or mysql")
    return Target(url, kind, name)


# --------------------------------------------------------------------------- rows


class LeafTemplates:
    """One real DER leaf per serial length (1..17 content bytes); a row's DER is the template of
    its serial's length with the serial bytes replaced (same length, so every DER length holds)."""

    SERIAL_AT = 15  # 30 82 LL LL | 30 82 LL LL | a0 03 02 01 02 | 02 len <serial>

    def __init__(self) -> None:
        from cryptography.hazmat.primitives.asymmetric import ec

        self._issuer_key = ec.generate_private_key(ec.SECP256R1())
        self._leaf_key = ec.generate_private_key(ec.SECP256R1()).public_key()
        self._parts: dict[int, tuple[bytes, bytes]] = {}

    def _build(self, length: int) -> tuple[bytes, bytes]:
        from datetime import UTC, datetime, timedelta

        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

        from stepca.crypto.x509ext import PROVISIONER_OID, ProvisionerExtension

        serial = 1 << (8 * (length - 1))
        now = datetime.now(UTC)
        issuer = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Bench Intermediate CA")])
        ski = x509.SubjectKeyIdentifier.from_public_key(self._leaf_key)
        der = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "svc-000000.example.com")]))
            .issuer_name(issuer)
            .public_key(self._leaf_key)
            .serial_number(serial)
            .not_valid_before(now)
            .not_valid_after(now + timedelta(days=1))
            .add_extension(x509.KeyUsage(True, False, True, False, False, False, False, False, False), True)
            .add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
                False,
            )
            .add_extension(ski, False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self._issuer_key.public_key()), False
            )
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("svc-000000.example.com")]), False)
            .add_extension(
                x509.UnrecognizedExtension(
                    x509.ObjectIdentifier(PROVISIONER_OID),
                    ProvisionerExtension(type=1, name="bench@example.com", credential_id="x" * 43).to_der(),
                ),
                False,
            )
            .sign(self._issuer_key, hashes.SHA256())
            .public_bytes(serialization.Encoding.DER)
        )
        at = self.SERIAL_AT
        content = serial.to_bytes(length, "big")
        if der[at - 2] != 0x02 or der[at - 1] != length or der[at : at + length] != content:
            raise RuntimeError("unexpected certificate layout")
        return der[:at], der[at + length :]

    def der(self, serial: int) -> bytes:
        length = (serial.bit_length() + 8) // 8  # DER INTEGER: a leading 0 byte when the top bit is set
        parts = self._parts.get(length)
        if parts is None:
            parts = self._parts[length] = self._build(length)
        return parts[0] + serial.to_bytes(length, "big") + parts[1]


def certificate_rows(
    count: int, provisioner: str, *, now: int, span_days: float, future_days: float, rng: random.Random
) -> Iterator[dict[str, Any]]:
    templates = LeafTemplates()
    lo, hi = now - int(span_days * DAY), now + int(future_days * DAY)
    for i in range(count):
        serial = int.from_bytes(os.urandom(16), "big") or 1  # as stepca.authority.x509_issuer
        not_after = rng.randint(lo, hi)
        not_before = not_after - DAY
        yield {
            "serial": str(serial),
            "kind": "x509",
            "provisioner": provisioner,
            "subject": f"svc-{i:06d}.example.com",
            "not_before": not_before,
            "not_after": not_after,
            "origin": "sign",
            "created_at": not_before + 60,
            "der": templates.der(serial),
        }


def revocation_row(cert: dict[str, Any], *, now: int, rng: random.Random) -> dict[str, Any]:
    return {
        "serial": cert["serial"],
        "kind": "x509",
        "reason_code": rng.choice(REASONS),
        "reason": "",
        "revoked_at": rng.randint(cert["not_before"], max(cert["not_before"], min(cert["not_after"], now))),
        "provisioner": cert["provisioner"],
        "token_id": os.urandom(32).hex(),
        "mtls": False,
        "not_after": cert["not_after"],
    }


# --------------------------------------------------------------------------- writing


def prefill(
    target: Target,
    certificates: int,
    revocations: int,
    *,
    span_days: float = 365,
    future_days: float = 30,
    batch: int = 50_000,
    seed: int | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Insert the rows; returns counts, seconds and rows/s."""
    from sqlalchemy import create_engine, insert

    from stepca.db import schema
    from stepca.db.engine import DatabaseTarget, ensure_database
    from stepca.db.migrate import migrate

    if certificates < 0 or revocations < 0:
        raise SystemExit("--certificates and --revocations must not be negative")
    if revocations > certificates:
        raise SystemExit("--revocations cannot exceed --certificates (only issued certificates are revoked)")
    if batch < 1:
        raise SystemExit("--batch must be at least 1")
    ensure_database(DatabaseTarget(target.url, target.kind))
    engine = create_engine(target.url)
    migrate(engine)
    rng = random.Random(seed)
    revoked = set(rng.sample(range(certificates), revocations))
    now = int(time.time())
    rows = certificate_rows(
        certificates, target.provisioner, now=now, span_days=span_days, future_days=future_days, rng=rng
    )
    insert_cert, insert_rev = insert(schema.certificates), insert(schema.revocations)
    t0 = time.monotonic()
    done = 0
    with engine.connect() as conn:
        if target.kind == "sqlite":
            conn.exec_driver_sql("PRAGMA synchronous=OFF")
            conn.exec_driver_sql("PRAGMA cache_size=-524288")  # 512 MiB: random serials touch the whole index
            conn.exec_driver_sql("PRAGMA temp_store=MEMORY")
            conn.commit()
        while done < certificates:
            certs = [next(rows) for _ in range(min(batch, certificates - done))]
            revs = [revocation_row(c, now=now, rng=rng) for i, c in enumerate(certs, done) if i in revoked]
            with conn.begin():
                conn.execute(insert_cert, certs)
                if revs:
                    conn.execute(insert_rev, revs)
            done += len(certs)
            if progress:
                rate = done / max(time.monotonic() - t0, 1e-9)
                print(f"  {done:,} certificates ({rate:,.0f}/s)", file=sys.stderr, end="\r")
        if target.kind == "sqlite":
            conn.exec_driver_sql("PRAGMA journal_mode=WAL")  # as the CA opens it
            conn.commit()
        elif target.kind == "postgresql":
            conn.commit()
            conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql(
                "VACUUM ANALYZE certificates"
            )
            conn.exec_driver_sql("VACUUM ANALYZE revocations")
    engine.dispose()
    seconds = time.monotonic() - t0
    if progress:
        print(file=sys.stderr)
    out: dict[str, Any] = {
        "certificates": certificates,
        "revocations": revocations,
        "seconds": round(seconds, 1),
        "rows_per_s": round((certificates + revocations) / max(seconds, 1e-9)),
        "database": target.url.render_as_string(hide_password=True),
    }
    if target.kind == "sqlite" and target.url.database:
        out["file_mb"] = round(Path(target.url.database).stat().st_size / 1e6, 1)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("target", help="a STEPPATH, an SQLite file or a database URL")
    ap.add_argument("--certificates", "-n", type=int, default=1_000_000)
    ap.add_argument("--revocations", "-m", type=int, default=100_000)
    ap.add_argument("--span-days", type=float, default=365, help="oldest not_after, in days before now")
    ap.add_argument("--future-days", type=float, default=30, help="latest not_after, in days after now")
    ap.add_argument("--batch", type=int, default=50_000, help="rows per transaction")
    ap.add_argument("--provisioner", help="provisioner name in the rows (default: ca.json's first)")
    ap.add_argument("--seed", type=int, help="seed of the times and revocation choices (serials stay random)")
    args = ap.parse_args()
    target = resolve(args.target, args.provisioner)
    try:
        stats = prefill(
            target,
            args.certificates,
            args.revocations,
            span_days=args.span_days,
            future_days=args.future_days,
            batch=args.batch,
            seed=args.seed,
        )
    except Exception as exc:  # a one-line error, not a traceback
        raise SystemExit(
            f"prefill: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        ) from None
    print(json.dumps(stats))


if __name__ == "__main__":
    main()
