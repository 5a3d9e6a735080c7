"""Time per page of the certificate inventory on a big database (issue 15: <= 50 ms per page of
100 on SQLite with 1,000,000 certificates).

    .venv/bin/python bench/inventory_bench.py [--certificates 1000000] [--revocations 100000]
                                              [--repeat 20] [--db FILE]

Fills an SQLite file with ``bench/prefill.py`` (one provisioner, not_after spread over the last
365 days and the next 30, a tenth revoked) plus 1,000 certificates of a second, rare provisioner,
then times ``stepca.db.queries.certificates.list_page`` (the query behind
``GET /admin/certificates``) for each filter: the first page, pages deep into the listing
(following cursors), a common and a rare provisioner, one subject, expiring within 24 h,
revoked, not revoked. Prints median and worst milliseconds per page.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import machine, print_machine

HERE = Path(__file__).resolve().parent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--certificates", "-n", type=int, default=1_000_000)
    ap.add_argument("--revocations", "-m", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--db", type=Path, help="an SQLite file filled before (skips the fill)")
    args = ap.parse_args()

    from stepca.db.engine import make_engine, resolve_target
    from stepca.db.queries.certificates import list_page
    from stepca.db.records import CertificateQuery
    from stepca.db.sql import SQLStore

    print_machine(machine())
    db = args.db or Path(tempfile.mkdtemp(prefix="inventory-bench-")) / "stepca.db"
    if args.db is None:
        t0 = time.monotonic()
        fill = [sys.executable, str(HERE / "prefill.py"), str(db)]
        subprocess.run([*fill, "-n", str(args.certificates), "-m", str(args.revocations)], check=True)
        subprocess.run([*fill, "-n", "1000", "-m", "0", "--provisioner", "rare@example.com"], check=True)
        print(f"filled in {time.monotonic() - t0:.0f} s")
    sql = SQLStore(make_engine(resolve_target(None, db)))
    sql.migrate()
    now = int(time.time())

    def run(q: CertificateQuery) -> tuple[float, list[object]]:
        t = time.perf_counter()
        rows = sql.run_query(lambda conn: list_page(conn, q))
        return (time.perf_counter() - t) * 1000, rows

    cases = {
        "first page (valid now)": CertificateQuery(not_after_from=now),
        "provisioner, common": CertificateQuery(provisioner="bench@example.com", not_after_from=now),
        "provisioner, rare (1,000 of them)": CertificateQuery(
            provisioner="rare@example.com", not_after_from=now
        ),
        "subject": CertificateQuery(subject="svc-000123.example.com"),
        "expiring within 24 h": CertificateQuery(not_after_from=now, not_after_to=now + 86400),
        "revoked (valid now)": CertificateQuery(revoked=True, not_after_from=now),
        "not revoked (valid now)": CertificateQuery(revoked=False, not_after_from=now),
        "all, expired included": CertificateQuery(),
    }
    print(
        f"\n{args.certificates:,} certificates, {args.revocations:,} revocations; page of 100, {args.repeat} runs each\n"
    )
    print("| query | median ms | worst ms | rows |")
    print("|---|---|---|---|")
    for name, q in cases.items():
        times = []
        rows: list[object] = []
        for _ in range(args.repeat):
            ms, rows = run(q)
            times.append(ms)
        print(f"| {name} | {statistics.median(times):.2f} | {max(times):.2f} | {len(rows)} |")
    # deep pages: follow the cursor 200 pages (20,000 rows) in, timing each page
    q = CertificateQuery(not_after_from=0)
    deep = []
    for _ in range(200):
        ms, rows = run(q)
        deep.append(ms)
        last = rows[-1]
        q = CertificateQuery(not_after_from=0, after=(last.not_after, last.serial))  # type: ignore[attr-defined]
    print(f"| pages 1-200 following cursors | {statistics.median(deep):.2f} | {max(deep):.2f} | 100 |")
    sql.close()


if __name__ == "__main__":
    main()
