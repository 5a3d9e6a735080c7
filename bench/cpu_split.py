"""CPU per certificate, split by thread: each worker's event loop, its other threads (the
database writer, readers) and wrk, under the wrk load of bench/sign_bench.py.

    .venv/bin/python bench/cpu_split.py [--endpoint sign|renew|ssh] [--workers N] [--duration 10] [--bin-dir DIR]

Reads /proc/<pid>/task/*/stat before and after one run (utime + stime, all threads of every
worker) and wrk's own CPU time; also the voluntary + involuntary context switches per
certificate of each thread that made more than a few. On a box whose cores the load saturates,
throughput is 2 cores / (the sum of these per certificate), so this is where a change shows
whether it moved CPU or only latency. Throughput figures from one run drift with the machine:
compare builds with bench/compare.py.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import (
    ENDPOINTS,
    Bodies,
    client_certificate,
    cpu_times,
    free_port,
    init_pki,
    machine_shares,
    need_wrk,
    run_wrk,
    sqlite_db,
    start_ca,
)

TICK = os.sysconf("SC_CLK_TCK")


def snapshot(pids: list[int]) -> dict[tuple[int, int], tuple[int, int]]:
    """(pid, tid) -> (CPU ticks, context switches)."""
    out = {}
    for pid in pids:
        for tid in os.listdir(f"/proc/{pid}/task"):
            try:
                stat = Path(f"/proc/{pid}/task/{tid}/stat").read_text()
                status = Path(f"/proc/{pid}/task/{tid}/status").read_text()
            except OSError:
                continue
            fields = stat[stat.rindex(")") + 2 :].split()
            switches = sum(int(line.split()[1]) for line in status.splitlines() if "ctxt_switches" in line)
            out[(pid, int(tid))] = (int(fields[11]) + int(fields[12]), switches)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--endpoint", default="sign", choices=["sign", "renew", "ssh"])
    ap.add_argument("--workers", type=int, default=0, help="default: one per core")
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument(
        "--bin-dir",
        type=Path,
        default=None,
        help="another build's venv bin (e.g. bench/.cache/venv-<sha>/bin)",
    )
    args = ap.parse_args()
    need_wrk()
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        pki = init_pki(base, ssh=args.endpoint == "ssh")
        cfg = pki.config_copy(base / "ca.json", port=free_port(), db=sqlite_db(base / "db"))
        extra = {"bin_dir": args.bin_dir} if args.bin_dir else {}
        ca = start_ca("split", pki, cfg, workers=args.workers, log_dir=base, **extra)
        path = ENDPOINTS[args.endpoint]
        try:
            bodies = Bodies(pki)
            # renew: mTLS with a certificate this CA issued, nothing used up (no bodies)
            env = client_certificate(ca, pki, bodies, base) if args.endpoint == "renew" else {}

            def load_file(name: str, count: int) -> Path | None:
                return None if args.endpoint == "renew" else bodies.write(args.endpoint, count, base / name)

            warm = load_file("warm", 3000 * 3)
            run_wrk(ca.url + path, args.endpoint, warm, duration=3, connections=args.connections, env=env)
            load = load_file("load", 3500 * args.duration)
            pids = ca.worker_pids()
            before, wrk_before, machine_before = snapshot(pids), os.times(), cpu_times()
            result = run_wrk(ca.url + path, args.endpoint, load, duration=args.duration,
                             connections=args.connections, env=env)  # fmt: skip
            after, wrk_after, machine_after = snapshot(pids), os.times(), cpu_times()
        finally:
            ca.stop()
    n = result["requests"]
    split = {"workers' event loops": 0, "workers' other threads (the database writer)": 0}
    switches = []
    for (pid, tid), (ticks, ctx) in after.items():
        ticks0, ctx0 = before.get((pid, tid), (0, 0))
        where = "workers' event loops" if pid == tid else "workers' other threads (the database writer)"
        split[where] += ticks - ticks0
        if ctx - ctx0 > n // 100:
            switches.append((pid, tid, (ctx - ctx0) / n))
    wrk = (wrk_after.children_user + wrk_after.children_system) - (
        wrk_before.children_user + wrk_before.children_system
    )
    print(f"{path}: {result['certs_per_s']:,.0f} certs/s, p50 {result['p50_ms']} ms, p99 {result['p99_ms']} ms, "
          f"{len(pids)} workers, {n} requests")  # fmt: skip
    idle, steal = machine_shares(machine_before, machine_after)
    print(f"machine: idle {idle} %, steal {steal} % (time the hypervisor gave to another guest)")
    print("| where | CPU per certificate |")
    print("|---|---|")
    for name, ticks in split.items():
        print(f"| {name} | {1e6 * ticks / TICK / n:.0f} µs |")
    print(f"| wrk | {1e6 * wrk / n:.0f} µs |")
    for pid, tid, per in sorted(switches):
        kind = "event loop" if pid == tid else "thread"
        print(f"context switches: worker {pid} {kind} {tid}: {per:.2f} per certificate")


if __name__ == "__main__":
    main()
