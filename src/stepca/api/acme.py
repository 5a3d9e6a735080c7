"""The ACME routes (RFC 8555) at ``/acme/{provisioner}/...`` and ``/2.0/acme/{provisioner}/...``.

Handlers only parse the route, call ``AcmeService`` and render its ``Reply``. Errors become
``application/problem+json`` here, the one edge for ACME (``StepError`` from the core maps to
the nearest ACME type; anything unexpected is a bare ``serverInternal``). Every response carries
a fresh ``Replay-Nonce`` (a ``badNonce`` too), ``Cache-Control: no-store`` and the directory
``Link``.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

import orjson
from aiohttp import web

from stepca import metrics
from stepca.acme.problems import AcmeProblem, malformed, not_found
from stepca.acme.service import AcmeService, Links, Reply
from stepca.api.handlers import _route
from stepca.errors import StepError

if TYPE_CHECKING:
    from stepca.api.handlers import AuthorityRef
    from stepca.authority.authority import Authority
    from stepca.provisioner.acme import ACMEProvisioner

#: the worker's ACME service (nonce key, running validations), set on the app it serves
ACME = web.AppKey("stepca.acme.service", AcmeService)
PREFIXES = ("/acme/", "/2.0/acme/")
_PROBLEM = "application/problem+json"
_JOSE = "application/jose+json"

AcmeHandler = Callable[
    [web.Request, "Authority", AcmeService, "ACMEProvisioner", Links, bytes, str], Awaitable[Reply]
]


def provisioner_for(ca: Authority, segment: str) -> ACMEProvisioner:
    """The ACME provisioner a URL names: its name or its id (``acme/NAME``), URL-escaped."""
    from stepca.provisioner.acme import ACMEProvisioner

    wanted = unquote(segment)
    for p in ca.provisioners.all:
        if isinstance(p, ACMEProvisioner) and wanted in (p.name, p.id):
            return p
    raise AcmeProblem("malformed", f"no ACME provisioner named {wanted!r}", 404)


def _links(request: web.Request) -> tuple[str, Links]:
    raw = request.raw_path.split("?", 1)[0]
    prefix = next(p for p in PREFIXES if raw.startswith(p))
    segment = raw[len(prefix) :].split("/", 1)[0]
    return segment, Links(f"{request.scheme}://{request.host}{prefix}{segment}")


def problem_response(problem: AcmeProblem) -> web.Response:
    response = web.Response(
        body=orjson.dumps(problem.to_json()), status=problem.status, content_type=_PROBLEM
    )
    response.headers.update(problem.headers)
    return response


def _as_problem(exc: StepError) -> AcmeProblem:
    kind = {400: "malformed", 401: "unauthorized", 403: "unauthorized", 404: "malformed"}.get(
        exc.status, "serverInternal"
    )
    return AcmeProblem(kind, exc.detail or exc.message, exc.status)


def render(reply: Reply, directory: str) -> web.Response:
    if isinstance(reply.body, dict):
        response = web.Response(
            body=orjson.dumps(reply.body), status=reply.status, content_type="application/json"
        )
    elif reply.content_type:
        response = web.Response(text=reply.body, status=reply.status, content_type=reply.content_type)
    else:
        response = web.Response(status=reply.status)
    if reply.location:
        response.headers["Location"] = reply.location
    for url, rel in reply.links:
        response.headers.add("Link", f'<{url}>;rel="{rel}"')
    if reply.retry_after:
        response.headers["Retry-After"] = str(reply.retry_after)
    return response


def endpoint(
    ref: AuthorityRef, fn: AcmeHandler, *, signed: bool = True
) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handle(request: web.Request) -> web.Response:
        started = time.perf_counter()
        fields: dict[str, Any] = {}
        service = request.app[ACME]
        directory = ""
        try:
            segment, links = _links(request)
            directory = links("directory")
            ca = ref.current
            p = provisioner_for(ca, segment)
            fields["provisioner"] = p.name
            body = b""
            if signed:
                ctype = request.headers.get("Content-Type", "").split(";", 1)[0].strip().lower()
                if ctype != _JOSE:
                    raise AcmeProblem("malformed", f"the Content-Type must be {_JOSE}", 415)
                body = await request.read()
            url = f"{request.scheme}://{request.host}{request.raw_path}"
            response = render(await fn(request, ca, service, p, links, body, url), directory)
        except AcmeProblem as exc:
            response = problem_response(exc)
            fields["error"] = f"{exc.type}: {exc.detail}"
        except StepError as exc:
            problem = _as_problem(exc)
            response = problem_response(problem)
            fields["error"] = exc.log_detail or exc.detail
        except Exception as exc:
            ref.log_error(request, exc)
            response = problem_response(
                AcmeProblem("serverInternal", "the server could not process the request", 500)
            )
        try:
            response.headers["Replay-Nonce"] = await service.new_nonce()
        except Exception as exc:  # the database is down: the response says so already, or will
            fields.setdefault("error", f"no nonce: {exc.__class__.__name__}")
        response.headers["Cache-Control"] = "no-store"
        if directory:
            response.headers.add("Link", f'<{directory}>;rel="index"')
        ref.log_request(request, response.status, started, fields)
        if metrics.enabled():  # the same request metrics as the step API's (by route template)
            route = _route(request)
            if response.status in (401, 403) and "error" in fields:
                metrics.refusal(route, str(fields["error"]))
            metrics.request(route, request.method, response.status, time.perf_counter() - started)
        return response

    return handle


# ----------------------------------------------------------------------------------- handlers


async def directory(
    request: web.Request,
    ca: Authority,
    s: AcmeService,
    p: ACMEProvisioner,
    links: Links,
    body: bytes,
    url: str,
) -> Reply:
    return Reply(200, s.directory(p, links))


async def new_nonce(
    request: web.Request,
    ca: Authority,
    s: AcmeService,
    p: ACMEProvisioner,
    links: Links,
    body: bytes,
    url: str,
) -> Reply:
    return Reply(200 if request.method == "HEAD" else 204, "", content_type="")


async def new_account(
    request: web.Request,
    ca: Authority,
    s: AcmeService,
    p: ACMEProvisioner,
    links: Links,
    body: bytes,
    url: str,
) -> Reply:
    return await s.new_account(body, url, p, links)


async def account(
    request: web.Request,
    ca: Authority,
    s: AcmeService,
    p: ACMEProvisioner,
    links: Links,
    body: bytes,
    url: str,
) -> Reply:
    return await s.account(body, url, request.match_info["id"], p, links)


async def account_orders(
    request: web.Request,
    ca: Authority,
    s: AcmeService,
    p: ACMEProvisioner,
    links: Links,
    body: bytes,
    url: str,
) -> Reply:
    return await s.orders(body, url, request.match_info["id"], p, links)


async def new_order(
    request: web.Request,
    ca: Authority,
    s: AcmeService,
    p: ACMEProvisioner,
    links: Links,
    body: bytes,
    url: str,
) -> Reply:
    return await s.new_order(body, url, p, links)


async def order(
    request: web.Request,
    ca: Authority,
    s: AcmeService,
    p: ACMEProvisioner,
    links: Links,
    body: bytes,
    url: str,
) -> Reply:
    return await s.order(body, url, request.match_info["id"], p, links)


async def finalize(
    request: web.Request,
    ca: Authority,
    s: AcmeService,
    p: ACMEProvisioner,
    links: Links,
    body: bytes,
    url: str,
) -> Reply:
    return await s.finalize(body, url, request.match_info["id"], p, links, ca)


async def authz(
    request: web.Request,
    ca: Authority,
    s: AcmeService,
    p: ACMEProvisioner,
    links: Links,
    body: bytes,
    url: str,
) -> Reply:
    return await s.authz(body, url, request.match_info["id"], p, links)


async def challenge(
    request: web.Request,
    ca: Authority,
    s: AcmeService,
    p: ACMEProvisioner,
    links: Links,
    body: bytes,
    url: str,
) -> Reply:
    return await s.challenge(body, url, request.match_info["authz"], request.match_info["id"], p, links)


async def certificate(
    request: web.Request,
    ca: Authority,
    s: AcmeService,
    p: ACMEProvisioner,
    links: Links,
    body: bytes,
    url: str,
) -> Reply:
    return await s.certificate(body, url, request.match_info["id"], p, links, ca)


async def revoke_cert(
    request: web.Request,
    ca: Authority,
    s: AcmeService,
    p: ACMEProvisioner,
    links: Links,
    body: bytes,
    url: str,
) -> Reply:
    return await s.revoke(body, url, p, links, ca)


async def key_change(
    request: web.Request,
    ca: Authority,
    s: AcmeService,
    p: ACMEProvisioner,
    links: Links,
    body: bytes,
    url: str,
) -> Reply:
    return await s.key_change(body, url, p, links)


async def renewal_info(
    request: web.Request,
    ca: Authority,
    s: AcmeService,
    p: ACMEProvisioner,
    links: Links,
    body: bytes,
    url: str,
) -> Reply:
    from stepca.acme.ari import issuer_key_id, parse_cert_id, window

    cert_id = request.match_info["id"]
    serial = parse_cert_id(cert_id)
    if not cert_id.startswith(issuer_key_id(ca.issuer.cert) + "."):
        raise not_found("the certificate identifier names another issuer")
    record = await s.store.get_certificate(serial)
    if record is None:  # every certificate this CA issued has renewal information, ACME or not
        raise not_found("this CA issued no certificate with this identifier")
    revoked = await s.store.get_revocation(serial) is not None
    reply = window(record.not_before, record.not_after, revoked=revoked, now=time.time())
    return Reply(200, reply, retry_after=21600)


#: (method, path under /acme/{provisioner}/, handler, signed)
ROUTES: list[tuple[str, str, AcmeHandler, bool]] = [
    ("GET", "directory", directory, False),
    ("HEAD", "new-nonce", new_nonce, False),
    ("GET", "new-nonce", new_nonce, False),
    ("POST", "new-account", new_account, True),
    ("POST", "account/{id}", account, True),
    ("POST", "account/{id}/orders", account_orders, True),
    ("POST", "new-order", new_order, True),
    ("POST", "order/{id}", order, True),
    ("POST", "order/{id}/finalize", finalize, True),
    ("POST", "authz/{id}", authz, True),
    ("POST", "challenge/{authz}/{id}", challenge, True),
    ("POST", "certificate/{id}", certificate, True),
    ("POST", "revoke-cert", revoke_cert, True),
    ("POST", "key-change", key_change, True),
    ("GET", "renewal-info/{id}", renewal_info, False),
]


def add_routes(app: web.Application, ref: AuthorityRef) -> None:
    """Mount the ACME routes under both prefixes (before the catch-all, which answers another
    method on these paths with 405 and ``Allow``); described in ``api/spec/acme.json``."""
    for prefix in PREFIXES:
        base = prefix + "{provisioner}/"
        for method, path, fn, signed in ROUTES:
            app.router.add_route(method, base + path, endpoint(ref, fn, signed=signed))


__all__ = ["ACME", "add_routes", "malformed", "problem_response"]
