"""ACME: the CA time of one lego order (http-01), and parallel orders of one account on two
instances sharing a database.

    .venv/bin/python bench/acme_bench.py [--lego-orders 5] [--parallel 50] [--db sqlite|postgresql]

1. ``--lego-orders`` runs of ``lego run`` (http-01 on 127.0.0.1:80, needs root and lego) against
   one step-ca with one worker; the figure is the worker's CPU time (utime+stime from /proc) per
   order: directory, nonce, account, order, authorization, challenge, validation, finalize,
   download. Target (issue 12): <= 0.15 s.
2. ``--parallel`` orders of one account at once (threads), spread over two instances on one
   database, each validated by dns-01 through a loopback DNS server (dnslib) that step-ca reaches
   with ``--resolver``; reports errors (target: none) and orders/s.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import (
    DB_SERVERS,
    drop_database,
    free_port,
    init_pki,
    machine,
    print_machine,
    server_database,
    start_ca,
)


class LoopbackDNS:
    """A records dict served on 127.0.0.1: A → 127.0.0.1 for every name, TXT from ``txt``."""

    def __init__(self) -> None:
        from dnslib import QTYPE, RR, TXT, A
        from dnslib.server import BaseResolver, DNSLogger, DNSServer

        txt: dict[str, list[str]] = {}
        self.txt = txt

        class Resolver(BaseResolver):  # type: ignore[misc]
            def resolve(self, request: Any, handler: Any) -> Any:
                reply = request.reply()
                qname = str(request.q.qname).lower()
                if QTYPE[request.q.qtype] == "A":
                    reply.add_answer(RR(qname, QTYPE.A, rdata=A("127.0.0.1"), ttl=1))
                elif QTYPE[request.q.qtype] == "TXT":
                    for value in txt.get(qname, []):
                        reply.add_answer(RR(qname, QTYPE.TXT, rdata=TXT(value), ttl=1))
                return reply

        import socket

        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.server = DNSServer(
            Resolver(), port=self.port, address="127.0.0.1", logger=DNSLogger(logf=lambda _: None)
        )
        self.server.start_thread()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.server.stop()
        self.server.server.server_close()


def add_acme(ca_json: Path, db: dict[str, Any] | None = None) -> None:
    import json

    cfg = json.loads(ca_json.read_text())
    cfg["authority"]["provisioners"].append({"type": "ACME", "name": "acme"})
    if db is not None:
        cfg["db"] = db
    ca_json.write_text(json.dumps(cfg, indent=2))


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        stat = Path(f"/proc/{pid}/stat").read_text()
        fields = stat[stat.rindex(")") + 2 :].split()
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def lego_orders(work: Path, count: int, dns: LoopbackDNS) -> dict[str, Any]:
    if os.geteuid() != 0 or not shutil.which("lego"):
        return {"skipped": "needs root (port 80) and lego"}
    pki = init_pki(work / "lego-pki")
    add_acme(pki.ca_json)
    ca = start_ca("lego", pki, pki.ca_json, workers=1, log_dir=work, extra_args=["--resolver", dns.address])
    try:
        directory = f"{ca.url}/acme/acme/directory"
        env = {**os.environ, "LEGO_CA_CERTIFICATES": str(pki.root)}
        workers = ca.worker_pids()
        samples = []
        walls = []
        for i in range(count):
            before, t0 = cpu_seconds(workers), time.perf_counter()
            subprocess.run(
                ["lego", "--server", directory, "--email", "bench@example.com", "--accept-tos",
                 "--path", str(work / f"lego-{i}"), "--http", "--http.port", "127.0.0.1:80",
                 "--domains", f"bench{i}.example.com", "run"],
                env=env, check=True, capture_output=True, timeout=120,
            )  # fmt: skip
            walls.append(time.perf_counter() - t0)
            samples.append(cpu_seconds(workers) - before)
    finally:
        ca.stop()
    samples.sort()
    return {
        "orders": count,
        "ca_cpu_s_median": round(samples[len(samples) // 2], 3),
        "ca_cpu_s_max": round(samples[-1], 3),
        "wall_s_median": round(sorted(walls)[len(walls) // 2], 3),
    }


def parallel_orders(work: Path, count: int, kind: str, dns: LoopbackDNS) -> dict[str, Any]:
    from stepca.client.acme import AcmeClient
    from stepca.crypto.jose import b64url_encode
    from stepca.crypto.keys import generate_private_key
    from stepca.crypto.x509build import build_csr

    pki = init_pki(work / "par-pki")
    dbname = ""
    if kind == "sqlite":
        db: dict[str, Any] = {"type": "sqlite", "dataSource": str(work / "par.db")}
    else:
        dbname = f"stepca_bench_{uuid.uuid4().hex[:8]}"
        db, _ = server_database(kind, dbname)
    cas = []
    try:
        for label in ("A", "B"):
            path = pki.config_copy(work / f"ca-{label}.json", port=free_port())
            add_acme(path, db)
            cas.append(
                start_ca(label, pki, path, workers=2, log_dir=work, extra_args=["--resolver", dns.address])
            )
        ctx = ssl.create_default_context(cafile=str(pki.root))
        account_key = generate_private_key("EC", "P-256", None)
        first = AcmeClient(f"{cas[0].url}/acme/acme/directory", ctx, account_key)
        first.new_account([])
        lock = threading.Lock()

        def one(i: int) -> str:
            c = AcmeClient(f"{cas[i % 2].url}/acme/acme/directory", ctx, account_key)
            c.kid = first.kid
            name = f"p{i}.bench.example.com"
            url, order = c.new_order([{"type": "dns", "value": name}])
            authz = c.post(order["authorizations"][0], None).json()
            ch = next(x for x in authz["challenges"] if x["type"] == "dns-01")
            digest = b64url_encode(hashlib.sha256(c.key_authorization(ch["token"]).encode()).digest())
            with lock:
                dns.txt[f"_acme-challenge.{name}."] = [digest]
            c.post(ch["url"], {})
            c.poll(url, {"ready", "invalid"})
            from cryptography import x509
            from cryptography.hazmat.primitives.serialization import Encoding

            csr = x509.load_pem_x509_csr(build_csr(name, [name], generate_private_key()))
            c.post(order["finalize"], {"csr": b64url_encode(csr.public_bytes(Encoding.DER))})
            final = c.poll(url, {"valid", "invalid"})
            return str(final["status"])

        t0 = time.perf_counter()
        errors = 0
        with ThreadPoolExecutor(count) as pool:
            futures = [pool.submit(one, i) for i in range(count)]
            statuses = []
            for f in futures:
                try:
                    statuses.append(f.result())
                except Exception as exc:
                    errors += 1
                    print(f"order failed: {exc}", file=sys.stderr)
        elapsed = time.perf_counter() - t0
    finally:
        for ca in cas:
            ca.stop()
        if dbname:
            drop_database(kind, dbname)
    return {
        "orders": count,
        "db": kind,
        "valid": statuses.count("valid"),
        "errors": errors + sum(1 for s in statuses if s != "valid"),
        "seconds": round(elapsed, 2),
        "orders_per_s": round(count / elapsed, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lego-orders", type=int, default=5)
    ap.add_argument("--parallel", type=int, default=50)
    ap.add_argument("--db", choices=["sqlite", *DB_SERVERS], default="postgresql")
    args = ap.parse_args()
    print_machine(machine())
    dns = LoopbackDNS()
    try:
        with tempfile.TemporaryDirectory(prefix="acme-bench-") as tmp:
            work = Path(tmp)
            if args.lego_orders:
                print("lego http-01 order, CA worker CPU time:", lego_orders(work, args.lego_orders, dns))
            if args.parallel:
                print(f"{args.parallel} parallel orders of one account on two instances:",
                      parallel_orders(work, args.parallel, args.db, dns))  # fmt: skip
    finally:
        dns.stop()


if __name__ == "__main__":
    main()
