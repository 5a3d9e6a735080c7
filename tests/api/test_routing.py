"""Routing edge cases on a live CA: what matches no route still gets the JSON error body."""

from __future__ import annotations

import json
import urllib.error
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


def _call(method: str, url: str, live: LiveCA) -> tuple[int, str | None, bytes]:
    req = urllib.request.Request(url, method=method, data=b"{}" if method in ("POST", "PUT") else None)
    context = live.ca.ssl_context() if url.startswith("https") else None
    try:
        with urllib.request.urlopen(req, context=context, timeout=30) as resp:
            return resp.status, resp.headers.get("Allow"), resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("Allow"), exc.read()


def test_regression_a_served_path_with_another_method_is_405_with_allow(live: LiveCA) -> None:
    """schemathesis (unsupported_method): ``TRACE /health`` was a 404, as if the path did not
    exist; smallstep's router answers 405. Now 405, the JSON error body and ``Allow``."""
    https, http = live.ca.url, live.insecure_url
    for method, url, allow in [
        ("TRACE", f"{https}/health", "GET"),
        ("POST", f"{https}/1.0/roots", "GET"),
        ("GET", f"{https}/sign", "POST"),
        ("DELETE", f"{https}/ocsp/AAAA", "GET"),
        ("PUT", f"{https}/ssh/sign", "POST"),
        ("POST", f"{http}/crl", "GET"),  # the plain-HTTP listener too
    ]:
        status, header, body = _call(method, url, live)
        assert (status, header) == (405, allow), (method, url)
        assert json.loads(body) == {
            "status": 405,
            "message": f"The request method is not allowed: {method} is not allowed here.",
        }
    # an unknown path, or one only the HTTPS listener serves, is still 404 (no Allow)
    for method, url in [("GET", f"{https}/nope"), ("POST", f"{https}/nope"), ("GET", f"{http}/sign")]:
        status, header, body = _call(method, url, live)
        assert (status, header) == (404, None), (method, url)
        assert json.loads(body)["status"] == 404
