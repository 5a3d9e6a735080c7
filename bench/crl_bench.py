"""How long the CA takes to publish its CRL with many revocations, and a delta after a few more.

    .venv/bin/python bench/crl_bench.py [--revocations 100000] [--new 100] [--repeat 5]
                                        [--db sqlite|postgresql|mysql]

Measures what a worker does (``stepca.revocation.publisher``), on a real database filled with
``--revocations`` X.509 revocations of unexpired certificates (random 128-bit serials, a third
with a reason code, revoked over the last 30 days): take a CRL number from the database sequence, read the revocations, build
and sign the CRL with cryptography's CertificateRevocationListBuilder (P-256 intermediate),
publish it (one row with its DER, older bodies emptied). Then ``--new`` revocations are recorded
after that CRL and the delta CRL over it is published the same way.

"cold" is the cluster's first CRL (every line made); "new worker" a worker's first CRL when one is
already published (its lines parsed from that CRL, ``EntryCache.seed``); "warm" the same worker's
next CRL (its lines reused). Between runs the earlier revocations are
aged an hour and the earlier complete CRLs marked expired, so each delta covers exactly the run's
``--new`` revocations. Each figure is the median and the worst of ``--repeat`` runs; the breakdown is of the median cold run. Targets (issue 13): complete
CRL with 100,000 entries <= 2 s, delta for 100 new revocations <= 50 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import DB_SERVERS, machine, print_machine


def _engine(kind: str, workdir: Path) -> tuple[Any, str | None]:
    """(engine, database to drop afterwards) on a fresh database."""
    from stepca.config import DBConfig
    from stepca.db.engine import ensure_database, make_engine, resolve_target

    if kind == "sqlite":
        target = resolve_target(None, workdir / "crl-bench.db")
        ensure_database(target)
        return make_engine(target, pool_size=6), None
    name = f"stepca_crlbench_{uuid.uuid4().hex[:8]}"
    source, _admin = DB_SERVERS[kind]
    target = resolve_target(
        DBConfig.model_validate({"type": kind, "dataSource": source, "database": name}), workdir / "x"
    )
    ensure_database(target)
    return make_engine(target, pool_size=6), name


def _drop(kind: str, name: str | None) -> None:
    if name is None:
        return
    from sqlalchemy import create_engine
    from sqlalchemy.pool import NullPool

    engine = create_engine(DB_SERVERS[kind][1], poolclass=NullPool, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        quoted = f'"{name}"' if kind == "postgresql" else f"`{name}`"
        conn.exec_driver_sql(
            f"DROP DATABASE IF EXISTS {quoted}" + (" WITH (FORCE)" if kind == "postgresql" else "")
        )
    engine.dispose()


def _fill(engine: Any, count: int, revoked_at: int, not_after: int, spread: int = 0) -> None:
    """``count`` revocations at ``revoked_at`` (or spread over the ``spread`` seconds before it)."""
    from stepca.db import schema

    rows = [
        {
            "serial": str(random.getrandbits(128) or 1),
            "kind": "x509",
            "reason_code": (0, 1, 4)[i % 3],
            "reason": "",
            "revoked_at": revoked_at - random.randint(0, spread),
            "provisioner": "bench",
            "token_id": "",
            "mtls": False,
            "not_after": not_after,
            "invalidity_date": 0,
        }
        for i in range(count)
    ]
    with engine.begin() as conn:
        for i in range(0, len(rows), 20000):
            conn.execute(schema.revocations.insert(), rows[i : i + 20000])


def _age(engine: Any, now: int) -> None:
    """Make earlier runs history: their revocations an hour old, their complete CRLs expired
    (a delta's base is the oldest complete CRL still valid)."""
    from sqlalchemy import update

    from stepca.db import schema

    with engine.begin() as conn:
        t = schema.revocations
        conn.execute(update(t).where(t.c.revoked_at > now - 3600).values(revoked_at=now - 3600))
        conn.execute(update(schema.crls).where(schema.crls.c.kind == "base").values(next_update=0))


def _issuer() -> tuple[Any, Any]:
    from stepca.crypto.keys import generate_private_key
    from stepca.crypto.x509build import build_ca_certificate, ca_name

    key = generate_private_key("EC", "P-256", None)
    name = ca_name("Bench", "Bench Intermediate CA")
    cert = build_ca_certificate(
        subject=name, public_key=key.public_key(), issuer=name, issuer_key=key, path_length=0
    )
    return cert, key


class Timed:
    """Wraps the store's calls the publisher makes, to split a run into its parts."""

    def __init__(self, store: Any) -> None:
        self._store = store
        self.parts: dict[str, float] = {}

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._store, name)
        if not callable(attr) or name.startswith("_"):
            return attr

        async def call(*args: Any, **kwargs: Any) -> Any:
            t = time.perf_counter()
            try:
                return await attr(*args, **kwargs)
            finally:
                self.parts[name] = self.parts.get(name, 0.0) + time.perf_counter() - t

        return call


async def run(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    from stepca.config import parse_ca_config
    from stepca.db.batch import AsyncStore
    from stepca.db.sql import SQLStore
    from stepca.revocation.crl import EntryCache, crl_settings
    from stepca.revocation.publisher import RevocationPublisher

    engine, dbname = _engine(args.db, workdir)
    try:
        sql = SQLStore(engine)
        sql.migrate()
        now = int(time.time())
        t = time.perf_counter()
        _fill(engine, args.revocations, now - 3600, now + 30 * 86400, spread=30 * 86400)
        fill = time.perf_counter() - t
        cert, key = _issuer()
        cfg = parse_ca_config(
            {
                "root": "r",
                "crt": "c",
                "key": "k",
                "address": ":443",
                "dnsNames": ["ca.example.com"],
                "crl": {"enabled": True},
            }
        )
        settings = crl_settings(cfg, cert, key)
        store = AsyncStore(sql, readers=4)
        timed = Timed(store)
        publisher = RevocationPublisher(timed)  # type: ignore[arg-type]
        publisher.configure(settings, None)
        cold: list[float] = []
        seeded: list[float] = []
        warm: list[float] = []
        delta: list[float] = []
        breakdown: list[dict[str, float]] = []
        sizes: dict[str, int] = {}
        for i in range(args.repeat):
            _age(engine, now)  # each run's delta covers exactly its --new revocations
            publisher._entries = EntryCache()  # the cluster's first CRL: every line made
            publisher._docs.clear()
            timed.parts = {}
            t = time.perf_counter()
            await publisher._build_base()
            cold.append(time.perf_counter() - t)
            parts = dict(timed.parts)
            parts["build and sign"] = cold[-1] - sum(parts.values())
            breakdown.append(parts)
            publisher._entries = EntryCache()  # a new worker: lines from the published CRL
            t = time.perf_counter()
            await publisher._build_base()
            seeded.append(time.perf_counter() - t)
            t = time.perf_counter()
            await publisher._build_base()  # the same worker's next CRL
            warm.append(time.perf_counter() - t)
            sizes["complete"] = len(publisher._docs["base"].der)
            await asyncio.sleep(1.1)  # the new revocations come after the complete CRL
            _fill(engine, args.new, int(time.time()), now + 30 * 86400)
            t = time.perf_counter()
            await publisher._build_delta()
            delta.append(time.perf_counter() - t)
            sizes["delta"] = len(publisher._docs["delta"].der)
            print(
                f"run {i + 1}: complete cold {cold[-1]:.3f}s, new worker {seeded[-1]:.3f}s, "
                f"warm {warm[-1]:.3f}s; delta {delta[-1] * 1000:.1f}ms",
                flush=True,
            )
        store.close()
        median_run = breakdown[cold.index(sorted(cold)[len(cold) // 2])]
        return {
            "fill": fill,
            "cold": cold,
            "seeded": seeded,
            "warm": warm,
            "delta": delta,
            "breakdown": median_run,
            "sizes": sizes,
        }
    finally:
        engine.dispose()
        _drop(args.db, dbname)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--revocations", type=int, default=100_000)
    parser.add_argument("--new", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--db", choices=("sqlite", "postgresql", "mysql"), default="sqlite")
    args = parser.parse_args()
    info = machine()
    with tempfile.TemporaryDirectory(prefix="crl-bench-") as tmp:
        result = asyncio.run(run(args, Path(tmp)))
    print()
    print_machine(info)
    print(
        f"database: {args.db}, {args.revocations} revocations (filled in {result['fill']:.1f}s), +{args.new} new"
    )

    def fig(xs: list[float], unit: float = 1.0, fmt: str = "{:.3f}") -> str:
        return f"median {fmt.format(statistics.median(xs) * unit)}, worst {fmt.format(max(xs) * unit)}"

    print()
    print("| what | time | size |")
    print("|---|---|---|")
    print(
        f"| complete CRL, {args.revocations} entries, cold | {fig(result['cold'])} s | {result['sizes']['complete']:,} bytes |"
    )
    print(f"| complete CRL, {args.revocations} entries, new worker | {fig(result['seeded'])} s | |")
    print(f"| complete CRL, {args.revocations} entries, warm | {fig(result['warm'])} s | |")
    print(
        f"| delta CRL, {args.new} new revocations | {fig(result['delta'], 1000, '{:.1f}')} ms | {result['sizes']['delta']:,} bytes |"
    )
    parts = ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in result["breakdown"].items())
    print(f"\nmedian cold run: {parts}")


if __name__ == "__main__":
    main()
