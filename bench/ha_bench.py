"""Benchmark: POST /1.0/sign throughput of N step-ca instances sharing one database.

    python bench/ha_bench.py --db postgresql|mysql|sqlite [--instances 2] [--workers 1]
                             [--connections 32] [--duration 20] [--threads 2]

Creates a throw-away PKI and a fresh database (dropped afterwards; PostgreSQL and MariaDB on
127.0.0.1 as in GUIDE.md), starts N instances whose ca.json differ only in their address, and
drives each with its own wrk (bench/sign_wrk.lua) and its own slice of pre-made tokens, all at
the same time. Tokens carry the audience https://localhost/1.0/sign, which every instance
accepts. Prints one JSON line: the sum of certificates per second and each instance's figures.
With --instances 1 it measures the same thing as bench/sign_bench.py.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
sys.path.insert(0, str(HERE))

from benchlib import DB_SERVERS, drop_database, free_port, make_bodies, parse_wrk, wait_health  # noqa: E402

PASSWORD = "bench-password"


def db_block(kind: str, tmp: Path) -> tuple[dict[str, str], str | None]:
    """The ca.json db block, and the database name to drop afterwards."""
    if kind == "sqlite":
        return {"type": "sqlite", "dataSource": str(tmp / "db" / "stepca.db")}, None
    name = f"stepca_bench_{uuid.uuid4().hex[:8]}"
    return {"type": kind, "dataSource": DB_SERVERS[kind][0], "database": name}, name


def split(path: Path, parts: int) -> list[Path]:
    lines = path.read_text().splitlines(keepends=True)
    outs = []
    for i in range(parts):
        p = path.with_suffix(f".{i}.jsonl")
        p.write_text("".join(lines[i::parts]))
        outs.append(p)
    return outs


DB_PROCESSES = ("postgres", "mariadbd", "mysqld")


def _proc_cpu() -> dict[int, tuple[str, int, float]]:
    """pid -> (command, process group, CPU seconds) for every process."""
    tick = os.sysconf("SC_CLK_TCK")
    out = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            raw = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        comm = raw[raw.index("(") + 1 : raw.rindex(")")]
        fields = raw[raw.rindex(")") + 2 :].split()
        out[int(entry)] = (comm, int(fields[2]), (int(fields[11]) + int(fields[12])) / tick)
    return out


def _busy_seconds() -> float:
    cpu = Path("/proc/stat").read_text().split("\n")[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in cpu[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


class CpuWatch:
    """Where the machine's CPU went during the run: the CAs, wrk, the database servers, and
    everything else ("other": other users of the box - the figures are noisy when it is high)."""

    def __init__(self, ca_groups: list[int]) -> None:
        self.groups = set(ca_groups)
        self.t0, self.busy0, self.procs0 = time.monotonic(), _busy_seconds(), _proc_cpu()
        self.children0 = _children_cpu()

    def stop(self) -> dict[str, float]:
        elapsed, busy, procs = time.monotonic() - self.t0, _busy_seconds() - self.busy0, _proc_cpu()

        def spent(pred: Callable[[str, int], bool]) -> float:
            total = 0.0
            for pid, (comm, pgid, secs) in procs.items():
                if pred(comm, pgid):
                    total += secs - (self.procs0[pid][2] if pid in self.procs0 else 0.0)
            return total

        ca = spent(lambda comm, pgid: pgid in self.groups)
        db = spent(lambda comm, pgid: comm in DB_PROCESSES)
        wrk = _children_cpu() - self.children0
        mine = spent(lambda comm, pgid: pgid == os.getpgrp())
        return {
            "ca_cpu_s": round(ca, 1),
            "db_cpu_s": round(db, 1),
            "wrk_cpu_s": round(wrk, 1),
            "other_cpu_s": round(max(0.0, busy - ca - db - wrk - mine), 1),
            "idle_cpu_s": round(max(0.0, (os.cpu_count() or 1) * elapsed - busy), 1),
        }


def _children_cpu() -> float:
    import resource

    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--db", choices=["sqlite", "postgresql", "mysql"], default="postgresql")
    ap.add_argument("--instances", type=int, default=2)
    ap.add_argument(
        "--workers", type=int, default=0, help="workers per instance (default: cores / instances)"
    )
    ap.add_argument("--connections", type=int, default=32, help="in total, split over the instances")
    ap.add_argument("--duration", type=int, default=20)
    ap.add_argument("--threads", type=int, default=2, help="wrk threads in total")
    ap.add_argument(
        "--rate-guess", type=int, default=2500, help="certificates per second to prepare tokens for"
    )
    args = ap.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is not installed (apt-get install wrk)")
    n = args.instances
    workers = args.workers or max(1, (os.cpu_count() or 1) // n)
    tmp = Path(tempfile.mkdtemp(prefix="stepca-habench-"))
    pw = tmp / "pw"
    pw.write_text(PASSWORD)
    base = tmp / "step"
    env = {**os.environ, "STEPPATH": str(base)}
    subprocess.run(
        [str(BIN / "step"), "ca", "init", "--name", "Bench", "--dns", "localhost", "--address",
         f"127.0.0.1:{free_port()}", "--provisioner", "bench@example.com", "--password-file", str(pw)],
        env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    load_before = [round(x, 2) for x in os.getloadavg()]
    block, dbname = db_block(args.db, tmp)
    procs: list[subprocess.Popen[bytes]] = []
    try:
        urls, logs = [], []
        for i in range(n):
            port = free_port()
            cfg = json.loads((base / "config" / "ca.json").read_text())
            cfg["address"], cfg["db"] = f"127.0.0.1:{port}", block
            ca_json = tmp / f"ca-{i}.json"
            ca_json.write_text(json.dumps(cfg, indent=2))
            log = (tmp / f"ca-{i}.log").open("w")
            logs.append(log)
            procs.append(
                subprocess.Popen(
                    [
                        str(BIN / "step-ca"),
                        str(ca_json),
                        "--password-file",
                        str(pw),
                        "--workers",
                        str(workers),
                    ],
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )
            urls.append(f"https://localhost:{port}")
        for url in urls:
            wait_health(url, base / "certs" / "root_ca.crt", timeout=60)
        bodies = tmp / "bodies.jsonl"
        count = args.rate_guess * (args.duration + 5)
        t0 = time.time()
        make_bodies(base / "config" / "ca.json", "https://localhost", count, bodies, PASSWORD)
        print(f"prepared {count} tokens in {time.time() - t0:.1f}s", file=sys.stderr)
        watch = CpuWatch([p.pid for p in procs])
        threads = max(1, args.threads // n)
        conns = max(threads, args.connections // n)
        wrks = [
            subprocess.Popen(
                [
                    "wrk",
                    f"-t{threads}",
                    f"-c{conns}",
                    f"-d{args.duration}s",
                    "--latency",
                    "-s",
                    str(HERE / "sign_wrk.lua"),
                    url,
                    "--",
                    str(part),
                    str(threads),
                ],
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            for url, part in zip(urls, split(bodies, n), strict=True)
        ]
        per_instance = [parse_wrk(w.communicate(timeout=args.duration + 120)[0]) for w in wrks]
        cpu = watch.stop()
        print(
            json.dumps(
                {
                    "db": args.db,
                    "instances": n,
                    "workers_per_instance": workers,
                    "certs_per_s": round(sum(r["certs_per_s"] for r in per_instance), 1),
                    "non_2xx": sum(r["non_2xx"] for r in per_instance),
                    "p99_ms_worst": max(r["p99_ms"] for r in per_instance),
                    "connections": conns * n,
                    "duration_s": args.duration,
                    "cores": os.cpu_count(),
                    "loadavg_before": load_before,
                    "cpu": cpu,
                    "per_instance": per_instance,
                }
            )
        )
    finally:
        for p in procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGTERM)
        for p in procs:
            p.wait(timeout=30)
        if dbname:
            drop_database(args.db, dbname)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
