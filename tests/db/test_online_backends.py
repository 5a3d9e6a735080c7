"""The online CA's flows on every backend: a real step-ca over TLS, driven by our real `step`,
storing in SQLite, in the local PostgreSQL, then in the local MariaDB."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509

from tests.db.backends import Backend, open_backend
from tests.helpers import PKI, CAProcess, make_pki, start_ca

pytestmark = pytest.mark.timeout(120)


@dataclass
class OnlineCA:
    backend: Backend
    pki: PKI
    ca: CAProcess

    def token(self, subject: str) -> str:
        return self.pki.step(
            "ca", "token", subject, "--provisioner-password-file", str(self.pki.password_file)
        ).stdout.strip()

    def certificate(self, subject: str, out: Path) -> tuple[Path, Path, x509.Certificate]:
        crt, key = out / f"{subject}.crt", out / f"{subject}.key"
        self.pki.step("ca", "certificate", subject, str(crt), str(key), "--token", self.token(subject))
        return crt, key, x509.load_pem_x509_certificate(crt.read_bytes())

    def stored(self, cert: x509.Certificate) -> bytes | None:
        der = self.backend.scalar(
            "SELECT der FROM certificates WHERE serial = :s AND kind = 'x509'", s=str(cert.serial_number)
        )
        return bytes(der) if der is not None else None


@pytest.fixture(
    scope="module",
    params=[
        "sqlite",
        pytest.param("postgresql", marks=pytest.mark.postgres),
        pytest.param("mysql", marks=pytest.mark.mysql),
    ],
)
def online(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[OnlineCA]:
    base = tmp_path_factory.mktemp(f"online-{request.param}")
    backend = open_backend(request.param, base)
    pki = make_pki(base)
    backend.apply(pki)
    ca = start_ca(pki, workers=2)
    yield OnlineCA(backend, pki, ca)
    ca.stop()
    backend.close()


def test_sign_records_the_certificate(online: OnlineCA, tmp_path: Path) -> None:
    from cryptography.hazmat.primitives.serialization import Encoding

    _, _, cert = online.certificate("svc.example.com", tmp_path)
    assert online.stored(cert) == cert.public_bytes(Encoding.DER)
    origin = online.backend.scalar(
        "SELECT origin FROM certificates WHERE serial = :s", s=str(cert.serial_number)
    )
    assert origin == "sign"


def test_a_token_is_used_once(online: OnlineCA, tmp_path: Path) -> None:
    token = online.token("once.example.com")
    crt, key = tmp_path / "a.crt", tmp_path / "a.key"
    online.pki.step("ca", "certificate", "once.example.com", str(crt), str(key), "--token", token)
    again = online.pki.step(
        "ca", "certificate", "once.example.com", str(tmp_path / "b.crt"), str(tmp_path / "b.key"),
        "--token", token, check=False,
    )  # fmt: skip
    assert again.returncode != 0
    assert "token already used" in again.stderr
    assert online.backend.scalar("SELECT count(*) FROM certificates WHERE subject = 'once.example.com'") == 1


def test_renew_records_the_new_certificate(online: OnlineCA, tmp_path: Path) -> None:
    crt, key, old = online.certificate("renew.example.com", tmp_path)
    online.pki.step("ca", "renew", "--force", str(crt), str(key))
    new = x509.load_pem_x509_certificate(crt.read_bytes())
    assert new.serial_number != old.serial_number
    assert new.subject == old.subject
    assert online.stored(new) is not None
    origin = online.backend.scalar(
        "SELECT origin FROM certificates WHERE serial = :s", s=str(new.serial_number)
    )
    assert origin == "renew"


@pytest.mark.parametrize("how", ["token", "mtls"])
def test_a_revoked_certificate_cannot_be_renewed(online: OnlineCA, tmp_path: Path, how: str) -> None:
    crt, key, cert = online.certificate(f"revoke-{how}.example.com", tmp_path)
    serial = str(cert.serial_number)
    if how == "token":
        online.pki.step(
            "ca", "revoke", serial, "--reason", "gone",
            "--provisioner-password-file", str(online.pki.password_file),
        )  # fmt: skip
    else:
        online.pki.step("ca", "revoke", "--cert", str(crt), "--key", str(key), "--reasonCode", "1")
    assert online.backend.scalar("SELECT count(*) FROM revocations WHERE serial = :s", s=serial) == 1
    renew = online.pki.step("ca", "renew", "--force", str(crt), str(key), check=False)
    assert renew.returncode != 0
    assert "revoked" in renew.stderr or "Unauthorized" in renew.stderr, renew.stderr
    status, body = online.ca.request("POST", "/1.0/renew", b"", context=_client_context(online, crt, key))
    assert status == 401, body


def _client_context(online: OnlineCA, crt: Path, key: Path) -> object:
    ctx = online.ca.ssl_context()
    ctx.load_cert_chain(str(crt), str(key))
    return ctx
