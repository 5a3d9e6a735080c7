"""A live CA for the API tests that talk HTTP: SSH CA, CRLs, OCSP, an insecureAddress, and a
client certificate it issued (for mTLS)."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import CAProcess, free_port, make_pki, start_ca


@dataclass
class LiveCA:
    ca: CAProcess
    insecure_url: str
    client_crt: Path
    client_key: Path


def plain_get(url: str) -> tuple[int, bytes]:
    """GET over plain HTTP (the insecureAddress): status and body, errors included."""
    try:
        with urllib.request.urlopen(url, timeout=30) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


@pytest.fixture(scope="package")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveCA]:
    base = tmp_path_factory.mktemp("api-live")
    pki = make_pki(base, ssh=True)
    insecure_port = free_port()

    def edit(cfg: dict[str, Any]) -> None:
        cfg["crl"] = {"enabled": True}
        cfg["ocsp"] = {"enabled": True}
        cfg["insecureAddress"] = f"127.0.0.1:{insecure_port}"

    pki.edit_config(edit)
    ca = start_ca(pki, workers=1)
    crt, key = base / "client.crt", base / "client.key"
    pki.step("ca", "certificate", "client.example.com", str(crt), str(key),
             "--provisioner-password-file", str(pki.password_file))  # fmt: skip
    yield LiveCA(ca, f"http://127.0.0.1:{insecure_port}", crt, key)
    ca.stop()
