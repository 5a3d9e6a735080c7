"""Soak: N certificates signed in one run; does a worker's memory grow, does anything fail?

    .venv/bin/python bench/soak.py [--signs 1000000] [--chunk 50000] [--warmup 50000]
                                   [--connections 32] [--threads 2] [--workers 0] [--json FILE]

A throw-away PKI and one step-ca (one worker per core, embedded SQLite). Tokens are made in
chunks by a helper process one or two chunks ahead of the load, so memory stays bounded whatever
N is; wrk (bench/soak_wrk.lua) sends each chunk's bodies exactly once over keep-alive
connections, then the next chunk. Records each worker's RSS (VmRSS in /proc/PID/status of the
step-ca parent's children) after the warm-up signs and after every chunk, counts every answer
that is not 201 and every socket error, checks the workers are the same processes at the end
and that the database holds one row per 201, and prints the RSS growth after warm-up.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from benchlib import (  # noqa: E402
    CA,
    Bodies,
    Pki,
    free_port,
    init_pki,
    machine,
    need_wrk,
    print_machine,
    sqlite_db,
    start_ca,
)

SOAK_WRK = HERE / "soak_wrk.lua"


def rss_kib(pid: int) -> int:
    m = re.search(r"^VmRSS:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text(), re.M)
    return int(m.group(1)) if m else 0


def rss_parts(pid: int) -> dict[str, int]:
    """VmRSS split (KiB): anonymous memory (heaps), file pages, shared memory (SQLite's -shm
    WAL index is a shared file mapping): which one grows says what holds the memory."""
    text = Path(f"/proc/{pid}/status").read_text()
    return {
        k: int(m.group(1))
        for k in ("RssAnon", "RssFile", "RssShmem")
        if (m := re.search(rf"^{k}:\s+(\d+) kB", text, re.M))
    }


def produce(pki_dir: str, password_file: str, sizes: list[int], out_dir: str, queue: Any) -> None:
    """Helper process: one bodies file per chunk, handed over through a bounded queue."""
    bodies = Bodies(Pki(Path(pki_dir), Path(password_file)))
    for i, size in enumerate(sizes):
        path = Path(out_dir) / f"chunk-{i}.jsonl"
        bodies.write("sign", size, path)
        queue.put(str(path))
    queue.put(None)


def chunk_sizes(total: int, chunk: int, warmup: int) -> list[int]:
    """Chunks of at most ``chunk`` tokens; the warm-up ends on a chunk boundary."""
    sizes: list[int] = []
    for part in (warmup, total - warmup):
        while part > 0:
            sizes.append(min(part, chunk))
            part -= sizes[-1]
    return sizes


def run_chunk(ca: CA, bodies: Path, threads: int, connections: int) -> dict[str, int]:
    """One wrk run over ``bodies``; its threads stop when their slice is answered, then wrk
    (whose main thread would sleep for all of -d) gets SIGINT and prints its summary."""
    proc = subprocess.Popen(
        ["wrk", f"-t{threads}", f"-c{connections}", "-d3600s", "--latency", "-s", str(SOAK_WRK), ca.url,
         "--", str(bodies), str(threads)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    lines, finished = [], 0
    for line in proc.stdout:
        lines.append(line)
        if line.startswith("THREAD_DONE"):
            finished += 1
            if finished == threads:
                proc.send_signal(signal.SIGINT)
    proc.wait(timeout=60)
    out = "".join(lines)
    m = re.search(r"SOAK (.*)", out)
    if proc.returncode != 0 or not m:
        raise SystemExit(f"wrk failed ({proc.returncode}): {out.strip()[-2000:]}")
    return {k: int(v) for k, v in (kv.split("=") for kv in m.group(1).split())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--signs", "-n", type=int, default=1_000_000)
    ap.add_argument("--chunk", type=int, default=50_000, help="tokens made and sent per wrk run")
    ap.add_argument("--warmup", type=int, default=50_000, help="signs before the first RSS reading")
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--workers", type=int, default=0, help="step-ca workers (default: one per core)")
    ap.add_argument("--json", type=Path, help="also write the figures (RSS after each chunk) here")
    args = ap.parse_args()
    if args.signs < 1 or args.chunk < args.threads or not 0 <= args.warmup < args.signs:
        raise SystemExit("need --signs >= 1, --chunk >= --threads and 0 <= --warmup < --signs")
    need_wrk()
    info = machine()
    print_machine(info)
    tmp = Path(tempfile.mkdtemp(prefix="stepca-soak-"))
    producer: Any = None
    try:
        pki = init_pki(tmp / "pki")
        (tmp / "db").mkdir()
        db_file = tmp / "db" / "stepca.db"
        ca = start_ca("soak", pki, pki.config_copy(tmp / "ca.json", port=free_port(), db=sqlite_db(db_file)),
                      workers=args.workers, log_dir=tmp)  # fmt: skip
        try:
            workers = ca.worker_pids()
            print(f"step-ca workers {workers}, RSS at start (KiB): {[rss_kib(p) for p in workers]}")
            sizes = chunk_sizes(args.signs, args.chunk, args.warmup)
            queue: Any = multiprocessing.get_context("fork").Queue(maxsize=1)
            producer = multiprocessing.get_context("fork").Process(
                target=produce, args=(str(pki.step_path), str(pki.password_file), sizes, str(tmp), queue)
            )
            producer.start()
            totals = {"ok": 0, "bad": 0, "lost": 0, "connect": 0, "read": 0, "write": 0, "timeout": 0}
            series: list[dict[str, Any]] = []
            warm: dict[int, int] | None = None if args.warmup else {p: rss_kib(p) for p in workers}
            sent, t0 = 0, time.monotonic()
            while (path := queue.get(timeout=600)) is not None:
                res = run_chunk(ca, Path(path), args.threads, args.connections)
                Path(path).unlink()
                for k in totals:
                    totals[k] += res[k]
                sent += res["ok"] + res["bad"] + res["lost"]
                rss = {p: rss_kib(p) for p in workers if Path(f"/proc/{p}").exists()}
                parts = {p: rss_parts(p) for p in rss}
                series.append(
                    {"signs": sent, "rss_kib": rss, "rss_parts_kib": parts, "p99_ms": res["p99_us"] / 1000}
                )
                if warm is None and sent >= args.warmup:
                    warm = rss
                rate = sent / (time.monotonic() - t0)
                print(
                    f"  {sent:,}/{args.signs:,} signs ({rate:,.0f}/s overall), errors {totals['bad']} non-201, "
                    f"{totals['lost']} unanswered "
                    f"+ {totals['connect'] + totals['read'] + totals['write'] + totals['timeout']} socket, "
                    f"chunk p99 {res['p99_us'] / 1000:.1f} ms, RSS KiB {list(rss.values())} "
                    f"(anon/file/shmem {[tuple(v.values()) for v in parts.values()]})",
                    flush=True,
                )
            elapsed = time.monotonic() - t0
            end = {p: rss_kib(p) for p in workers if Path(f"/proc/{p}").exists()}
            restarted = ca.worker_pids() != workers
        finally:
            ca.stop()
        with sqlite3.connect(db_file) as conn:
            rows = conn.execute("SELECT count(*) FROM certificates").fetchone()[0]
        warm = warm or {}
        growth = {p: round(100 * (end[p] - warm[p]) / warm[p], 1) for p in end if warm.get(p)}
        total_growth = round(100 * (sum(end.values()) - sum(warm.values())) / max(sum(warm.values()), 1), 1)
        socket_errors = totals["connect"] + totals["read"] + totals["write"] + totals["timeout"]
        result = {
            "signs": sent,
            "ok_201": totals["ok"],
            "non_201": totals["bad"],
            "unanswered": totals["lost"],
            "socket_errors": socket_errors,
            "certificates_in_db": rows,
            "seconds": round(elapsed, 1),
            "signs_per_s": round(sent / elapsed, 1),
            "workers_restarted": restarted,
            "rss_after_warmup_kib": warm,
            "rss_end_kib": end,
            "rss_growth_pct": growth,
            "rss_growth_pct_total": total_growth,
        }
        print(json.dumps(result))
        print(
            f"RSS growth after {args.warmup:,} warm-up signs: {', '.join(f'worker {p} {g:+.1f} %' for p, g in growth.items())} "
            f"(all workers {total_growth:+.1f} %); {totals['bad']} non-201, {totals['lost']} unanswered, "
            f"{socket_errors} socket errors, "
            f"{rows:,} certificates recorded for {totals['ok']:,} answers 201"
            + ("; A WORKER WAS RESTARTED" if restarted else "")
        )
        if args.json:
            args.json.write_text(json.dumps({**result, "machine": info, "series": series}, indent=2))
    finally:
        if producer is not None and producer.is_alive():
            producer.terminate()
            producer.join(10)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
