"""The X.509 API handlers, wire-compatible with smallstep's step-ca (``api/*.go``)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Protocol

import orjson
from aiohttp import web

from stepca import metrics
from stepca.api.render import error_response, internal_error, issued_body, json_response
from stepca.errors import BadRequest, PayloadTooLarge, ServiceUnavailable, StepError
from stepca.messages import (
    ERROR_DECODING_JSON,
    HealthResponse,
    ProvisionerKeyResponse,
    ProvisionersResponse,
    RekeyRequest,
    RevokeRequest,
    RevokeResponse,
    RootResponse,
    RootsResponse,
    SignRequest,
    VersionResponse,
)
from stepca.redact import MESSAGE_LIMIT, clean
from stepca.requestctx import remote_address

if TYPE_CHECKING:
    from cryptography import x509

    from stepca.authority.authority import Authority, Issued

MAX_BODY = 1 << 20  # 1 MiB


class AuthorityRef(Protocol):
    """The handlers' view of the server: the current authority (swapped on reload) and a logger."""

    @property
    def current(self) -> Authority: ...

    def log_request(
        self, request: web.BaseRequest, status: int, started: float, fields: dict[str, Any]
    ) -> None: ...

    def log_error(self, request: web.Request, exc: BaseException) -> None: ...


Handler = Callable[[web.Request, "Authority", dict[str, Any]], Awaitable[web.Response]]


def _route(request: web.Request) -> str:
    """The route's template (``/1.0/sign``, ``/ssh/sign``...), never the raw path: a bounded label."""
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "other"


#: a handler sets ``fields[QUIET] = True`` for a successful request that is summed up elsewhere
#: instead of logged one line each (OCSP, at thousands per second: the responder logs counts)
QUIET = "quiet"


def endpoint(ref: AuthorityRef, fn: Handler) -> Callable[[web.Request], Awaitable[web.Response]]:
    """Wrap a handler: current authority in, StepError → {status, message}, one log line out."""

    async def handle(request: web.Request) -> web.Response:
        started = time.perf_counter()
        fields: dict[str, Any] = {}
        remote_address.set(request.remote or "")  # this request's task only (the audit log)
        try:
            response = await fn(request, ref.current, fields)
        except StepError as exc:
            # messages may quote input (a serial, a duration, a query value): never echo a secret
            exc.detail = clean(exc.detail, MESSAGE_LIMIT)
            response = error_response(exc)
            fields["error"] = exc.log_detail or exc.detail
            if exc.status in (401, 403) and metrics.enabled():
                metrics.refusal(_route(request), str(fields["error"]))
        except Exception as exc:
            ref.log_error(request, exc)
            response = internal_error()
        if not fields.pop(QUIET, False) or response.status >= 400:
            ref.log_request(request, response.status, started, fields)
        if metrics.enabled():
            metrics.request(_route(request), request.method, response.status, time.perf_counter() - started)
        return response

    return handle


async def read_json(request: web.Request) -> object:
    """The decoded body (1 MiB cap); the message types' ``from_json`` check its shape."""
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise PayloadTooLarge(f"the request body is larger than {MAX_BODY} bytes")
    try:
        body = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise PayloadTooLarge(f"the request body is larger than {MAX_BODY} bytes") from None
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        raise BadRequest(ERROR_DECODING_JSON) from None


def peer_certificate(request: web.Request) -> x509.Certificate | None:
    transport = request.transport
    ssl_obj = transport.get_extra_info("ssl_object") if transport is not None else None
    der = ssl_obj.getpeercert(binary_form=True) if ssl_obj is not None else None
    if not der:
        return None
    from cryptography import x509

    return x509.load_der_x509_certificate(der)


# ----------------------------------------------------------------------------------- read-only


async def health(request: web.Request, ca: Authority, fields: dict[str, Any]) -> web.Response:
    problem = ca.store.health()
    if problem is not None:  # writes would not be recorded: not ok (503 {status, message})
        raise ServiceUnavailable(f"the database cannot record writes: {problem}")
    return json_response(HealthResponse())


async def version(request: web.Request, ca: Authority, fields: dict[str, Any]) -> web.Response:
    from stepca import API_COMPAT_VERSION

    return json_response(VersionResponse(API_COMPAT_VERSION))


async def root(request: web.Request, ca: Authority, fields: dict[str, Any]) -> web.Response:
    return json_response(RootResponse(ca.root(request.match_info["sha"])))


async def roots(request: web.Request, ca: Authority, fields: dict[str, Any]) -> web.Response:
    return json_response(RootsResponse(tuple(ca.root_pems)))


async def roots_pem(request: web.Request, ca: Authority, fields: dict[str, Any]) -> web.Response:
    return web.Response(text="".join(ca.root_pems), content_type="application/x-pem-file")


async def intermediates(request: web.Request, ca: Authority, fields: dict[str, Any]) -> web.Response:
    return json_response(RootsResponse(tuple(ca.chain_pems)))


async def intermediates_pem(request: web.Request, ca: Authority, fields: dict[str, Any]) -> web.Response:
    return web.Response(text="".join(ca.chain_pems), content_type="application/x-pem-file")


async def federation(request: web.Request, ca: Authority, fields: dict[str, Any]) -> web.Response:
    return json_response(RootsResponse(tuple(ca.federated_pems)))


async def provisioners(request: web.Request, ca: Authority, fields: dict[str, Any]) -> web.Response:
    cursor = request.query.get("cursor", "")
    limit_text = request.query.get("limit", "")
    try:
        limit = int(limit_text) if limit_text else 0
    except ValueError:
        raise BadRequest(f"limit {limit_text!r} is not a number") from None
    if limit < 0:
        raise BadRequest("limit cannot be negative")
    items, next_cursor = ca.provisioners.page(cursor, limit)
    return json_response(ProvisionersResponse(tuple(items), next_cursor))


async def encrypted_key(request: web.Request, ca: Authority, fields: dict[str, Any]) -> web.Response:
    return json_response(ProvisionerKeyResponse(ca.encrypted_key(request.match_info["kid"])))


# ----------------------------------------------------------------------------------- issuance


async def sign(request: web.Request, ca: Authority, fields: dict[str, Any]) -> web.Response:
    req = SignRequest.from_json(await read_json(request))
    issued = await ca.sign(req.csr, req.ott, req.not_before, req.not_after)
    _log_issued(fields, issued)
    return json_response(issued_body(issued, ca.tls_options), status=201)


async def renew(request: web.Request, ca: Authority, fields: dict[str, Any]) -> web.Response:
    auth = request.headers.get("Authorization", "")
    if auth[:7].lower() == "bearer ":
        issued = await ca.renew_with_token(auth[7:].strip())
    else:
        cert = peer_certificate(request)
        if cert is None:
            raise BadRequest("missing client certificate")
        issued = await ca.renew(cert)
    _log_issued(fields, issued)
    return json_response(issued_body(issued, ca.tls_options), status=201)


async def rekey(request: web.Request, ca: Authority, fields: dict[str, Any]) -> web.Response:
    body = await read_json(request)
    cert = peer_certificate(request)
    if cert is None:
        raise BadRequest("missing client certificate")
    req = RekeyRequest.from_json(body)
    issued = await ca.rekey(cert, req.csr)
    _log_issued(fields, issued)
    return json_response(issued_body(issued, ca.tls_options), status=201)


async def revoke(request: web.Request, ca: Authority, fields: dict[str, Any]) -> web.Response:
    req = RevokeRequest.from_json(await read_json(request))
    await ca.revoke(
        serial=req.serial,
        ott=req.ott,
        mtls_cert=None if req.ott else peer_certificate(request),
        reason_code=int(req.reason_code),
        reason=req.reason,
        passive=req.passive,
        invalidity_date=req.invalidity_timestamp,
    )
    fields["serial"] = req.serial
    return json_response(RevokeResponse())


def _log_issued(fields: dict[str, Any], issued: Issued) -> None:
    fields["serial"] = str(issued.serial)
    if issued.provisioner is not None:
        fields["provisioner"] = issued.provisioner.name
    if issued.subject:
        fields["subject"] = issued.subject
