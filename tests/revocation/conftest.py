"""A real step-ca with revocation lists enabled, and the user-side steps the tests repeat:
issue a leaf with ``step ca certificate``, revoke it with ``step ca revoke``, fetch the lists with
``step ca crl``, and check with the real ``openssl``."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from stepca.crypto.keys import load_private_key
from tests.helpers import PASSWORD, PKI, CAProcess, free_port, make_pki, start_ca


@dataclass
class CRLCA:
    ca: CAProcess
    work: Path
    insecure_port: int = 0

    @property
    def pki(self) -> PKI:
        return self.ca.pki

    def issue(self, name: str, *extra: str) -> tuple[Path, int]:
        """``step ca certificate`` for ``name``: (the certificate file, its serial)."""
        crt, key = self.work / f"{name}.crt", self.work / f"{name}.key"
        self.pki.step(
            "ca", "certificate", name, str(crt), str(key), "--provisioner-password-file",
            str(self.pki.password_file), "--force", *extra,
        )  # fmt: skip
        return crt, x509.load_pem_x509_certificate(crt.read_bytes()).serial_number

    def revoke(self, serial: int, *extra: str) -> None:
        self.pki.step(
            "ca", "revoke", str(serial), "--provisioner-password-file", str(self.pki.password_file), *extra
        )

    def fetch(self, name: str, *extra: str) -> Path:
        """``step ca crl --pem --out`` (``--delta`` in ``extra`` for the delta)."""
        out = self.work / name
        self.pki.step("ca", "crl", "--pem", "--out", str(out), *extra)
        return out

    def crl(self, path: Path) -> x509.CertificateRevocationList:
        return x509.load_pem_x509_crl(path.read_bytes())


def openssl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["openssl", *args], capture_output=True, text=True, timeout=30)


def verify(
    ca: CRLCA, leaf: Path, *crl_files: Path, flags: tuple[str, ...] = ("-crl_check",)
) -> subprocess.CompletedProcess[str]:
    """``openssl verify FLAGS -CRLfile ... -CAfile root -untrusted intermediate leaf``."""
    crls = [a for f in crl_files for a in ("-CRLfile", str(f))]
    return openssl(
        "verify",
        *flags,
        *crls,
        "-CAfile",
        str(ca.pki.root),
        "-untrusted",
        str(ca.pki.intermediate),
        str(leaf),
    )


def root_crl(pki: PKI, path: Path) -> Path:
    """An empty CRL of the offline root (for ``-crl_check_all``, which checks the intermediate
    too): made with the root key ``step ca init`` left in secrets/."""
    key = load_private_key((pki.step_path / "secrets" / "root_ca_key").read_bytes(), PASSWORD.encode())
    root = x509.load_pem_x509_certificate(pki.root.read_bytes())
    now = datetime.now(UTC)
    crl = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(root.subject)
        .last_update(now - timedelta(minutes=1))
        .next_update(now + timedelta(days=1))
        .add_extension(x509.CRLNumber(1), critical=False)
        .sign(key, hashes.SHA256())  # type: ignore[arg-type]
    )
    path.write_bytes(crl.public_bytes(serialization.Encoding.PEM))
    return path


def crl_pki(
    base: Path,
    crl: dict[str, Any] | None,
    *,
    insecure: bool = False,
    claims: dict[str, Any] | None = None,
    ocsp: dict[str, Any] | None = None,
) -> tuple[PKI, int]:
    base.mkdir(parents=True, exist_ok=True)
    pki = make_pki(base)
    port = free_port() if insecure else 0

    def edit(cfg: dict[str, Any]) -> None:
        if crl is not None:
            cfg["crl"] = crl
        if ocsp is not None:
            cfg["ocsp"] = ocsp
        if insecure:
            cfg["insecureAddress"] = f"127.0.0.1:{port}"
        if claims:
            cfg["authority"]["claims"] = claims

    pki.edit_config(edit)
    return pki, port


@pytest.fixture(scope="package")
def crl_ca(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CRLCA]:
    """One CA with ``crl: {enabled, generateOnRevoke}`` and an insecureAddress, shared by the
    tests that only issue, revoke and read."""
    base = tmp_path_factory.mktemp("crl-pki")
    pki, port = crl_pki(base, {"enabled": True, "generateOnRevoke": True}, insecure=True)
    ca = start_ca(pki, workers=2)
    work = base / "work"
    work.mkdir()
    yield CRLCA(ca, work, port)
    ca.stop()


@pytest.fixture
def ca_with(tmp_path: Path) -> Iterator[Callable[..., CRLCA]]:
    """Start a CA with a given ``crl`` block (and environment); stopped at teardown."""
    started: list[CAProcess] = []

    def start(
        crl: dict[str, Any] | None, *, env: dict[str, str] | None = None, workers: int = 2, **kwargs: Any
    ) -> CRLCA:
        pki, port = crl_pki(tmp_path / f"pki{len(started)}", crl, **kwargs)
        ca = start_ca(pki, workers=workers, env={**pki.env, **(env or {})})
        started.append(ca)
        work = tmp_path / f"work{len(started)}"
        work.mkdir()
        return CRLCA(ca, work, port)

    yield start
    for ca in started:
        ca.stop()


def wait_for(check: Callable[[], Any], timeout: float, what: str) -> Any:
    """Poll ``check`` (bounded) until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.25)
