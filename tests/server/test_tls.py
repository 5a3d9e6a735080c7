"""The ca.json ``tls`` block, checked with real handshakes by ``openssl s_client``: minVersion,
maxVersion, cipherSuites (smallstep's Go names), at start-up and after a reload."""

from __future__ import annotations

import os
import signal
import ssl
import subprocess
import time
from typing import Any

import pytest

from tests.helpers import PASSWORD, PKI, STEP_CA, CAProcess, assert_one_line_error


def _openssl_has(cipher: str) -> bool:
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).set_ciphers(cipher)
    except ssl.SSLError:
        return False
    return True


def handshake(ca: CAProcess, *args: str) -> str | None:
    """The negotiated "protocol cipher", or None when the handshake fails."""
    result = subprocess.run(
        [
            "openssl",
            "s_client",
            "-connect",
            f"127.0.0.1:{ca.pki.port}",
            "-servername",
            "localhost",
            "-CAfile",
            str(ca.pki.root),
            "-verify_return_error",
            "-brief",
            *args,
        ],
        input="",
        capture_output=True,
        text=True,
        timeout=30,
    )
    out = result.stdout + result.stderr
    if result.returncode != 0 or "Protocol version:" not in out:
        return None
    proto = out.split("Protocol version: ", 1)[1].split()[0]
    cipher = out.split("Ciphersuite: ", 1)[1].split()[0]
    return f"{proto} {cipher}"


def sighup(ca: CAProcess) -> None:
    before = ca.log().count("reloaded configuration")
    os.kill(ca.proc.pid, signal.SIGHUP)
    deadline = time.monotonic() + 20
    while ca.log().count("reloaded configuration") < before + ca.workers:
        assert time.monotonic() < deadline, ca.log()
        time.sleep(0.05)


def set_tls(pki: PKI, **tls: Any) -> None:
    pki.edit_config(lambda c: c["tls"].update(tls))


def test_tls_versions_and_cipher_suites(pki: PKI, ca_factory: Any) -> None:
    # step ca init's block: TLS 1.2-1.3, ECDHE-ECDSA with ChaCha20-Poly1305 or AES-128-GCM
    ca: CAProcess = ca_factory(pki, workers=1)
    assert handshake(ca, "-tls1_2") is not None
    assert (
        handshake(ca, "-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-GCM-SHA256")
        == "TLSv1.2 ECDHE-ECDSA-AES128-GCM-SHA256"
    )
    assert (
        handshake(ca, "-tls1_2", "-cipher", "ECDHE-ECDSA-CHACHA20-POLY1305")
        == "TLSv1.2 ECDHE-ECDSA-CHACHA20-POLY1305"
    )
    assert handshake(ca, "-tls1_2", "-cipher", "ECDHE-ECDSA-AES256-GCM-SHA384") is None  # not in cipherSuites
    assert handshake(ca, "-tls1_3") is not None

    # the block is applied to the live server on reload: only new handshakes see it
    set_tls(pki, minVersion=1.3, maxVersion=1.3)
    sighup(ca)
    assert handshake(ca, "-tls1_2") is None
    assert (
        handshake(ca, "-tls1_3", "-ciphersuites", "TLS_AES_128_GCM_SHA256")
        == "TLSv1.3 TLS_AES_128_GCM_SHA256"
    )

    set_tls(pki, minVersion=1.2, maxVersion=1.2, cipherSuites=["TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384"])
    sighup(ca)
    assert handshake(ca, "-tls1_3") is None
    assert handshake(ca, "-tls1_2") == "TLSv1.2 ECDHE-ECDSA-AES256-GCM-SHA384"
    assert handshake(ca, "-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-GCM-SHA256") is None


def test_unknown_cipher_suites_refused_at_start_and_on_reload(pki: PKI, ca_factory: Any) -> None:
    good = pki.ca_json.read_text()
    set_tls(pki, cipherSuites=["TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", "TLS_FOO_BAR", "TLS_NOPE"])
    result = subprocess.run(
        [STEP_CA, str(pki.ca_json), "--password-file", str(pki.password_file), "--workers", "1"],
        env=pki.env,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    line = assert_one_line_error(result)
    assert line == "error: ca.json: tls.cipherSuites: unsupported cipher suites: TLS_FOO_BAR, TLS_NOPE"

    pki.ca_json.write_text(good)
    ca: CAProcess = ca_factory(pki, workers=1)
    set_tls(pki, cipherSuites=["TLS_WHAT"])
    refused = ca.log().count("reload failed")
    os.kill(ca.proc.pid, signal.SIGHUP)
    deadline = time.monotonic() + 20
    while ca.log().count("reload failed") == refused:
        assert time.monotonic() < deadline, ca.log()
        time.sleep(0.05)
    assert "unsupported cipher suites: TLS_WHAT" in ca.log()
    assert handshake(ca, "-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-GCM-SHA256") is not None


@pytest.mark.parametrize(
    ("tls", "message"),
    [
        ({"minVersion": 1.3, "maxVersion": 1.2}, "tls.minVersion is greater than tls.maxVersion"),
        ({"minVersion": 1.5}, "tls.minVersion: unsupported TLS version 1.5"),
        pytest.param(
            {"cipherSuites": ["TLS_RSA_WITH_3DES_EDE_CBC_SHA"]},
            "none of the TLS 1.2 cipher suites is available",
            marks=pytest.mark.skipif(_openssl_has("DES-CBC3-SHA"), reason="this OpenSSL still offers 3DES"),
        ),
    ],
)
def test_bad_tls_blocks_stop_the_start(pki: PKI, tls: dict[str, Any], message: str) -> None:
    set_tls(pki, **tls)
    result = subprocess.run(
        [STEP_CA, str(pki.ca_json), "--password-file", str(pki.password_file), "--workers", "1"],
        env=pki.env,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert message in assert_one_line_error(result)
    assert PASSWORD not in result.stderr
