"""The CA's own TLS certificate is renewed at 2/3 of its life, in the live context."""

from __future__ import annotations

import socket
import time

from cryptography import x509

from tests.helpers import PKI, start_ca


def served_certificate(pki: PKI) -> x509.Certificate:
    import ssl

    ctx = ssl.create_default_context(cafile=str(pki.root))
    with (
        socket.create_connection(("127.0.0.1", pki.port), timeout=5) as raw,
        ctx.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        return x509.load_der_x509_certificate(tls.getpeercert(binary_form=True))


def test_server_certificate_is_renewed_before_it_expires(pki: PKI) -> None:
    ca = start_ca(pki, workers=1, env={**pki.env, "STEPCA_TLS_CERT_LIFETIME": "6s"})
    try:
        first = served_certificate(pki)
        # 6s after the 1 minute backdate; renewed at 2/3 of the 6s, checked every 0.6s
        lifetime = first.not_valid_after_utc - first.not_valid_before_utc
        assert lifetime.total_seconds() == 66
        deadline = time.time() + 20
        current = first
        while time.time() < deadline and current.serial_number == first.serial_number:
            time.sleep(1)
            current = served_certificate(pki)
        assert current.serial_number != first.serial_number
        # not renewed on every check: a fresh certificate lives until 2/3 of its life again
        time.sleep(1.5)
        assert served_certificate(pki).serial_number == current.serial_number
        assert current.not_valid_after_utc > first.not_valid_after_utc
        assert "renewed the server certificate" in ca.log()
        assert ca.request("GET", "/health") == (200, {"status": "ok"})
    finally:
        ca.stop()
