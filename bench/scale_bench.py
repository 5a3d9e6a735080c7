"""Does a CA with a big database answer as fast as a new one? Interleaved runs, empty vs prefilled.

    .venv/bin/python bench/scale_bench.py [--db sqlite|postgresql] [--certificates 1000000]
                                          [--revocations 100000] [--prefilled FILE]
                                          [--prefilled-database NAME]
                                          [--pairs 5] [--duration 15] [--endpoint sign] [--json FILE]

One throw-away PKI and two step-ca processes with the same configuration but their database:
``empty`` starts on a new one, ``prefilled`` on one holding N certificates and M revocations
(bench/prefill.py; or a copy of the SQLite file ``--prefilled FILE``, for big sizes made once).
Prints each CA's start-up time (spawn to the first healthy /health), then interleaved pairs of
the same wrk load as bench/compare.py, each pair's figures and the median ratios
prefilled/empty of throughput and p99, with the CPU model and ``openssl speed``.
PostgreSQL: two fresh databases on the local server, dropped at the end.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from benchlib import (  # noqa: E402
    ENDPOINTS,
    Load,
    drop_database,
    free_port,
    init_pki,
    machine,
    markdown_table,
    need_wrk,
    print_machine,
    run_pairs,
    running,
    server_database,
    sqlite_db,
    start_ca,
    summarize,
)
from prefill import Target, prefill  # noqa: E402

A, B = "empty", "prefilled"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    ap.add_argument("--certificates", "-n", type=int, default=1_000_000)
    ap.add_argument("--revocations", "-m", type=int, default=100_000)
    ap.add_argument("--prefilled", type=Path, help="an SQLite file made by bench/prefill.py, copied (sqlite)")
    ap.add_argument(
        "--prefilled-database",
        help="a PostgreSQL database filled by bench/prefill.py, copied (CREATE DATABASE ... TEMPLATE) and left as is",
    )
    ap.add_argument("--endpoint", choices=sorted(ENDPOINTS), default="sign")
    ap.add_argument("--pairs", type=int, default=5)
    ap.add_argument("--duration", type=int, default=15)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--workers", type=int, default=0, help="step-ca workers per CA (default: one per core)")
    ap.add_argument("--rate-guess", type=float, default=3000)
    ap.add_argument("--json", type=Path, help="also write every figure to this JSON file")
    args = ap.parse_args()
    if args.prefilled and (args.db != "sqlite" or not args.prefilled.is_file()):
        raise SystemExit("--prefilled needs --db sqlite and an existing SQLite file")
    if args.prefilled_database and args.db != "postgresql":
        raise SystemExit("--prefilled-database needs --db postgresql")
    if args.pairs < 1 or args.duration < 1:
        raise SystemExit("--pairs and --duration must be at least 1")
    need_wrk()
    info = machine()
    print_machine(info)
    tmp = Path(tempfile.mkdtemp(prefix="stepca-scale-"))
    dropped: list[str] = []
    try:
        pki = init_pki(tmp / "pki", ssh=args.endpoint == "ssh")
        provisioner = pki.config()["authority"]["provisioners"][0]["name"]
        blocks: dict[str, dict[str, Any]] = {}
        if args.db == "sqlite":
            for label in (A, B):
                (tmp / f"db-{label}").mkdir()
                blocks[label] = sqlite_db(tmp / f"db-{label}" / "stepca.db")
            b_file = Path(blocks[B]["dataSource"])
            if args.prefilled:
                for suffix in ("", "-wal", "-shm"):
                    src = Path(f"{args.prefilled}{suffix}")
                    if src.exists():
                        shutil.copyfile(src, f"{b_file}{suffix}")
                fill: dict[str, Any] = {"copied_from": str(args.prefilled)}
            else:
                from sqlalchemy.engine import make_url

                fill = prefill(
                    Target(make_url(f"sqlite:///{b_file}"), "sqlite", provisioner),
                    args.certificates,
                    args.revocations,
                )
        else:
            urls = {}
            for label in (A, B):
                name = f"stepca_scale_{label}_{uuid.uuid4().hex[:8]}"
                template = args.prefilled_database if label == B else None
                blocks[label], urls[label] = server_database("postgresql", name, template=template)
                dropped.append(name)
            from sqlalchemy.engine import make_url

            if args.prefilled_database:
                fill = {"copied_from": args.prefilled_database}
            else:
                fill = prefill(
                    Target(make_url(urls[B]), "postgresql", provisioner), args.certificates, args.revocations
                )
        print(f"prefilled: {json.dumps(fill)}")
        cas = [
            start_ca(
                label,
                pki,
                pki.config_copy(tmp / f"ca-{label}.json", port=free_port(), db=blocks[label]),
                workers=args.workers,
                log_dir=tmp,
            )
            for label in (A, B)
        ]
        with running(cas):
            startup = {ca.label: round(ca.startup_s, 2) for ca in cas}
            print(f"start-up (spawn to healthy): {A} {startup[A]:.2f}s, {B} {startup[B]:.2f}s")
            load = Load(
                args.endpoint, args.duration, args.connections, args.threads, args.warmup, args.rate_guess
            )
            print(
                f"{ENDPOINTS[args.endpoint]}: {args.pairs} pairs x {args.duration}s, {args.connections} connections"
            )
            results = run_pairs((cas[0], cas[1]), load, pki, args.pairs, tmp)
        summary = summarize(results, A, B)
        lo, hi = summary["throughput_ratio_range"]
        plo, phi = summary["p99_ratio_range"]
        print(
            f"{ENDPOINTS[args.endpoint]}: median {B}/{A} throughput {summary['throughput_ratio_median']:.3f} "
            f"({lo:.3f}-{hi:.3f}), p99 {summary['p99_ratio_median']:.3f} ({plo:.3f}-{phi:.3f})"
        )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        for name in dropped:
            drop_database("postgresql", name)
    rows = f"{args.certificates:,} certificates + {args.revocations:,} revocations"
    print("\n--- markdown (docs/benchmarks.md) ---")
    print(
        f"{args.db}, {rows if not args.prefilled else args.prefilled.name}; {info['cpu']}, {info['cores']} cores; "
        f"`openssl speed -seconds 1 ecdsap256`: {info['openssl_speed_ecdsap256']}; start-up {A} {startup[A]:.2f} s, "
        f"{B} {startup[B]:.2f} s; {args.pairs} interleaved pairs x {args.duration} s, {args.connections} connections.\n"
    )
    print(markdown_table({ENDPOINTS[args.endpoint]: (results, summary)}, A, B))
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "db": args.db,
                    "prefill": fill,
                    "startup_s": startup,
                    "machine": info,
                    "pairs": results,
                    "summary": summary,
                },
                indent=2,
            )
        )


if __name__ == "__main__":
    main()
