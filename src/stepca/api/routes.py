"""Every route, in one table, mounted at ``/`` and ``/1.0/`` like smallstep's router."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from stepca.api import handlers as h
from stepca.api.openapi import document, openapi_json
from stepca.errors import MethodNotAllowed, NotFound

if TYPE_CHECKING:
    from stepca.api.handlers import AuthorityRef, Handler

ROUTES: list[tuple[str, str, Handler]] = [
    ("GET", "health", h.health),
    ("GET", "version", h.version),
    ("GET", "openapi.json", openapi_json),
    ("GET", "root/{sha}", h.root),
    ("GET", "roots", h.roots),
    ("GET", "roots.pem", h.roots_pem),
    ("GET", "intermediates", h.intermediates),
    ("GET", "intermediates.pem", h.intermediates_pem),
    ("GET", "federation", h.federation),
    ("GET", "provisioners", h.provisioners),
    ("GET", "provisioners/{kid}/encrypted-key", h.encrypted_key),
    ("POST", "sign", h.sign),
    ("POST", "renew", h.renew),
    ("POST", "rekey", h.rekey),
    ("POST", "revoke", h.revoke),
]

#: routes contributed by optional subsystems (SSH, ACME, ...): (module, attribute)
EXTRA_ROUTE_TABLES = [
    ("stepca.api.ssh", "ROUTES"),
    ("stepca.api.revocation", "ROUTES"),
    ("stepca.api.admin", "ROUTES"),
]
#: pages mounted at ``/`` only (not ``/1.0/``: no API), on the HTTPS app only: the dashboard
WEB_ROUTE_TABLES = [
    ("stepca.web.routes", "ROUTES"),
]
#: what the plain-HTTP listener (``insecureAddress``) serves: the revocation routes only
INSECURE_ROUTE_TABLES = [
    ("stepca.api.revocation", "INSECURE_ROUTES"),
]


async def _not_found(request: web.Request, ca: object, fields: dict[str, object]) -> web.Response:
    """No route: 405 with ``Allow`` when the path is served for other methods (as smallstep's
    router answers), else 404."""
    allowed: set[str] = set()
    catch_all = request.match_info.route.resource
    for resource in request.app.router.resources():
        if resource is not catch_all:
            allowed |= (await resource.resolve(request))[1]
    if allowed:
        raise MethodNotAllowed(f"{request.method} is not allowed here", allow=tuple(sorted(allowed)))
    raise NotFound()


def build_app(ref: AuthorityRef, *, insecure: bool = False) -> web.Application:
    """The HTTPS app (every route), or with ``insecure`` the plain-HTTP one (revocation only)."""
    app = web.Application(client_max_size=h.MAX_BODY)
    table = [] if insecure else list(ROUTES)
    if not insecure:
        document()  # built (and checked) once, now: a broken description fails the start, not a request
    import importlib

    for module_name, attr in INSECURE_ROUTE_TABLES if insecure else EXTRA_ROUTE_TABLES:
        table += getattr(importlib.import_module(module_name), attr)
    for method, path, fn in table:
        wrapped = h.endpoint(ref, fn)
        for prefix in ("/", "/1.0/"):
            app.router.add_route(method, prefix + path, wrapped)
    for module_name, attr in [] if insecure else WEB_ROUTE_TABLES:
        for method, path, fn in getattr(importlib.import_module(module_name), attr):
            app.router.add_route(method, "/" + path, h.endpoint(ref, fn))
    if not insecure:  # ACME (its own prefixes /acme/ and /2.0/acme/, and problem+json errors)
        from stepca.api import acme

        acme.add_routes(app, ref)
    # ``[\s\S]`` and not ``.``: a path with a newline (``%0A``) must reach the JSON 404 too, not
    # aiohttp's text/plain one
    app.router.add_route("*", r"/{tail:[\s\S]*}", h.endpoint(ref, _not_found))
    return app
