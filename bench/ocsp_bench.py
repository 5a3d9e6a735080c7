"""OCSP responses per second for known serials (issue 13: >= 10,000/s, p99 <= 10 ms).

    .venv/bin/python bench/ocsp_bench.py [--certs 200] [--duration 10] [--connections 32]
                                         [--runs 3] [--https] [--signer delegated|intermediate]

Starts a real ``step-ca`` (one worker per core, SQLite) with ``ocsp.enabled`` and an
``insecureAddress``, issues ``--certs`` certificates through ``/1.0/sign``, writes one DER
OCSPRequest per certificate (SHA-1 CertID, no nonce: what browsers, stapling servers and
``openssl ocsp -no_nonce`` send), asks for each once, then lets wrk (2 threads, keep-alive, on
the same machine) POST them round-robin to ``http://.../ocsp`` (``--https``: the TLS address).
Prints the machine, then responses/s and latency for each run and the median. Every answer is a
200; a sample is parsed and must say ``good``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import Bodies, free_port, init_pki, machine, need_wrk, parse_wrk, print_machine, start_ca

OCSP_WRK = Path(__file__).resolve().parent / "ocsp_wrk.lua"


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (/proc/PID/stat, clock ticks)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--certs", type=int, default=200)
    ap.add_argument("--duration", type=float, default=10)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--https", action="store_true", help="load the HTTPS address instead of insecureAddress")
    ap.add_argument("--signer", choices=("delegated", "intermediate"), default="delegated")
    ap.add_argument("--workers", type=int, default=0, help="step-ca --workers (default: one per core)")
    args = ap.parse_args()
    need_wrk()

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509 import ocsp

    info = machine()
    print_machine(info)
    with tempfile.TemporaryDirectory(prefix="ocsp-bench-") as tmp:
        work = Path(tmp)
        pki = init_pki(work / "pki")
        cfg = pki.config()
        insecure_port = free_port()
        cfg["insecureAddress"] = f"127.0.0.1:{insecure_port}"
        cfg["ocsp"] = {"enabled": True, "signer": args.signer}
        pki.ca_json.write_text(json.dumps(cfg, indent=2))
        ca = start_ca("ocsp", pki, pki.ca_json, workers=args.workers, log_dir=work)
        try:
            ctx = ssl.create_default_context(cafile=str(pki.root))
            bodies = Bodies(pki)
            intermediate = x509.load_pem_x509_certificate(
                (pki.step_path / "certs" / "intermediate_ca.crt").read_bytes()
            )
            list_file = work / "requests.txt"
            paths = []
            for i in range(args.certs):
                req = urllib.request.Request(
                    f"{ca.url}/1.0/sign",
                    data=bodies.sign_body().encode(),
                    headers={"Content-Type": "application/json"},
                )
                with urllib.request.urlopen(req, context=ctx, timeout=30) as resp:
                    crt = x509.load_pem_x509_certificate(json.loads(resp.read())["crt"].encode())
                der = (
                    ocsp.OCSPRequestBuilder()
                    .add_certificate(crt, intermediate, hashes.SHA1())
                    .build()
                    .public_bytes(serialization.Encoding.DER)
                )
                path = work / f"req-{i}.der"
                path.write_bytes(der)
                paths.append(str(path))
            list_file.write_text("\n".join(paths) + "\n")
            url = f"{ca.url}/ocsp" if args.https else f"http://127.0.0.1:{insecure_port}/ocsp"

            def ask(der: bytes) -> Any:
                req = urllib.request.Request(
                    url, data=der, headers={"Content-Type": "application/ocsp-request"}
                )
                with urllib.request.urlopen(req, context=ctx if args.https else None, timeout=30) as resp:
                    return ocsp.load_der_ocsp_response(resp.read())

            # warm every worker's cache (each connection may land on either worker)
            for _ in range(3):
                for p in paths:
                    assert ask(Path(p).read_bytes()).certificate_status == ocsp.OCSPCertStatus.GOOD
            print(
                f"\n{args.certs} certificates, POST {url}, wrk -t2 -c{args.connections} -d{args.duration:g}s"
            )
            results = []
            pids = ca.worker_pids()
            for run in range(args.runs):
                cpu_before = sum(cpu_seconds(p) for p in pids)
                cmd = ["wrk", "-t2", f"-c{args.connections}", f"-d{max(1, round(args.duration))}s", "--latency",
                       "-s", str(OCSP_WRK), url, "--", str(list_file)]  # fmt: skip
                wrk_cpu = resource.getrusage(resource.RUSAGE_CHILDREN)
                done = subprocess.run(cmd, capture_output=True, text=True, timeout=args.duration + 120)
                after = resource.getrusage(resource.RUSAGE_CHILDREN)
                if done.returncode != 0:
                    raise SystemExit(f"wrk failed: {done.stderr or done.stdout}")
                r = parse_wrk(done.stdout)
                server_us = (sum(cpu_seconds(p) for p in pids) - cpu_before) / r["requests"] * 1e6
                client_us = (
                    (after.ru_utime + after.ru_stime - wrk_cpu.ru_utime - wrk_cpu.ru_stime)
                    / r["requests"]
                    * 1e6
                )
                r["server_us"], r["client_us"] = server_us, client_us
                results.append(r)
                print(
                    f"run {run + 1}: {r['certs_per_s']:.0f} responses/s, p50 {r['p50_ms']:.2f} ms, "
                    f"p99 {r['p99_ms']:.2f} ms, max {r['max_ms']:.1f} ms, non-2xx {r['non_2xx']}, "
                    f"socket errors {r['socket_errors']}; CPU per response: step-ca {server_us:.0f} us, "
                    f"wrk {client_us:.0f} us"
                )
                time.sleep(1)
            assert all(
                ask(Path(p).read_bytes()).certificate_status == ocsp.OCSPCertStatus.GOOD for p in paths[:20]
            )
            rates = [r["certs_per_s"] for r in results]
            p99s = [r["p99_ms"] for r in results]
            server = statistics.median(r["server_us"] for r in results)
            client = statistics.median(r["client_us"] for r in results)
            cores = os.cpu_count() or 1
            print(f"median: {statistics.median(rates):.0f} responses/s, p99 {statistics.median(p99s):.2f} ms")
            print(
                f"CPU per response (median): step-ca {server:.0f} us + wrk {client:.0f} us: "
                f"{cores} cores answer at most {cores * 1e6 / (server + client):.0f}/s with this load "
                f"generator on the box, {cores * 1e6 / server:.0f}/s without it "
                "(independent of what else runs)"
            )
        finally:
            ca.stop()


if __name__ == "__main__":
    main()
