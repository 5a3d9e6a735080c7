"""The revocation routes: ``/crl`` (DER, ``?pem`` for PEM), ``/crl/delta`` and ``/ssh/krl``,
served from the worker's cache (``stepca.revocation.publisher``), never built here; and the OCSP
responder, ``POST /ocsp`` and ``GET /ocsp/{base64 request}`` (``stepca.revocation.ocsp``).

``INSECURE_ROUTES`` is what the plain-HTTP listener on ``insecureAddress`` serves: CRLs and OCSP
responses are signed, so clients may fetch them over HTTP (RFC 5280 4.2.1.13, RFC 6960 A.1). The
KRL is not signed and is only served over TLS.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

from stepca.api.handlers import QUIET
from stepca.errors import NotFound
from stepca.revocation import ocsp as _ocsp
from stepca.revocation.publisher import BASE, DELTA, KRL, Published, RevocationPublisher

if TYPE_CHECKING:
    from stepca.api.handlers import Handler
    from stepca.authority.authority import Authority

#: the worker's publisher, set on every app it serves
PUBLISHER = web.AppKey("stepca.revocation.publisher", RevocationPublisher)
#: the worker's OCSP responder, set on every app it serves
RESPONDER = web.AppKey("stepca.revocation.ocsp", _ocsp.OCSPResponder)
#: an OCSP request is a few hundred bytes; anything much larger is not one
MAX_OCSP_REQUEST = 16 * 1024


def _publisher(request: web.Request) -> RevocationPublisher:
    return request.app[PUBLISHER]


def _crl_response(request: web.Request, doc: Published, name: str) -> web.Response:
    headers = {"Cache-Control": "no-cache", "ETag": f'"{doc.number}"'}
    if "pem" in request.query:
        headers["Content-Disposition"] = f'attachment; filename="{name}.pem"'
        return web.Response(body=doc.pem, content_type="application/x-pem-file", headers=headers)
    headers["Content-Disposition"] = f'attachment; filename="{name}.der"'
    return web.Response(body=doc.der, content_type="application/pkix-crl", headers=headers)


async def crl(request: web.Request, ca: Authority, fields: dict[str, Any]) -> web.Response:
    doc = await _publisher(request).document(BASE)
    fields["crl_number"] = doc.number
    return _crl_response(request, doc, "crl")


async def crl_delta(request: web.Request, ca: Authority, fields: dict[str, Any]) -> web.Response:
    doc = await _publisher(request).document(DELTA)
    fields["crl_number"] = doc.number
    return _crl_response(request, doc, "crl-delta")


async def ssh_krl(request: web.Request, ca: Authority, fields: dict[str, Any]) -> web.Response:
    doc = await _publisher(request).document(KRL)
    fields["krl_version"] = doc.number
    return web.Response(
        body=doc.der,
        content_type="application/octet-stream",
        headers={
            "Cache-Control": "no-cache",
            "ETag": f'"{doc.number}"',
            "Content-Disposition": 'attachment; filename="revoked_keys.krl"',
        },
    )


def _ocsp_response(der: bytes, fields: dict[str, Any]) -> web.Response:
    if len(der) < 16:  # an unsigned status (malformedRequest, unauthorized, tryLater, ...)
        fields["ocsp"] = _ocsp.UNSUCCESSFUL.get(der, "error")
    else:
        fields[QUIET] = True  # counted, and logged once a minute by the responder
    return web.Response(body=der, content_type="application/ocsp-response")


def _responder(request: web.Request) -> _ocsp.OCSPResponder:
    responder = request.app.get(RESPONDER)
    if responder is None or not responder.enabled:
        raise NotFound("the OCSP responder is not enabled")
    return responder


async def ocsp_post(request: web.Request, ca: Authority, fields: dict[str, Any]) -> web.Response:
    """RFC 6960 A.1.1: the DER request as the body (``application/ocsp-request``)."""
    responder = _responder(request)
    if request.content_length is not None and request.content_length > MAX_OCSP_REQUEST:
        return _ocsp_response(_ocsp.MALFORMED, fields)
    try:
        body = await request.read()  # read already, within the body timeout, by the worker
    except web.HTTPRequestEntityTooLarge:
        return _ocsp_response(_ocsp.MALFORMED, fields)
    if len(body) > MAX_OCSP_REQUEST:
        return _ocsp_response(_ocsp.MALFORMED, fields)
    return _ocsp_response(await responder.respond(body), fields)


async def ocsp_get(request: web.Request, ca: Authority, fields: dict[str, Any]) -> web.Response:
    """RFC 6960 A.1.1: ``GET {url}/{url-encoding of base-64 encoding of the DER request}``
    (the URL-safe alphabet is taken too)."""
    import base64
    import binascii

    responder = _responder(request)
    raw = request.match_info["request"]
    if len(raw) > MAX_OCSP_REQUEST * 2:
        return _ocsp_response(_ocsp.MALFORMED, fields)
    text = raw.strip().replace("-", "+").replace("_", "/").replace(" ", "+")
    try:
        body = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        return _ocsp_response(_ocsp.MALFORMED, fields)
    return _ocsp_response(await responder.respond(body), fields)


INSECURE_ROUTES: list[tuple[str, str, Handler]] = [
    ("GET", "crl", crl),
    ("GET", "crl/delta", crl_delta),
    ("POST", "ocsp", ocsp_post),
    # any character, newlines included (``.`` stops at one): what is not base64 is malformedRequest
    ("GET", r"ocsp/{request:[\s\S]+}", ocsp_get),
]

ROUTES: list[tuple[str, str, Handler]] = [*INSECURE_ROUTES, ("GET", "ssh/krl", ssh_krl)]
