"""Routing edge cases on a live CA: what matches no route still gets the JSON error body."""

from __future__ import annotations

import urllib.request

from tests.api.conftest import LiveCA, plain_get


def test_regression_a_newline_in_the_path_is_the_json_404(live: LiveCA) -> None:
    """schemathesis: ``GET /ocsp/%3A%0AB`` matched no route, not even the catch-all (``.``
    stops at a newline), and aiohttp answered its own ``text/plain`` 404."""
    for path in ("/nope%0Athere", "/1.0/%0A", "/root/%0A/x"):
        status, body = live.ca.request("GET", path)
        assert status == 404, path
        assert body["status"] == 404 and isinstance(body["message"], str), path
    status, raw = plain_get(f"{live.insecure_url}/nope%0Athere")
    assert status == 404 and raw.startswith(b'{"status":404'), raw


def test_regression_ocsp_get_with_a_newline_is_malformed_request(live: LiveCA) -> None:
    from stepca.revocation.ocsp import MALFORMED

    for url in (f"{live.ca.url}/ocsp/%3A%0AB", f"{live.ca.url}/1.0/ocsp/AB%0ACD"):
        with urllib.request.urlopen(
            urllib.request.Request(url), context=live.ca.ssl_context(), timeout=30
        ) as resp:
            assert resp.status == 200
            assert resp.headers["Content-Type"] == "application/ocsp-response"
            assert resp.read() == MALFORMED
    assert plain_get(f"{live.insecure_url}/ocsp/AB%0ACD") == (200, MALFORMED)
