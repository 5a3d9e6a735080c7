"""Several step-ca instances on one database, and a load of concurrent clients spread over them.

Each instance gets its own copy of the PKI tree whose ca.json differs only in ``address`` (the
port): same keys (absolute paths to the one set of files), same provisioners, same ``db`` block.
Clients make their own one-time tokens with the provisioner key, for the audience
``https://localhost/1.0/<endpoint>`` (no port), which every instance accepts - as behind a load
balancer on port 443.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import ssl
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from stepca.client.token import jwk_token
from stepca.crypto import jose
from stepca.crypto.keys import PrivateKey, generate_private_key
from stepca.crypto.x509build import build_csr
from tests.db.backends import Backend
from tests.helpers import PASSWORD, PKI, CAProcess, free_port, make_pki, start_ca, wait_ready

AUDIENCE = "https://localhost/1.0/{}"


@dataclass
class Instance:
    name: str
    pki: PKI
    ca: CAProcess | None = None

    @property
    def url(self) -> str:
        return self.pki.url

    def kill9(self) -> None:
        assert self.ca is not None
        os.killpg(self.ca.proc.pid, signal.SIGKILL)
        self.ca.proc.wait(timeout=10)


@dataclass
class Cluster:
    backend: Backend
    base: PKI
    instances: list[Instance]
    signer_name: str
    signer_kid: str
    signer_key: PrivateKey
    csr_pem: str = ""

    def ssl_context(self, cert: Path | None = None, key: Path | None = None) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=str(self.base.root))
        if cert and key:
            ctx.load_cert_chain(str(cert), str(key))
        return ctx

    def token(self, subject: str, endpoint: str = "sign", sans: list[str] | None = None) -> str:
        return jwk_token(
            subject=subject,
            issuer=self.signer_name,
            kid=self.signer_kid,
            key=self.signer_key,
            audience=AUDIENCE.format(endpoint),
            sans=sans if sans is not None else ([subject] if endpoint == "sign" else None),
        )

    def sign_body(self, subject: str = "svc.example.com") -> tuple[str, bytes]:
        ott = self.token(subject)
        return ott, json.dumps({"csr": self.csr_pem, "ott": ott}).encode()


def instance_tree(base: PKI, root: Path, name: str) -> PKI:
    """A copy of the PKI tree whose ca.json listens on a port of its own."""
    step_path = root / name
    shutil.copytree(base.step_path, step_path, ignore=shutil.ignore_patterns("db"))
    port = free_port()
    pki = PKI(
        step_path=step_path,
        password_file=base.password_file,
        port=port,
        env={**base.env, "STEPPATH": str(step_path)},
    )
    pki.edit_config(lambda cfg: cfg.__setitem__("address", f"127.0.0.1:{port}"))
    return pki


@contextmanager
def cluster(
    backend: Backend,
    root: Path,
    *,
    instances: int = 3,
    workers: int = 1,
    env: dict[str, str] | None = None,
    configure: Callable[[dict[str, Any]], None] | None = None,
) -> Iterator[Cluster]:
    """N instances on one database, all started at the same moment (they race to migrate);
    ``env`` is added to each instance's environment, ``configure`` edits the shared ca.json."""
    (root / "pki").mkdir()
    base = make_pki(root / "pki")
    backend.apply(base)
    if configure is not None:
        base.edit_config(configure)
    members = [
        Instance(chr(ord("A") + i), instance_tree(base, root, f"instance-{i}")) for i in range(instances)
    ]
    prov = base.provisioner()
    key = jose.key_from_jwk(json.loads(jose.decrypt_with_password(prov["encryptedKey"], PASSWORD.encode())))
    c = Cluster(backend, base, members, prov["name"], prov["key"]["kid"], key)  # type: ignore[arg-type]
    c.csr_pem = build_csr("svc.example.com", ["svc.example.com"], generate_private_key()).decode()
    try:
        for m in members:
            m.ca = start_ca(m.pki, workers=workers, wait=False, env={**m.pki.env, **(env or {})})
        for m in members:
            assert m.ca is not None
            wait_ready(m.ca, timeout=60)
        yield c
    finally:
        for m in members:
            if m.ca is not None:
                m.ca.stop()


# ------------------------------------------------------------------------------------ the load


@dataclass
class Outcome:
    instance: str
    status: int  # 0: no HTTP answer (connection refused/reset)
    started: float
    ended: float
    token: str
    serial: str = ""
    der: bytes = b""
    error: str = ""


@dataclass
class LoadResult:
    outcomes: list[Outcome] = field(default_factory=list)

    def issued(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.status == 201]


async def _sign(session: aiohttp.ClientSession, inst: Instance, cl: Cluster) -> Outcome:
    ott, body = cl.sign_body()
    started = time.monotonic()
    try:
        async with session.post(
            f"{inst.url}/1.0/sign", data=body, headers={"Content-Type": "application/json"}
        ) as resp:
            payload = await resp.read()
            out = Outcome(inst.name, resp.status, started, time.monotonic(), ott)
    except (TimeoutError, aiohttp.ClientError, OSError) as exc:
        return Outcome(inst.name, 0, started, time.monotonic(), ott, error=repr(exc))
    if out.status == 201:
        cert = x509.load_pem_x509_certificate(json.loads(payload)["crt"].encode())
        out.serial, out.der = str(cert.serial_number), cert.public_bytes(Encoding.DER)
    else:
        out.error = payload[:300].decode(errors="replace")
    return out


async def run_load(
    cl: Cluster,
    *,
    clients: int,
    duration: float,
    kill: tuple[str, float] | None = None,
) -> LoadResult:
    """``clients`` concurrent clients, client i starting on instance i mod N, each signing in a loop
    for ``duration`` seconds. ``kill=(name, at)`` kill -9s that instance ``at`` seconds in; its
    clients then move to the next live instance (what a load balancer's health check does)."""
    result = LoadResult()
    dead: set[str] = set()
    deadline = time.monotonic() + duration
    ctx = cl.ssl_context()
    timeout = aiohttp.ClientTimeout(total=60)

    async def client(i: int, session: aiohttp.ClientSession) -> None:
        n = len(cl.instances)
        k = i % n
        while time.monotonic() < deadline:
            inst = cl.instances[k]
            if inst.name in dead:
                k = (k + 1) % n
                continue
            out = await _sign(session, inst, cl)
            result.outcomes.append(out)
            if out.status == 0:
                await asyncio.sleep(0.05)

    async def killer(name: str, at: float) -> None:
        await asyncio.sleep(at)
        inst = next(m for m in cl.instances if m.name == name)
        await asyncio.get_running_loop().run_in_executor(None, inst.kill9)
        dead.add(name)

    connector = aiohttp.TCPConnector(ssl=ctx, limit=clients * 2)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        tasks = [asyncio.create_task(client(i, session)) for i in range(clients)]
        if kill:
            tasks.append(asyncio.create_task(killer(*kill)))
        await asyncio.gather(*tasks)
    return result


async def replay(
    cl: Cluster, pairs: list[tuple[Instance, str]], concurrency: int = 32
) -> list[tuple[int, str]]:
    """POST /1.0/sign with each (instance, token): the statuses, in order."""
    ctx = cl.ssl_context()
    sem = asyncio.Semaphore(concurrency)
    connector = aiohttp.TCPConnector(ssl=ctx, limit=concurrency)

    async def one(session: aiohttp.ClientSession, inst: Instance, ott: str) -> tuple[int, str]:
        body = json.dumps({"csr": cl.csr_pem, "ott": ott}).encode()
        async with sem, session.post(f"{inst.url}/1.0/sign", data=body) as resp:
            return resp.status, (await resp.read())[:200].decode(errors="replace")

    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=60)) as session:
        return list(await asyncio.gather(*(one(session, inst, ott) for inst, ott in pairs)))


def post(
    cl: Cluster, inst: Instance, path: str, body: dict[str, Any] | None, ctx: ssl.SSLContext | None = None
) -> tuple[int, Any]:
    assert inst.ca is not None
    return inst.ca.request("POST", path, body if body is not None else b"", context=ctx or cl.ssl_context())
