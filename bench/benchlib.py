"""Shared pieces of the benchmarks in bench/: a throw-away PKI, a step-ca process, pre-made
request bodies (one-time tokens), wrk runs and their figures, and the machine's description.

The scripts import it with ``sys.path.insert(0, bench/)``; run them with the venv's interpreter
(``.venv/bin/python bench/...``): the tokens are built with the ``stepca`` package it imports.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
CACHE = HERE / ".cache"
PASSWORD = "bench-password"
SIGN_WRK = HERE / "sign_wrk.lua"
CLIENT_CERT_SHIM = HERE / "wrk_client_cert.c"

#: the loads the comparisons know: name -> request path
ENDPOINTS = {"sign": "/1.0/sign", "renew": "/1.0/renew", "ssh": "/1.0/ssh/sign"}

#: PostgreSQL and MariaDB on 127.0.0.1 (GUIDE.md): ca.json dataSource, SQLAlchemy admin URL
DB_SERVERS = {
    "postgresql": (
        "postgresql://postgres@127.0.0.1:5432/",
        "postgresql+psycopg://postgres@127.0.0.1:5432/postgres",
    ),
    "mysql": ("root@tcp(127.0.0.1:3306)/", "mysql+pymysql://root@127.0.0.1:3306/information_schema"),
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def need_wrk() -> None:
    if not shutil.which("wrk"):
        raise SystemExit("wrk is not installed (apt-get install wrk)")


def wait_health(
    url: str, root: Path, timeout: float = 30, proc: subprocess.Popen[bytes] | None = None
) -> None:
    ctx = ssl.create_default_context(cafile=str(root))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise SystemExit(f"step-ca exited with {proc.returncode} before answering /health")
        try:
            with urllib.request.urlopen(f"{url}/health", context=ctx, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.02)
    raise SystemExit("step-ca did not become healthy")


# --------------------------------------------------------------------------- PKI and CA


@dataclass(frozen=True)
class Pki:
    """A STEPPATH made by ``step ca init`` (password ``PASSWORD`` in ``password_file``)."""

    step_path: Path
    password_file: Path

    @property
    def ca_json(self) -> Path:
        return self.step_path / "config" / "ca.json"

    @property
    def root(self) -> Path:
        return self.step_path / "certs" / "root_ca.crt"

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "STEPPATH": str(self.step_path)}

    def config(self) -> dict[str, Any]:
        cfg: dict[str, Any] = json.loads(self.ca_json.read_text())
        return cfg

    def config_copy(self, path: Path, *, port: int, db: dict[str, Any] | None = None) -> Path:
        """A copy of ca.json that differs in its address (and its db block when given)."""
        cfg = self.config()
        cfg["address"] = f"127.0.0.1:{port}"
        if db is not None:
            cfg["db"] = db
        path.write_text(json.dumps(cfg, indent=2))
        return path


def init_pki(base: Path, *, ssh: bool = False, step: Path | None = None) -> Pki:
    """``step ca init`` into ``base/step`` (EC P-256, dnsNames localhost, one JWK provisioner)."""
    base.mkdir(parents=True, exist_ok=True)
    pw = base / "pw"
    pw.write_text(PASSWORD)
    pki = Pki(base / "step", pw)
    args = [str(step or BIN / "step"), "ca", "init", "--name", "Bench", "--dns", "localhost",
            "--address", f"127.0.0.1:{free_port()}", "--provisioner", "bench@example.com",
            "--password-file", str(pw)]  # fmt: skip
    if ssh:
        args.append("--ssh")
    subprocess.run(
        args,
        env=pki.env,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
    )
    return pki


def sqlite_db(path: Path) -> dict[str, Any]:
    return {"type": "sqlite", "dataSource": str(path)}


@dataclass
class CA:
    """A running ``step-ca``: the parent process (its own process group) and its log."""

    label: str
    proc: subprocess.Popen[bytes]
    url: str
    log_path: Path
    startup_s: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    def worker_pids(self) -> list[int]:
        """The parent's children (the workers), read from /proc."""
        pids = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            with contextlib.suppress(OSError):
                stat = Path(f"/proc/{entry}/stat").read_text()
                if int(stat[stat.rindex(")") + 2 :].split()[1]) == self.proc.pid:
                    pids.append(int(entry))
        return sorted(pids)

    def stop(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)


def start_ca(
    label: str,
    pki: Pki,
    ca_json: Path,
    *,
    bin_dir: Path = BIN,
    workers: int = 0,
    log_dir: Path,
    timeout: float = 120,
    extra_args: list[str] | None = None,
    env: dict[str, str] | None = None,
) -> CA:
    """Start ``bin_dir/step-ca ca_json`` and wait until /health answers; ``startup_s`` is the
    time from the spawn to the first healthy answer (key decryption and database open included)."""
    port = int(json.loads(ca_json.read_text())["address"].rsplit(":", 1)[1])
    cmd = [str(bin_dir / "step-ca"), str(ca_json), "--password-file", str(pki.password_file)]
    if workers:
        cmd += ["--workers", str(workers)]
    cmd += extra_args or []
    log_path = log_dir / f"ca-{label}.log"
    with log_path.open("ab") as log:
        t0 = time.monotonic()
        proc = subprocess.Popen(
            cmd,
            env={**pki.env, **(env or {})},
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    ca = CA(label, proc, f"https://localhost:{port}", log_path)
    try:
        wait_health(ca.url, pki.root, timeout=timeout, proc=proc)
    except BaseException:
        ca.stop()
        print(log_path.read_text(errors="replace")[-2000:], file=sys.stderr)
        raise
    ca.startup_s = time.monotonic() - t0
    return ca


@contextlib.contextmanager
def running(cas: list[CA]) -> Iterator[list[CA]]:
    try:
        yield cas
    finally:
        for ca in cas:
            ca.stop()


# --------------------------------------------------------------------------- request bodies


class Bodies:
    """Pre-made request bodies, one JSON per line, for the JWK provisioner of a PKI: each body
    carries a fresh one-hour token (used once), the same CSR or SSH key in all of them.

    Tokens carry the audience ``https://localhost/1.0/...``, which every CA of the PKI accepts
    whatever its port; CAs with separate databases can take the same file (``jti`` is unique per
    database). Build them after the CAs started: a token issued before a CA's start is refused.
    """

    def __init__(self, pki: Pki, ca_url: str = "https://localhost", password: str = PASSWORD) -> None:
        from stepca.crypto import jose
        from stepca.crypto.keys import generate_private_key
        from stepca.crypto.x509build import build_csr

        prov = pki.config()["authority"]["provisioners"][0]
        self.provisioner = str(prov["name"])
        self.kid = str(prov["key"]["kid"])
        self.key: Any = jose.key_from_jwk(
            json.loads(jose.decrypt_with_password(prov["encryptedKey"], password.encode()))
        )
        self.ca_url = ca_url
        self.csr = build_csr("svc.example.com", ["svc.example.com"], generate_private_key()).decode()
        self._ssh_key: str | None = None

    def token(self, endpoint: str, extra: dict[str, Any] | None = None, sans: list[str] | None = None) -> str:
        from stepca.client.token import audience, jwk_token

        return jwk_token(
            subject="svc.example.com",
            issuer=self.provisioner,
            kid=self.kid,
            key=self.key,
            audience=audience(self.ca_url, endpoint),
            sans=sans,
            expires=int(time.time()) + 3600,
            extra=extra,
        )

    def sign_body(self) -> str:
        return json.dumps({"csr": self.csr, "ott": self.token("sign", sans=["svc.example.com"])})

    def ssh_body(self) -> str:
        from stepca.cli.ca_token import ssh_step_claim

        if self._ssh_key is None:
            from stepca.crypto.keys import generate_private_key
            from stepca.crypto.sshcert import key_blob

            self._ssh_key = base64.b64encode(key_blob(generate_private_key())).decode()
        step = ssh_step_claim("alice@example.com", host=False)
        return json.dumps(
            {
                "publicKey": self._ssh_key,
                "ott": self.token("ssh/sign", extra=step),
                "certType": "user",
                "keyID": "alice@example.com",
                "principals": step["step"]["ssh"]["principals"],
            }
        )

    def write(self, endpoint: str, count: int, out: Path) -> Path:
        make = self.ssh_body if endpoint == "ssh" else self.sign_body
        with out.open("w") as fh:
            for _ in range(count):
                fh.write(make() + "\n")
        return out


def make_bodies(ca_json: Path, ca_url: str, count: int, out: Path, password: str = PASSWORD) -> None:
    """``count`` /1.0/sign bodies for the PKI of ``ca_json`` (see ``Bodies``)."""
    Bodies(Pki(ca_json.parent.parent, Path()), ca_url, password).write("sign", count, out)


def client_certificate(ca: CA, pki: Pki, bodies: Bodies, out_dir: Path) -> dict[str, str]:
    """A certificate issued by ``ca`` (so recorded in its database) for mTLS /1.0/renew, and the
    environment that makes wrk present it (``wrk_client_cert.so`` preloaded)."""
    from cryptography.hazmat.primitives import serialization

    from stepca.crypto.keys import generate_private_key
    from stepca.crypto.x509build import build_csr

    key = generate_private_key()
    body = json.dumps({"csr": build_csr("svc.example.com", ["svc.example.com"], key).decode(),
                       "ott": bodies.token("sign", sans=["svc.example.com"])}).encode()  # fmt: skip
    req = urllib.request.Request(
        f"{ca.url}/1.0/sign", data=body, method="POST", headers={"Content-Type": "application/json"}
    )
    ctx = ssl.create_default_context(cafile=str(pki.root))
    with urllib.request.urlopen(req, context=ctx, timeout=30) as resp:
        issued = json.loads(resp.read())
    out_dir.mkdir(parents=True, exist_ok=True)
    crt, key_path = out_dir / f"client-{ca.label}.crt", out_dir / f"client-{ca.label}.key"
    crt.write_text("".join(issued["certChain"]))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    key_path.chmod(0o600)
    return {
        "LD_PRELOAD": str(client_cert_shim()),
        "WRK_CLIENT_CERT": str(crt),
        "WRK_CLIENT_KEY": str(key_path),
    }


def client_cert_shim() -> Path:
    """wrk has no client-certificate option: a tiny preloaded library (``wrk_client_cert.c``,
    compiled once into bench/.cache) loads one into every SSL_CTX wrk creates."""
    out = CACHE / "wrk_client_cert.so"
    if not out.exists() or out.stat().st_mtime < CLIENT_CERT_SHIM.stat().st_mtime:
        if not shutil.which("gcc"):
            raise SystemExit(
                "the /1.0/renew load needs gcc and libssl-dev (to build bench/wrk_client_cert.c)"
            )
        CACHE.mkdir(parents=True, exist_ok=True)
        tmp = out.with_suffix(f".{os.getpid()}.so")
        subprocess.run(
            ["gcc", "-shared", "-fPIC", "-O2", "-o", str(tmp), str(CLIENT_CERT_SHIM), "-ldl"], check=True
        )
        tmp.replace(out)
    return out


# --------------------------------------------------------------------------- wrk


def parse_wrk(out: str) -> dict[str, Any]:
    m = re.search(r"RESULT (.*)", out)
    if not m:
        raise SystemExit(f"wrk produced no RESULT line:\n{out}")
    res = {k: int(v) for k, v in (kv.split("=") for kv in m.group(1).split())}
    secs = res["duration_us"] / 1e6
    errors = re.search(r"Socket errors: (.*)", out)
    return {
        "certs_per_s": round((res["requests"] - res["errors_status"]) / secs, 1),
        "requests": res["requests"],
        "non_2xx": res["errors_status"],
        "socket_errors": errors.group(1) if errors else "none",
        "p50_ms": res["p50_us"] / 1000,
        "p90_ms": res["p90_us"] / 1000,
        "p99_ms": res["p99_us"] / 1000,
        "max_ms": res["max_us"] / 1000,
    }


def wrk_command(
    url: str, endpoint: str, bodies: Path | None, *, threads: int, connections: int, duration: float
) -> list[str]:
    """wrk with bench/sign_wrk.lua: ``bodies`` split over the threads, or (renew) empty POSTs."""
    return ["wrk", f"-t{threads}", f"-c{max(threads, connections)}", f"-d{max(1, round(duration))}s", "--latency",
            "-s", str(SIGN_WRK), url, "--", str(bodies or "-"), str(threads), ENDPOINTS[endpoint]]  # fmt: skip


def run_wrk(
    url: str,
    endpoint: str,
    bodies: Path | None,
    *,
    threads: int = 2,
    connections: int = 32,
    duration: float = 15,
    env: dict[str, str] | None = None,
) -> dict[str, Any]:
    cmd = wrk_command(url, endpoint, bodies, threads=threads, connections=connections, duration=duration)
    done = subprocess.run(
        cmd, capture_output=True, text=True, env={**os.environ, **(env or {})}, timeout=duration + 120
    )
    if done.returncode != 0:
        raise SystemExit(f"wrk failed ({done.returncode}): {done.stderr.strip() or done.stdout.strip()}")
    return parse_wrk(done.stdout)


# --------------------------------------------------------------------------- the machine


def cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return "unknown"


def openssl_speed() -> str:
    """The ``openssl speed -seconds 1 ecdsap256`` result line: seconds per sign and per verify,
    signs/s, verifies/s (whitespace collapsed)."""
    done = subprocess.run(
        ["openssl", "speed", "-seconds", "1", "ecdsap256"], capture_output=True, text=True, timeout=60
    )
    for ln in done.stdout.splitlines():
        if "nistp256" in ln and "bits ecdsa" in ln:
            return " ".join(ln.split())
    return "openssl speed: no ecdsap256 line"


def machine() -> dict[str, Any]:
    ver = subprocess.run(["openssl", "version"], capture_output=True, text=True).stdout.strip()
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "openssl": ver,
        "openssl_speed_ecdsap256": openssl_speed(),
        "python": sys.version.split()[0],
        "loadavg": [round(x, 2) for x in os.getloadavg()],
    }


def print_machine(info: dict[str, Any], out: TextIO = sys.stdout) -> None:
    print(f"CPU: {info['cpu']} ({info['cores']} cores), Python {info['python']}, {info['openssl']}", file=out)
    print(
        f"openssl speed -seconds 1 ecdsap256 (sign, verify, sign/s, verify/s): {info['openssl_speed_ecdsap256']}",
        file=out,
    )
    print(f"load average before: {' '.join(str(x) for x in info['loadavg'])}", file=out)


# --------------------------------------------------------------------------- databases


def server_database(kind: str, name: str, *, template: str | None = None) -> tuple[dict[str, Any], str]:
    """A fresh database ``name`` on the local PostgreSQL or MariaDB: the ca.json db block and the
    SQLAlchemy URL of that database (created here, dropped by ``drop_database``). PostgreSQL:
    ``template`` makes it a copy of that database (``CREATE DATABASE ... TEMPLATE``)."""
    from sqlalchemy import create_engine
    from sqlalchemy.pool import NullPool

    source, admin = DB_SERVERS[kind]
    engine = create_engine(admin, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        quoted = f'"{name}"' if kind == "postgresql" else f"`{name}`"
        if template is not None:
            if kind != "postgresql":
                raise ValueError("a template database needs PostgreSQL")
            conn.exec_driver_sql(f'CREATE DATABASE {quoted} TEMPLATE "{template}"')
        else:
            conn.exec_driver_sql(f"CREATE DATABASE {quoted}")
    engine.dispose()
    url = admin.rsplit("/", 1)[0] + f"/{name}"
    return {"type": kind, "dataSource": source, "database": name}, url


def drop_database(kind: str, name: str) -> None:
    from sqlalchemy import create_engine
    from sqlalchemy.pool import NullPool

    engine = create_engine(DB_SERVERS[kind][1], poolclass=NullPool, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        quoted = f'"{name}" WITH (FORCE)' if kind == "postgresql" else f"`{name}`"
        conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {quoted}")
    engine.dispose()


# --------------------------------------------------------------------------- interleaved pairs


@dataclass
class Load:
    """The same load for every run: wrk's shape, and how many tokens to prepare per run."""

    endpoint: str = "sign"
    duration: float = 15
    connections: int = 32
    threads: int = 2
    warmup: float = 3
    rate_guess: float = 3000  # requests/s to prepare tokens for; raised to the fastest run seen

    def token_count(self, duration: float) -> int:
        return int(self.rate_guess * (duration + 1) * 1.25) + 100


def _bodies_for(load: Load, bodies: Bodies, duration: float, out: Path) -> Path | None:
    if load.endpoint == "renew":
        return None
    t0 = time.monotonic()
    count = load.token_count(duration)
    bodies.write(load.endpoint, count, out)
    print(f"  prepared {count} tokens in {time.monotonic() - t0:.1f}s", file=sys.stderr)
    return out


#: a pair whose runs lost more than this share of the machine to the hypervisor is "unsteady"
STEADY_STEAL_PCT = 2.0


def cpu_times() -> list[int]:
    """The machine's /proc/stat ``cpu`` line: user nice system idle iowait irq softirq steal ..."""
    return [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]


def machine_shares(before: list[int], after: list[int]) -> tuple[float, float]:
    """(idle %, steal %) of all cores between two ``cpu_times()``: idle is what the load left
    unused; steal is time the hypervisor gave to another guest (on a shared VM it moves a run's
    throughput by tens of per cent, whatever the build)."""
    spent = [y - x for x, y in zip(before, after, strict=False)]
    total = sum(spent) or 1
    steal = spent[7] if len(spent) > 7 else 0
    return round(100 * (spent[3] + spent[4]) / total, 1), round(100 * steal / total, 1)


def run_pairs(
    sides: tuple[CA, CA], load: Load, pki: Pki, pairs: int, work: Path
) -> list[dict[str, dict[str, Any]]]:
    """Interleaved runs of ``load``: pair i runs A then B (i even) or B then A (i odd), never both
    at once. Both sides take the same bodies file (each CA has its own database). A warm-up run
    per side first (not reported)."""
    bodies = Bodies(pki)
    env: dict[str, dict[str, str]] = {ca.label: {} for ca in sides}
    if load.endpoint == "renew":
        for ca in sides:
            env[ca.label] = client_certificate(ca, pki, bodies, work)
    path = work / f"bodies-{load.endpoint}.jsonl"

    def one(ca: CA, file: Path | None, duration: float) -> dict[str, Any]:
        before = cpu_times()
        result = run_wrk(
            ca.url,
            load.endpoint,
            file,
            threads=load.threads,
            connections=load.connections,
            duration=duration,
            env=env[ca.label],
        )
        result["idle_pct"], result["steal_pct"] = machine_shares(before, cpu_times())
        return result

    if load.warmup > 0:
        for ca in sides:
            one(ca, _bodies_for(load, bodies, load.warmup, path), load.warmup)
    results: list[dict[str, dict[str, Any]]] = []
    for i in range(pairs):
        order = sides if i % 2 == 0 else (sides[1], sides[0])
        file = _bodies_for(load, bodies, load.duration, path)
        pair = {ca.label: one(ca, file, load.duration) for ca in order}
        pair["order"] = {"first": order[0].label}
        results.append(pair)
        load.rate_guess = max(load.rate_guess, *(pair[ca.label]["certs_per_s"] for ca in sides))
        a, b = (pair[ca.label] for ca in sides)
        print(f"  pair {i + 1} ({order[0].label} first): {pair_line(sides[0].label, a, sides[1].label, b)}")
        for ca in sides:
            r = pair[ca.label]
            if r["non_2xx"] or r["socket_errors"] != "none":
                print(f"  warning: {ca.label}: {r['non_2xx']} non-2xx, socket errors: {r['socket_errors']}")
    if path.exists():
        path.unlink()
    return results


def pair_line(la: str, a: dict[str, Any], lb: str, b: dict[str, Any]) -> str:
    return (
        f"{la} {a['certs_per_s']:,.0f}/s p99 {a['p99_ms']:.1f} ms | {lb} {b['certs_per_s']:,.0f}/s "
        f"p99 {b['p99_ms']:.1f} ms | {lb}/{la} throughput {ratio(b['certs_per_s'], a['certs_per_s']):.3f}, "
        f"p99 {ratio(b['p99_ms'], a['p99_ms']):.3f} | steal {a.get('steal_pct', 0):.1f} % / {b.get('steal_pct', 0):.1f} %"
    )


def ratio(x: float, y: float) -> float:
    return x / y if y else float("nan")


def summarize(results: list[dict[str, dict[str, Any]]], a: str, b: str) -> dict[str, Any]:
    """Median (and range) over the pairs of the per-pair ratios B/A, and each side's medians."""
    import statistics

    tput = [ratio(p[b]["certs_per_s"], p[a]["certs_per_s"]) for p in results]
    p99 = [ratio(p[b]["p99_ms"], p[a]["p99_ms"]) for p in results]
    return {
        "pairs": len(results),
        "throughput_ratio_median": round(statistics.median(tput), 3),
        "throughput_ratio_range": [round(min(tput), 3), round(max(tput), 3)],
        "p99_ratio_median": round(statistics.median(p99), 3),
        "p99_ratio_range": [round(min(p99), 3), round(max(p99), 3)],
        **{
            f"{side}_median": {
                "certs_per_s": statistics.median(p[side]["certs_per_s"] for p in results),
                "p99_ms": statistics.median(p[side]["p99_ms"] for p in results),
            }
            for side in (a, b)
        },
        "non_2xx": sum(p[s]["non_2xx"] for p in results for s in (a, b)),
        **_steady_medians(results, a, b),
    }


def steady(pair: dict[str, dict[str, Any]], a: str, b: str) -> bool:
    return all(pair[s].get("steal_pct", 0) <= STEADY_STEAL_PCT for s in (a, b))


def _steady_medians(results: list[dict[str, dict[str, Any]]], a: str, b: str) -> dict[str, Any]:
    """The median ratio over the pairs the hypervisor left alone (steal <= STEADY_STEAL_PCT on
    both sides), when there are at least three of them."""
    import statistics

    kept = [p for p in results if steady(p, a, b)]
    out: dict[str, Any] = {"steady_pairs": len(kept)}
    if len(kept) >= 3:
        out["steady_throughput_ratio_median"] = round(
            statistics.median(ratio(p[b]["certs_per_s"], p[a]["certs_per_s"]) for p in kept), 3
        )
        out["steady_p99_ratio_median"] = round(
            statistics.median(ratio(p[b]["p99_ms"], p[a]["p99_ms"]) for p in kept), 3
        )
    return out


def markdown_table(
    sections: dict[str, tuple[list[dict[str, dict[str, Any]]], dict[str, Any]]],
    a: str,
    b: str,
    unit: str = "/s",
) -> str:
    """One table for docs/benchmarks.md: every pair of every section, then its median ratios."""
    rows = [
        f"| load | pair | {a} {unit} | {a} p99 ms | {b} {unit} | {b} p99 ms | throughput {b}/{a} | p99 {b}/{a} "
        f"| steal % {a} / {b} |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, (results, summary) in sections.items():
        for i, p in enumerate(results, 1):
            rows.append(
                f"| {name} | {i} ({p['order']['first']} first) | {p[a]['certs_per_s']:,.0f} | {p[a]['p99_ms']:.1f} "
                f"| {p[b]['certs_per_s']:,.0f} | {p[b]['p99_ms']:.1f} "
                f"| {ratio(p[b]['certs_per_s'], p[a]['certs_per_s']):.3f} | {ratio(p[b]['p99_ms'], p[a]['p99_ms']):.3f} "
                f"| {p[a].get('steal_pct', 0):.1f} / {p[b].get('steal_pct', 0):.1f} |"
            )
        lo, hi = summary["throughput_ratio_range"]
        plo, phi = summary["p99_ratio_range"]
        rows.append(
            f"| **{name}** | **median** | {summary[a + '_median']['certs_per_s']:,.0f} "
            f"| {summary[a + '_median']['p99_ms']:.1f} | {summary[b + '_median']['certs_per_s']:,.0f} "
            f"| {summary[b + '_median']['p99_ms']:.1f} | **{summary['throughput_ratio_median']:.3f}** ({lo:.2f}–{hi:.2f}) "
            f"| **{summary['p99_ratio_median']:.3f}** ({plo:.2f}–{phi:.2f}) | |"
        )
        if "steady_throughput_ratio_median" in summary:
            rows.append(
                f"| {name} | median of the {summary['steady_pairs']} pairs with steal ≤ {STEADY_STEAL_PCT:g} % "
                f"| | | | | {summary['steady_throughput_ratio_median']:.3f} | {summary['steady_p99_ratio_median']:.3f} | |"
            )
    return "\n".join(rows)
