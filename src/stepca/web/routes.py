"""The web dashboard (issue 15 item 5; docs/dashboard.md): server-rendered pages at
``/dashboard`` on the HTTPS port, for admins only.

Login: a client certificate (``AdminCore.authorize_certificate``) or an admin provisioner's name
and password (``AdminCore.authorize_password``). Then a session: a random id in a cookie
(``HttpOnly; Secure; SameSite=Strict; Path=/dashboard``), stored as its SHA-256 with an expiry;
logout deletes it. Every POST carries a CSRF token derived from the session id (an HMAC),
compared in constant time; the login form has its own (a double-submit cookie). Pages are
Jinja2 templates with autoescape on, served with ``Content-Security-Policy: default-src 'self'``
(no inline script or style; the one script and stylesheet are package files).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from typing import TYPE_CHECKING, Any

import jinja2
from aiohttp import web

from stepca.errors import BadRequest, Forbidden, NotFound, StepError, Unauthorized
from stepca.redact import MESSAGE_LIMIT, clean

if TYPE_CHECKING:
    from cryptography import x509

    from stepca.admin.core import AdminCore
    from stepca.api.handlers import Handler
    from stepca.authority.authority import Authority
    from stepca.db.records import DashboardSession

PREFIX = "/dashboard"
COOKIE = "stepca_session"
LOGIN_COOKIE = "stepca_login"
SESSION_LIFETIME = 8 * 3600
#: a refused login answers after this long (a little rate limit; PBKDF2 is the rest)
FAILED_LOGIN_DELAY = 1.0
#: password logins checked at once per worker (each is 600,000 PBKDF2 rounds)
_LOGINS = asyncio.Semaphore(2)
PAGE_SIZE = 25
STATIC = {"dashboard.css": "text/css", "dashboard.js": "text/javascript"}
HEADERS = {
    "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}
REASONS = (
    (0, "unspecified"),
    (1, "keyCompromise"),
    (3, "affiliationChanged"),
    (4, "superseded"),
    (5, "cessationOfOperation"),
    (6, "certificateHold"),
)

_env = jinja2.Environment(
    loader=jinja2.PackageLoader("stepca.web", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
)


def _hash(sid: str) -> str:
    return hashlib.sha256(sid.encode()).hexdigest()


def _csrf(secret: str, purpose: str) -> str:
    return hmac.new(secret.encode(), purpose.encode(), hashlib.sha256).hexdigest()


def _time(ts: int | float | datetime) -> str:
    if isinstance(ts, datetime):
        ts = ts.timestamp()
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


_env.filters["utc"] = _time


@dataclass(frozen=True, slots=True)
class Ctx:
    """A logged-in request: its session and the CSRF token its forms carry."""

    session: DashboardSession
    csrf: str


def render(template: str, status: int = 200, **values: Any) -> web.Response:
    body = _env.get_template(template).render(**values)
    resp = web.Response(text=body, status=status, content_type="text/html", charset="utf-8")
    resp.headers.update(HEADERS)
    return resp


def redirect(location: str) -> web.Response:
    resp = web.Response(status=303, headers={"Location": location, **HEADERS})
    return resp


def _secure_cookie(resp: web.Response, name: str, value: str, max_age: int) -> None:
    resp.set_cookie(name, value, path=PREFIX, secure=True, httponly=True, samesite="Strict", max_age=max_age)


def _admin(request: web.Request) -> AdminCore:
    from stepca.api.admin import ADMIN

    core = request.app.get(ADMIN)
    if core is None:
        raise NotFound()
    return core


async def _session(request: web.Request, ca: Authority) -> tuple[DashboardSession, str] | None:
    sid = request.cookies.get(COOKIE, "")
    if not sid or len(sid) > 128:
        return None
    found = await ca.store.get_dashboard_session(_hash(sid), int(time.time()))
    return (found, sid) if found is not None else None


async def _form(request: web.Request) -> dict[str, str]:
    data = await request.post()
    return {k: v for k, v in data.items() if isinstance(v, str)}


Page = Callable[[web.Request, "Authority", Ctx, dict[str, str]], Awaitable[web.Response]]


def page(fn: Page) -> Handler:
    """A page for a logged-in admin: no session → the login page; a POST without the session's
    CSRF token → 403; a StepError → an HTML error page with its status."""

    async def handler(request: web.Request, ca: Authority, fields: dict[str, Any]) -> web.Response:
        try:
            found = await _session(request, ca)
            if found is None:
                if request.method != "GET":
                    raise Unauthorized("log in first")
                return redirect(f"{PREFIX}/login")
            session, sid = found
            if not await _admin(request).still_admin(session.provisioner, session.subject):
                await ca.store.delete_dashboard_session(session.id_hash)
                if request.method != "GET":
                    raise Unauthorized("no longer an admin: log in again")
                return redirect(f"{PREFIX}/login")
            ctx = Ctx(session, _csrf(sid, "csrf"))
            fields["admin"] = session.subject
            form: dict[str, str] = {}
            if request.method == "POST":
                form = await _form(request)
                if not hmac.compare_digest(form.get("csrf", "").encode(), ctx.csrf.encode()):
                    raise Forbidden("the form is missing its CSRF token or it does not match the session")
            return await fn(request, ca, ctx, form)
        except StepError as exc:
            exc.detail = clean(exc.detail, MESSAGE_LIMIT)  # messages may quote input
            fields["error"] = exc.log_detail or exc.detail
            return render("error.html", status=exc.status, status_code=exc.status, message=exc.detail)

    return handler


# ----------------------------------------------------------------------------------- login


def _login_page(request: web.Request, message: str = "", status: int = 200) -> web.Response:
    token = request.cookies.get(LOGIN_COOKIE, "")
    if not token or len(token) > 128:
        token = secrets.token_urlsafe(32)
    from stepca.api.handlers import peer_certificate

    cert = peer_certificate(request)
    resp = render(
        "login.html",
        status=status,
        csrf=_csrf(token, "login"),
        message=message,
        certificate=_cert_name(cert) if cert is not None else "",
    )
    _secure_cookie(resp, LOGIN_COOKIE, token, 3600)
    return resp


def _cert_name(cert: x509.Certificate) -> str:
    return cert.subject.rfc4514_string()


async def login_form(request: web.Request, ca: Authority, fields: dict[str, Any]) -> web.Response:
    if await _session(request, ca) is not None:
        return redirect(PREFIX)
    return _login_page(request)


async def login(request: web.Request, ca: Authority, fields: dict[str, Any]) -> web.Response:
    form = await _form(request)
    token = request.cookies.get(LOGIN_COOKIE, "")
    if not token or not hmac.compare_digest(form.get("csrf", "").encode(), _csrf(token, "login").encode()):
        fields["error"] = "login without its CSRF token"
        return _login_page(request, "The login form expired: try again.", 403)
    core = _admin(request)
    remote = request.remote or ""
    try:
        if form.get("method") == "certificate":
            from stepca.api.handlers import peer_certificate

            cert = peer_certificate(request)
            if cert is None:
                raise Unauthorized("no client certificate was presented")
            caller = await core.authorize_certificate(cert, remote)
            method = "certificate"
        else:
            name = form.get("provisioner", "").strip()[:255]
            subject = form.get("subject", "").strip()[:255]
            async with _LOGINS:
                caller = await core.authorize_password(name, form.get("password", ""), subject, remote)
            method = "password"
    except StepError as exc:
        fields["error"] = exc.log_detail or exc.detail  # never the password
        if exc.status == 404:
            return render("error.html", status=404, status_code=404, message=exc.detail)
        await asyncio.sleep(FAILED_LOGIN_DELAY)
        return _login_page(request, exc.detail, 401)
    from stepca.db.records import DashboardSession

    sid = secrets.token_urlsafe(32)
    now = int(time.time())
    await ca.store.put_dashboard_session(
        DashboardSession(
            id_hash=_hash(sid),
            subject=caller.subject,
            provisioner=caller.admin.provisioner_id,
            method=method,
            created_at=now,
            expires_at=now + SESSION_LIFETIME,
        )
    )
    fields["admin"] = caller.subject
    resp = redirect(PREFIX)
    _secure_cookie(resp, COOKIE, sid, SESSION_LIFETIME)
    resp.del_cookie(LOGIN_COOKIE, path=PREFIX)
    return resp


@page
async def logout(request: web.Request, ca: Authority, ctx: Ctx, form: dict[str, str]) -> web.Response:
    await ca.store.delete_dashboard_session(ctx.session.id_hash)
    resp = redirect(f"{PREFIX}/login")
    resp.del_cookie(COOKIE, path=PREFIX)
    return resp


# ----------------------------------------------------------------------------------- pages


def _chart(per_hour: tuple[int, ...], now: int) -> dict[str, Any]:
    """An SVG bar chart's geometry: one bar per hour, the tallest 100 units high."""
    top = max(per_hour) or 1
    width = 40
    bars = []
    start = now - len(per_hour) * 3600
    for i, n in enumerate(per_hour):
        h = round(100 * n / top, 1)
        hour = datetime.fromtimestamp(start + i * 3600, UTC).strftime("%H:%M")
        bars.append({"x": i * width + 2, "y": 110 - h, "h": h, "w": width - 4, "n": n, "hour": hour})
    return {"bars": bars, "top": top, "width": len(per_hour) * width, "total": sum(per_hour)}


@page
async def overview(request: web.Request, ca: Authority, ctx: Ctx, form: dict[str, str]) -> web.Response:
    now = int(time.time())
    counts = await ca.store.dashboard_counts(now)
    return render("overview.html", ctx=ctx, counts=counts, chart=_chart(counts.issued_per_hour, now))


@page
async def certificates(request: web.Request, ca: Authority, ctx: Ctx, form: dict[str, str]) -> web.Response:
    from stepca.admin.inventory import Inventory

    q = request.query
    serial = q.get("serial", "").strip()
    if serial:
        if not serial.isdigit():
            try:
                serial = str(int(serial.replace(":", ""), 16))
            except ValueError:
                raise BadRequest("serial must be a decimal or hexadecimal number") from None
        return redirect(f"{PREFIX}/certificates/{serial}")
    params = {
        "subject": q.get("subject", "").strip(),
        "provisioner": q.get("provisioner", "").strip(),
        "revoked": q.get("revoked", ""),
        "cursor": q.get("cursor", ""),
        "expired": "true" if q.get("expired") else "",
        "limit": str(PAGE_SIZE),
    }
    result = await Inventory(ca.store).page(params)
    next_query = ""
    if result["nextCursor"]:
        from urllib.parse import urlencode

        next_query = urlencode(
            {**{k: v for k, v in params.items() if v and k != "limit"}, "cursor": result["nextCursor"]}
        )
    return render(
        "certificates.html", ctx=ctx, params=params, rows=result["certificates"], next_query=next_query
    )


async def _export(ca: Authority, serial: str) -> dict[str, Any]:
    from stepca.admin.inventory import Inventory

    return await Inventory(ca.store).export(serial)


@page
async def certificate(request: web.Request, ca: Authority, ctx: Ctx, form: dict[str, str]) -> web.Response:
    from cryptography import x509

    from stepca.crypto.inspect import inspect_text

    serial = request.match_info["serial"]
    record = await _export(ca, serial)
    cert = x509.load_pem_x509_certificate(record["certificate"].encode())
    revocation = await ca.store.get_revocation(serial)
    return render(
        "certificate.html",
        ctx=ctx,
        record=record,
        text=inspect_text(cert),
        revocation=revocation,
        crl=await _in_crl(request, cert),
        ocsp=await _ocsp_status(request, cert),
        revoked_now=request.query.get("revoked") == "1",
    )


@page
async def certificate_pem(
    request: web.Request, ca: Authority, ctx: Ctx, form: dict[str, str]
) -> web.Response:
    record = await _export(ca, request.match_info["serial"])
    resp = web.Response(
        text=record["certificate"],
        content_type="application/x-pem-file",
        headers={
            "Content-Disposition": f'attachment; filename="{record["serial"]}.crt"',
            **HEADERS,
        },
    )
    return resp


@page
async def revoke_confirm(request: web.Request, ca: Authority, ctx: Ctx, form: dict[str, str]) -> web.Response:
    record = await _export(ca, request.match_info["serial"])
    return render("revoke.html", ctx=ctx, record=record, reasons=REASONS)


@page
async def revoke(request: web.Request, ca: Authority, ctx: Ctx, form: dict[str, str]) -> web.Response:
    serial = request.match_info["serial"]
    await _export(ca, serial)  # 404 for a serial the CA did not issue
    if form.get("confirm") != serial:
        raise BadRequest("confirm the revocation: the form must carry the serial number")
    raw_code = form.get("reasonCode", "0")
    if not raw_code.isdigit():
        raise BadRequest("reasonCode must be a number")
    await ca.revoke(
        serial=serial,
        ott="",
        mtls_cert=None,
        reason_code=int(raw_code),
        reason=form.get("reason", "")[:200],
        passive=True,
        admin=ctx.session.subject,
    )
    return redirect(f"{PREFIX}/certificates/{serial}?revoked=1")


@page
async def provisioners(request: web.Request, ca: Authority, ctx: Ctx, form: dict[str, str]) -> web.Response:
    items: list[dict[str, Any]] = []
    cursor = ""
    while True:
        chunk, cursor = ca.provisioners.page(cursor, 100)
        items += chunk
        if not cursor:
            break
    admin_provs = set(ca.config.authority.admin_provisioners)
    rows = [
        {
            "name": str(p.get("name", "")),
            "type": str(p.get("type", "")),
            "admin": p.get("name") in admin_provs,
        }
        for p in items
    ]
    return render("provisioners.html", ctx=ctx, rows=rows)


async def _crl_state(request: web.Request) -> dict[str, Any]:
    from stepca.api.revocation import PUBLISHER
    from stepca.revocation.publisher import BASE

    publisher = request.app.get(PUBLISHER)
    if publisher is None or publisher.crl is None:
        return {"enabled": False}
    try:
        doc = await publisher.document(BASE)
    except StepError as exc:
        return {"enabled": True, "error": exc.detail}
    r = doc.record
    return {"enabled": True, "number": r.number, "this_update": r.this_update, "next_update": r.next_update}


def _ocsp_state(request: web.Request) -> dict[str, Any]:
    from stepca.api.revocation import RESPONDER

    responder = request.app.get(RESPONDER)
    if responder is None or not responder.enabled or responder.signer is None:
        return {"enabled": False}
    signer = responder.signer
    return {
        "enabled": True,
        "responder": signer.cert.subject.rfc4514_string(),
        "not_after": signer.cert.not_valid_after_utc,
        "cached": responder.cached,
        "stats": dict(responder.stats),
    }


async def _in_crl(request: web.Request, cert: x509.Certificate) -> str:
    """Whether the published complete CRL lists ``cert``: revoked | not listed | '' (no CRL)."""
    from cryptography import x509

    from stepca.api.revocation import PUBLISHER
    from stepca.revocation.publisher import BASE

    publisher = request.app.get(PUBLISHER)
    if publisher is None or publisher.crl is None:
        return ""
    try:
        doc = await publisher.document(BASE)
    except StepError:
        return "not built yet"
    crl = x509.load_der_x509_crl(doc.der)
    listed = crl.get_revoked_certificate_by_serial_number(cert.serial_number) is not None
    return f"revoked (CRL #{doc.record.number})" if listed else f"not listed (CRL #{doc.record.number})"


async def _ocsp_status(request: web.Request, cert: x509.Certificate) -> str:
    """What this CA's OCSP responder answers for ``cert``: good | revoked | unknown | '' (off)."""
    from stepca.api.revocation import RESPONDER

    responder = request.app.get(RESPONDER)
    if responder is None:
        return ""
    state = await responder.served_status(cert.serial_number)
    return "" if state is None else state.name.lower()


@page
async def revocation(request: web.Request, ca: Authority, ctx: Ctx, form: dict[str, str]) -> web.Response:
    return render("revocation.html", ctx=ctx, crl=await _crl_state(request), ocsp=_ocsp_state(request))


async def static(request: web.Request, ca: Authority, fields: dict[str, Any]) -> web.Response:
    name = request.match_info["name"]
    kind = STATIC.get(name)
    if kind is None:
        raise NotFound()
    body = resources.files("stepca.web").joinpath("static", name).read_bytes()
    resp = web.Response(body=body, content_type=kind, charset="utf-8")
    resp.headers.update({**HEADERS, "Cache-Control": "max-age=3600"})
    return resp


async def slash(request: web.Request, ca: Authority, fields: dict[str, Any]) -> web.Response:
    return redirect(PREFIX)


#: mounted at ``/`` only (not ``/1.0/``), on the HTTPS app only: the dashboard is no API
ROUTES: list[tuple[str, str, Handler]] = [
    ("GET", "dashboard", overview),
    ("GET", "dashboard/", slash),
    ("GET", "dashboard/login", login_form),
    ("POST", "dashboard/login", login),
    ("POST", "dashboard/logout", logout),
    ("GET", "dashboard/certificates", certificates),
    ("GET", "dashboard/certificates/{serial:[0-9]{1,60}}", certificate),
    ("GET", "dashboard/certificates/{serial:[0-9]{1,60}}.pem", certificate_pem),
    ("GET", "dashboard/certificates/{serial:[0-9]{1,60}}/revoke", revoke_confirm),
    ("POST", "dashboard/certificates/{serial:[0-9]{1,60}}/revoke", revoke),
    ("GET", "dashboard/provisioners", provisioners),
    ("GET", "dashboard/revocation", revocation),
    ("GET", "dashboard/static/{name}", static),
]
