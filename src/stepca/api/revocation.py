"""The revocation-list routes: ``/crl`` (DER, ``?pem`` for PEM), ``/crl/delta`` and
``/ssh/krl``, served from the worker's cache (``stepca.revocation.publisher``), never built here.

``INSECURE_ROUTES`` is what the plain-HTTP listener on ``insecureAddress`` serves: CRLs are
signed, so clients may fetch them over HTTP (RFC 5280 4.2.1.13). The KRL is not signed and is
only served over TLS.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

from stepca.revocation.publisher import BASE, DELTA, KRL, Published, RevocationPublisher

if TYPE_CHECKING:
    from stepca.api.handlers import Handler
    from stepca.authority.authority import Authority

#: the worker's publisher, set on every app it serves
PUBLISHER = web.AppKey("stepca.revocation.publisher", RevocationPublisher)


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


INSECURE_ROUTES: list[tuple[str, str, Handler]] = [
    ("GET", "crl", crl),
    ("GET", "crl/delta", crl_delta),
]

ROUTES: list[tuple[str, str, Handler]] = [*INSECURE_ROUTES, ("GET", "ssh/krl", ssh_krl)]
