"""The admin API (``/admin/...``), smallstep's paths and JSON bodies (``authority/admin/api``):
provisioners by name, admins by id. Each handler: authorize the admin token (``Authorization``
header), parse, one call to the worker's ``AdminCore``, render."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import web

from stepca.admin.core import AdminCore
from stepca.api.handlers import read_json
from stepca.errors import BadRequest, Conflict, NotFound

if TYPE_CHECKING:
    from stepca.admin.core import Caller
    from stepca.api.handlers import Handler
    from stepca.authority.authority import Authority

#: the worker's admin core, set on the HTTPS app
ADMIN = web.AppKey("stepca.admin.core", AdminCore)


def _json(body: object, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(body), status=status, content_type="application/json")


async def _caller(request: web.Request, fields: dict[str, Any]) -> tuple[AdminCore, Caller]:
    core = request.app.get(ADMIN)
    if core is None:
        raise NotFound()
    caller = await core.authorize(
        request.headers.get("Authorization"), request.method, _paths(request), request.remote or ""
    )
    fields["admin"] = caller.subject
    return core, caller


def _paths(request: web.Request) -> tuple[str, ...]:
    """The paths the token's audience may name: the request's, decoded (smallstep's
    ``r.URL.Path``) or as sent, with or without the /1.0 prefix."""
    raw = request.raw_path.split("?", 1)[0]
    out = {request.path, raw}
    return tuple(sorted(out | {p[4:] for p in out if p.startswith("/1.0/admin/")}))


def _page(request: web.Request) -> tuple[str, int]:
    cursor = request.query.get("cursor", "")
    raw = request.query.get("limit", "")
    if raw and not raw.isdigit():
        raise BadRequest(f"limit '{raw}' is not an integer")
    return cursor, int(raw or 0)


async def get_provisioners(request: web.Request, ca: Authority, fields: dict[str, Any]) -> web.Response:
    core, _ = await _caller(request, fields)
    return _json(await core.list_provisioners(*_page(request)))


async def get_provisioner(request: web.Request, ca: Authority, fields: dict[str, Any]) -> web.Response:
    core, _ = await _caller(request, fields)
    return _json(await core.get_provisioner(request.match_info["name"]))


async def create_provisioner(request: web.Request, ca: Authority, fields: dict[str, Any]) -> web.Response:
    core, caller = await _caller(request, fields)
    return _json(await core.create_provisioner(caller, await read_json(request)), 201)


async def update_provisioner(request: web.Request, ca: Authority, fields: dict[str, Any]) -> web.Response:
    core, caller = await _caller(request, fields)
    return _json(await core.update_provisioner(caller, request.match_info["name"], await read_json(request)))


async def delete_provisioner(request: web.Request, ca: Authority, fields: dict[str, Any]) -> web.Response:
    core, caller = await _caller(request, fields)
    return _json(await core.delete_provisioner(caller, request.match_info["name"]))


async def get_admins(request: web.Request, ca: Authority, fields: dict[str, Any]) -> web.Response:
    core, _ = await _caller(request, fields)
    return _json(await core.list_admins(*_page(request)))


async def get_admin(request: web.Request, ca: Authority, fields: dict[str, Any]) -> web.Response:
    core, _ = await _caller(request, fields)
    return _json(await core.get_admin(request.match_info["id"]))


async def create_admin(request: web.Request, ca: Authority, fields: dict[str, Any]) -> web.Response:
    core, caller = await _caller(request, fields)
    return _json(await core.create_admin(caller, await read_json(request)), 201)


async def update_admin(request: web.Request, ca: Authority, fields: dict[str, Any]) -> web.Response:
    core, caller = await _caller(request, fields)
    return _json(await core.update_admin(caller, request.match_info["id"], await read_json(request)))


async def delete_admin(request: web.Request, ca: Authority, fields: dict[str, Any]) -> web.Response:
    core, caller = await _caller(request, fields)
    return _json(await core.delete_admin(caller, request.match_info["id"]))


async def _reader(request: web.Request, fields: dict[str, Any]) -> Caller:
    core = request.app.get(ADMIN)
    if core is None:
        raise NotFound()
    caller = await core.authorize_reader(
        request.headers.get("Authorization"), _paths(request), request.remote or ""
    )
    fields["admin"] = caller.subject
    return caller


async def get_certificates(request: web.Request, ca: Authority, fields: dict[str, Any]) -> web.Response:
    """The inventory, a page at a time (``stepca.admin.inventory``; stepca's own route)."""
    await _reader(request, fields)
    from stepca.admin.inventory import Inventory

    return _json(await Inventory(ca.store).page(dict(request.query)))


async def get_certificate(request: web.Request, ca: Authority, fields: dict[str, Any]) -> web.Response:
    await _reader(request, fields)
    from stepca.admin.inventory import Inventory

    kind = request.query.get("kind", "x509")
    if kind not in ("x509", "ssh"):
        raise BadRequest("kind must be one of x509, ssh")
    return _json(await Inventory(ca.store).export(request.match_info["serial"], kind))


async def get_audit(request: web.Request, ca: Authority, fields: dict[str, Any]) -> web.Response:
    """The audit log of certificate events, newest first (``serial``, ``limit`` <= 1000)."""
    await _reader(request, fields)
    serial = request.query.get("serial", "")
    if serial and not serial.isdigit():
        raise BadRequest("serial must be a decimal number")
    raw = request.query.get("limit", "") or "100"
    if not raw.isdigit():
        raise BadRequest(f"limit '{raw[:20]}' is not an integer")
    return _json({"events": await ca.store.audit_events(serial, max(1, min(int(raw), 1000)))})


# ------------------------------------------------------------------ ACME EAB keys (smallstep's paths)


def _acme_provisioner(ca: Authority, name: str) -> str:
    from stepca.provisioner.acme import ACMEProvisioner

    found = [p for p in ca.provisioners.all if p.name == name]
    if not found:
        raise NotFound(f"provisioner {name} not found")
    if not any(isinstance(p, ACMEProvisioner) for p in found):
        raise BadRequest(f"provisioner {name} is not an ACME provisioner")
    return name


def _eak_json(key: Any, *, with_key: bool) -> dict[str, Any]:
    import base64

    out: dict[str, Any] = {
        "id": key.id,
        "provisioner": key.provisioner,
        "reference": key.reference,
        "account": key.account_id,
        "createdAt": key.created_at,
        "boundAt": key.bound_at,
    }
    if with_key:
        out["hmacKey"] = base64.b64encode(key.hmac_key).decode()  # protojson bytes: standard base64
    return out


async def get_eab_keys(request: web.Request, ca: Authority, fields: dict[str, Any]) -> web.Response:
    """The EAB keys of an ACME provisioner (``/{reference}`` or ``?reference=``: that one); the
    HMAC keys themselves are never listed."""
    await _caller(request, fields)
    prov = _acme_provisioner(ca, request.match_info["provisioner"])
    reference = request.match_info.get("key") or request.query.get("reference") or None
    keys = await ca.store.acme_eab_keys(prov, reference)
    return _json({"eaks": [_eak_json(k, with_key=False) for k in keys], "nextCursor": ""})


async def create_eab_key(request: web.Request, ca: Authority, fields: dict[str, Any]) -> web.Response:
    """A new EAB key for an ACME provisioner (``{"reference": "..."}`` optional): the only
    answer that carries the HMAC key."""
    import secrets
    import time

    from stepca.db.acme_records import AddEABKeyOp, EABKeyRecord, new_eab_key_id

    await _caller(request, fields)
    prov = _acme_provisioner(ca, request.match_info["provisioner"])
    body = await read_json(request) if request.body_exists else {}
    if not isinstance(body, dict):
        raise BadRequest("error decoding json")
    reference = body.get("reference") or ""
    if not isinstance(reference, str) or len(reference) > 255:
        raise BadRequest("reference must be a string of at most 255 characters")
    if reference and await ca.store.acme_eab_keys(prov, reference):
        raise Conflict(
            f"an ACME EAB key with reference '{reference}' already exists for provisioner '{prov}'"
        )
    key = EABKeyRecord(
        id=new_eab_key_id(),
        provisioner=prov,
        reference=reference,
        hmac_key=secrets.token_bytes(32),
        account_id="",
        created_at=int(time.time()),
        bound_at=0,
    )
    outcome = await ca.store.apply(AddEABKeyOp(key))
    if outcome is not None:
        raise BadRequest(f"the key could not be stored: {outcome}")
    return _json(_eak_json(key, with_key=True), 201)


async def delete_eab_key(request: web.Request, ca: Authority, fields: dict[str, Any]) -> web.Response:
    from stepca.db.acme_records import RemoveEABKeyOp

    await _caller(request, fields)
    prov = _acme_provisioner(ca, request.match_info["provisioner"])
    key_id = request.match_info["key"]
    if await ca.store.apply(RemoveEABKeyOp(prov, key_id)) is not None:
        raise NotFound(f"ACME EAB key {key_id} not found for provisioner {prov}")
    return _json({"status": "deleted"})


ROUTES: list[tuple[str, str, Handler]] = [
    ("GET", "admin/provisioners", get_provisioners),
    ("POST", "admin/provisioners", create_provisioner),
    ("GET", "admin/provisioners/{name}", get_provisioner),
    ("PUT", "admin/provisioners/{name}", update_provisioner),
    ("DELETE", "admin/provisioners/{name}", delete_provisioner),
    ("GET", "admin/admins", get_admins),
    ("POST", "admin/admins", create_admin),
    ("GET", "admin/admins/{id}", get_admin),
    ("PATCH", "admin/admins/{id}", update_admin),
    ("DELETE", "admin/admins/{id}", delete_admin),
    ("GET", "admin/certificates", get_certificates),
    ("GET", "admin/certificates/{serial}", get_certificate),
    ("GET", "admin/audit", get_audit),
    ("GET", "admin/acme/eab/{provisioner}", get_eab_keys),
    ("GET", "admin/acme/eab/{provisioner}/{key}", get_eab_keys),  # key: the reference
    ("POST", "admin/acme/eab/{provisioner}", create_eab_key),
    ("DELETE", "admin/acme/eab/{provisioner}/{key}", delete_eab_key),  # key: the key id
]
