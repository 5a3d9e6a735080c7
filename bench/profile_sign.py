"""Where the CPU goes per request: py-spy samples every thread of one step-ca worker while wrk
drives POST /1.0/sign, and prints the functions by own time and by total time.

    .venv/bin/pip install py-spy
    .venv/bin/python bench/profile_sign.py [--duration 15] [--connections 32] [--top 40] [--endpoint sign]

One worker (so the whole load goes through the sampled process; wrk and the rest of the box use
the other core), SQLite, pre-made one-time tokens. Sampling is statistical and costs the worker
a few percent: read the shares, not the rate.
"""

from __future__ import annotations

import argparse
import collections
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import Bodies, init_pki, need_wrk, run_wrk, start_ca


def summarize(raw: Path, top: int) -> None:
    own: collections.Counter[str] = collections.Counter()
    total: collections.Counter[str] = collections.Counter()
    threads: collections.Counter[str] = collections.Counter()
    samples = 0
    for line in raw.read_text().splitlines():
        stack, _, count_s = line.rpartition(" ")
        if not count_s.isdigit():
            continue
        count = int(count_s)
        frames = stack.split(";")
        samples += count
        threads[frames[0]] += count
        own[frames[-1]] += count
        for frame in set(frames[1:]):
            total[frame] += count
    if not samples:
        print("no samples", file=sys.stderr)
        return
    print(f"{samples} samples")
    print("\nby thread:")
    for name, n in threads.most_common(8):
        print(f"  {100 * n / samples:5.1f}%  {name}")
    print(f"\nown time (top {top}):")
    for name, n in own.most_common(top):
        print(f"  {100 * n / samples:5.1f}%  {name}")
    print(f"\ntotal time (top {top}):")
    for name, n in total.most_common(top):
        print(f"  {100 * n / samples:5.1f}%  {name}")


def summarize_perf(data: Path, top: int) -> None:
    """Shares of the sampled CPU by shared object (libpython, libcrypto, libssl, uvloop,
    the kernel...) and by symbol, from ``perf report``."""
    for sort in ("dso", "dso,sym"):
        out = subprocess.run(
            ["perf", "report", "-i", str(data), "--no-children", "--sort", sort, "--stdio",
             "--percent-limit", "0.3"],
            check=True, capture_output=True, text=True,
        ).stdout  # fmt: skip
        lines = [ln for ln in out.splitlines() if ln.strip() and not ln.startswith("#")]
        print(f"\nby {sort}:")
        for line in lines[:top]:
            print("  " + line.strip())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=int, default=15)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--top", type=int, default=40)
    ap.add_argument("--endpoint", default="sign", choices=["sign", "ssh"])
    ap.add_argument("--rate", type=int, default=120, help="samples per second")
    ap.add_argument("--keep", help="also write the collapsed stacks (or perf.data) to this file")
    ap.add_argument(
        "--perf",
        action="store_true",
        help="native profile instead: perf record on the worker, shares by library and by symbol",
    )
    ap.add_argument("--workers", type=int, default=1, help="worker processes (all are sampled with --perf)")
    args = ap.parse_args()
    need_wrk()
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if args.perf:
        if not shutil.which("perf"):
            raise SystemExit("perf is not installed (apt-get install linux-perf)")
    elif not Path(spy).exists():
        raise SystemExit("py-spy is not installed (.venv/bin/pip install py-spy)")
    tmp = Path(tempfile.mkdtemp(prefix="stepca-profile-"))
    try:
        pki = init_pki(tmp, ssh=args.endpoint == "ssh")
        ca = start_ca("profile", pki, pki.ca_json, workers=args.workers, log_dir=tmp)
        try:
            bodies = tmp / "bodies.jsonl"
            Bodies(pki, ca.url).write(args.endpoint, 2500 * (args.duration + 8), bodies)
            run_wrk(ca.url, args.endpoint, bodies, connections=args.connections, duration=3)  # warm-up
            Bodies(pki, ca.url).write(args.endpoint, 2500 * (args.duration + 8), bodies)
            workers = ca.worker_pids()
            raw = tmp / ("perf.data" if args.perf else "stacks.txt")
            result: dict[str, object] = {}

            def load() -> None:
                result.update(
                    run_wrk(
                        ca.url,
                        args.endpoint,
                        bodies,
                        connections=args.connections,
                        duration=args.duration + 2,
                    )
                )

            t = threading.Thread(target=load)
            t.start()
            time.sleep(1)
            if args.perf:
                subprocess.run(
                    ["perf", "record", "-F", str(args.rate * 8), "-o", str(raw),
                     "-p", ",".join(map(str, workers)), "--", "sleep", str(args.duration)],
                    check=True, capture_output=True,
                )  # fmt: skip
            else:
                subprocess.run(
                    [spy, "record", "--pid", str(workers[0]), "--duration", str(args.duration),
                     "--rate", str(args.rate), "--format", "raw", "--threads", "--nonblocking",
                     "--output", str(raw)],
                    check=True, capture_output=True,
                )  # fmt: skip
            t.join()
            print(f"load: {result.get('certs_per_s', 0)} certs/s with the profiler attached")
            if args.perf:
                summarize_perf(raw, args.top)
            else:
                summarize(raw, args.top)
            if args.keep:
                shutil.copy(raw, args.keep)
        finally:
            ca.stop()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
