"""ACME fixtures: a CA with an ACME provisioner (real step-ca over TLS on loopback), a DNS
server on loopback (dnslib) for ``step-ca --resolver``, and the lock that serializes the tests
that need ports 80 and 443."""

from __future__ import annotations

import fcntl
import os
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.acme.client import AcmeClient
from tests.acme.dns_server import LoopbackDNS
from tests.helpers import PKI, CAProcess, make_pki, start_ca

PROVISIONER = "acme"
#: held while a test uses port 80 or 443 (xdist workers, and other checkouts on this machine)
PORT_LOCK = Path("/tmp/stepca-acme-ports.lock")


def add_acme_provisioner(pki: PKI, name: str = PROVISIONER, **fields: Any) -> None:
    def edit(cfg: dict[str, Any]) -> None:
        cfg["authority"]["provisioners"].append({"type": "ACME", "name": name, **fields})

    pki.edit_config(edit)


def directory_url(ca: CAProcess, provisioner: str = PROVISIONER, prefix: str = "/acme/") -> str:
    return f"{ca.url}{prefix}{provisioner}/directory"


@pytest.fixture(scope="session")
def dns_server() -> Iterator[LoopbackDNS]:
    server = LoopbackDNS()
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def acme_pki(tmp_path_factory: pytest.TempPathFactory) -> PKI:
    pki = make_pki(tmp_path_factory.mktemp("acme-pki"))
    add_acme_provisioner(
        pki,
        termsOfService="https://example.com/tos",
        profiles=[
            {"name": "shortlived", "description": "6-day certificates", "validity": "144h"},
            {"name": "serveronly", "keyUsage": ["digitalSignature"], "extKeyUsage": ["serverAuth"]},
            {
                "name": "org",
                "template": {
                    "template": '{"subject": {"commonName": {{ toJson .Subject.commonName }}, "organization": "ACME Org"},'
                    ' "sans": {{ toJson .SANs }}}'
                },
            },
        ],
        claims={"maxTLSCertDuration": "2160h", "defaultTLSCertDuration": "24h"},
    )
    add_acme_provisioner(
        pki, "caa", caa={"enabled": True, "identities": ["ca.example.net"]}, challenges=["dns-01"]
    )
    return pki


@pytest.fixture(scope="session")
def acme_ca(acme_pki: PKI, dns_server: LoopbackDNS) -> Iterator[CAProcess]:
    """One CA for the ACME tests that do not reconfigure it; names resolve through the loopback
    DNS server (every A query answers 127.0.0.1)."""
    ca = start_ca(acme_pki, workers=2, extra_args=["--resolver", dns_server.address])
    yield ca
    ca.stop()


@pytest.fixture
def client(acme_ca: CAProcess) -> AcmeClient:
    return AcmeClient(directory_url(acme_ca), ssl.create_default_context(cafile=str(acme_ca.pki.root)))


@pytest.fixture
def ports() -> Iterator[None]:
    """Exclusive use of ports 80 and 443 on this machine for the test."""
    with PORT_LOCK.open("a") as f:
        os.chmod(PORT_LOCK, 0o666)
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
