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
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_health(url: str, root: Path, timeout: float = 30) -> None:
    import ssl
    import urllib.request

    ctx = ssl.create_default_context(cafile=str(root))
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/health", context=ctx, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise SystemExit("step-ca did not become healthy")


def make_bodies(ca_json: Path, ca_url: str, count: int, out: Path, password: str = "bench-password") -> None:
    """``count`` /1.0/sign bodies, one JSON per line: the same CSR, a fresh one-hour token each,
    signed by the first provisioner of ``ca_json`` (its encryptedKey opened with ``password``)."""
    from stepca.client.token import audience, jwk_token
    from stepca.crypto import jose
    from stepca.crypto.keys import generate_private_key
    from stepca.crypto.x509build import build_csr

    prov = json.loads(ca_json.read_text())["authority"]["provisioners"][0]
    key = jose.key_from_jwk(json.loads(jose.decrypt_with_password(prov["encryptedKey"], password.encode())))
    csr = build_csr("svc.example.com", ["svc.example.com"], generate_private_key()).decode()
    aud = audience(ca_url, "sign")
    with out.open("w") as fh:
        for _ in range(count):
            tok = jwk_token(
                subject="svc.example.com",
                issuer=prov["name"],
                kid=prov["key"]["kid"],
                key=key,  # type: ignore[arg-type]
                audience=aud,
                sans=["svc.example.com"],
                expires=int(time.time()) + 3600,
            )
            fh.write(json.dumps({"csr": csr, "ott": tok}) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--duration", type=int, default=20)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--workers", type=int, default=0, help="step-ca workers (default: one per core)")
    ap.add_argument("--rate-guess", type=int, default=4000, help="tokens per second to prepare for")
    ap.add_argument("--db", default="sqlite", help="sqlite, or a ca.json db block as JSON")
    args = ap.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is not installed (apt-get install wrk)")
    tmp = Path(tempfile.mkdtemp(prefix="stepca-bench-"))
    step_path = tmp / "step"
    pw = tmp / "pw"
    pw.write_text("bench-password")
    port = free_port()
    env = {**os.environ, "STEPPATH": str(step_path)}
    subprocess.run(
        [
            str(BIN / "step"),
            "ca",
            "init",
            "--name",
            "Bench",
            "--dns",
            "localhost",
            "--address",
            f"127.0.0.1:{port}",
            "--provisioner",
            "bench@example.com",
            "--password-file",
            str(pw),
        ],
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
    )
    if args.db != "sqlite":
        ca_json = step_path / "config" / "ca.json"
        cfg = json.loads(ca_json.read_text())
        cfg["db"] = json.loads(args.db)
        ca_json.write_text(json.dumps(cfg, indent=2))
    cmd = [str(BIN / "step-ca"), str(step_path / "config" / "ca.json"), "--password-file", str(pw)]
    if args.workers:
        cmd += ["--workers", str(args.workers)]
    log = (tmp / "ca.log").open("w")
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        ca_url = f"https://localhost:{port}"
        wait_health(ca_url, step_path / "certs" / "root_ca.crt")
        bodies = tmp / "bodies.jsonl"
        count = args.rate_guess * (args.duration + 5)
        t0 = time.time()
        make_bodies(step_path / "config" / "ca.json", ca_url, count, bodies)
        print(f"prepared {count} tokens in {time.time() - t0:.1f}s", file=sys.stderr)
        out = subprocess.run(
            [
                "wrk",
                f"-t{args.threads}",
                f"-c{args.connections}",
                f"-d{args.duration}s",
                "--latency",
                "-s",
                str(HERE / "sign_wrk.lua"),
                ca_url,
                "--",
                str(bodies),
                str(args.threads),
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        m = re.search(r"RESULT (.*)", out)
        if not m:
            print(out)
            raise SystemExit("wrk produced no RESULT line")
        res = dict(kv.split("=") for kv in m.group(1).split())
        secs = int(res["duration_us"]) / 1e6
        ok = int(res["requests"]) - int(res["errors_status"])
        errors = re.search(r"Socket errors: (.*)", out)
        print(
            json.dumps(
                {
                    "certs_per_s": round(ok / secs, 1),
                    "requests": int(res["requests"]),
                    "non_2xx": int(res["errors_status"]),
                    "socket_errors": errors.group(1) if errors else "none",
                    "p50_ms": int(res["p50_us"]) / 1000,
                    "p90_ms": int(res["p90_us"]) / 1000,
                    "p99_ms": int(res["p99_us"]) / 1000,
                    "max_ms": int(res["max_us"]) / 1000,
                    "connections": args.connections,
                    "duration_s": args.duration,
                    "cores": os.cpu_count(),
                }
            )
        )
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
        log.close()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
