"""Benchmark: POST /1.0/sign over HTTPS keep-alive, pre-made one-time tokens, wrk.

    python bench/sign_bench.py [--connections 32] [--duration 20] [--threads 2] [--db sqlite|URL]

Creates a throw-away PKI, starts a real step-ca (all cores), makes enough tokens for the run,
drives it with wrk + bench/sign_wrk.lua, prints certs/s and latency percentiles. Records the
figures in docs/benchmarks.md by hand.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import Bodies, init_pki, need_wrk, run_wrk, start_ca


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--duration", type=int, default=20)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--workers", type=int, default=0, help="step-ca workers (default: one per core)")
    ap.add_argument("--rate-guess", type=int, default=4000, help="tokens per second to prepare for")
    ap.add_argument("--db", default="sqlite", help="sqlite, or a ca.json db block as JSON")
    args = ap.parse_args()
    need_wrk()
    tmp = Path(tempfile.mkdtemp(prefix="stepca-bench-"))
    try:
        pki = init_pki(tmp)
        if args.db != "sqlite":
            cfg = pki.config()
            cfg["db"] = json.loads(args.db)
            pki.ca_json.write_text(json.dumps(cfg, indent=2))
        ca = start_ca("bench", pki, pki.ca_json, workers=args.workers, log_dir=tmp)
        try:
            bodies = tmp / "bodies.jsonl"
            count = args.rate_guess * (args.duration + 5)
            t0 = time.time()
            Bodies(pki, ca.url).write("sign", count, bodies)
            print(f"prepared {count} tokens in {time.time() - t0:.1f}s", file=sys.stderr)
            res = run_wrk(
                ca.url,
                "sign",
                bodies,
                threads=args.threads,
                connections=args.connections,
                duration=args.duration,
            )
            print(
                json.dumps(
                    {
                        **res,
                        "connections": args.connections,
                        "duration_s": args.duration,
                        "cores": os.cpu_count(),
                    }
                )
            )
        finally:
            ca.stop()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
