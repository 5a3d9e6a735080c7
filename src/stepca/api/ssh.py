"""The SSH API handlers, wire-compatible with smallstep's step-ca (``api/ssh*.go``).

Keys and certificates travel as base64 of their OpenSSH wire blob.
"""

from __future__ import annotations

import base64
import binascii
import time
from typing import TYPE_CHECKING, Any

from aiohttp import web

from stepca.api.handlers import read_json
from stepca.api.render import json_response
from stepca.authority.authority import REASON_CODES
from stepca.errors import BadRequest, NotFound, NotImplementedByCA

if TYPE_CHECKING:
    from stepca.api.handlers import Handler
    from stepca.authority.authority import Authority
    from stepca.authority.ssh_issuer import SSHAuthority, SSHIssued


def _ssh(ca: Authority) -> SSHAuthority:
    if ca.ssh is None:
        raise NotImplementedByCA("the SSH certificate authority is not configured (no ssh block in ca.json)")
    ssh: SSHAuthority = ca.ssh
    return ssh


def _str(data: dict[str, Any], name: str) -> str:
    value = data.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise BadRequest(f"{name} must be a string")
    return value


def _blob(data: dict[str, Any], name: str) -> bytes:
    """A ``[]byte`` field: base64 (standard alphabet) of an OpenSSH wire blob."""
    text = _str(data, name)
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise BadRequest(f"error decoding {name}: invalid base64") from None


def _ott(data: dict[str, Any]) -> str:
    ott = _str(data, "ott")
    if not ott:
        raise BadRequest("missing or empty ott")
    return ott


def _issued(fields: dict[str, Any], issued: SSHIssued, add_user: bool = False) -> web.Response:
    fields["serial"] = str(issued.serial)
    fields["provisioner"] = issued.provisioner.name
    body = {"crt": base64.b64encode(issued.blob).decode()}
    if add_user and issued.add_user_blob is not None:
        body["addUserCrt"] = base64.b64encode(issued.add_user_blob).decode()
    return json_response(body, status=201)


async def ssh_sign(request: web.Request, ca: Authority, fields: dict[str, Any]) -> web.Response:
    from stepca.authority.ssh_issuer import SSHSignRequest

    data = await read_json(request)
    cert_type = _str(data, "certType")
    if cert_type not in ("", "user", "host"):
        raise BadRequest(f"unknown certType {cert_type}")
    public_key = _blob(data, "publicKey")
    if not public_key:
        raise BadRequest("missing or empty publicKey")
    ott = _ott(data)
    principals = data.get("principals") or []
    if not isinstance(principals, list) or not all(isinstance(p, str) for p in principals):
        raise BadRequest("principals must be a list of strings")
    if any(not p for p in principals):
        raise BadRequest("principals cannot contain empty values")
    add_user = _blob(data, "addUserPublicKey") if data.get("addUserPublicKey") else None
    issued = await _ssh(ca).sign(
        ca,
        SSHSignRequest(
            public_key=public_key,
            ott=ott,
            cert_type=cert_type,
            key_id=_str(data, "keyID"),
            principals=tuple(principals),
            valid_after=_str(data, "validAfter"),
            valid_before=_str(data, "validBefore"),
            add_user_public_key=add_user,
        ),
    )
    return _issued(fields, issued, add_user=True)


async def ssh_renew(request: web.Request, ca: Authority, fields: dict[str, Any]) -> web.Response:
    data = await read_json(request)
    return _issued(fields, await _ssh(ca).renew(ca, _ott(data)))


async def ssh_rekey(request: web.Request, ca: Authority, fields: dict[str, Any]) -> web.Response:
    data = await read_json(request)
    ott = _ott(data)
    public_key = _blob(data, "publicKey")
    if not public_key:
        raise BadRequest("missing or empty public key")
    return _issued(fields, await _ssh(ca).rekey(ca, ott, public_key))


async def ssh_revoke(request: web.Request, ca: Authority, fields: dict[str, Any]) -> web.Response:
    data = await read_json(request)
    serial = _str(data, "serial")
    if not serial:
        raise BadRequest("missing serial")
    code = data.get("reasonCode") or 0
    if not isinstance(code, int) or isinstance(code, bool) or code not in REASON_CODES:
        raise BadRequest("reasonCode out of bounds")
    if data.get("passive") is not True:
        raise NotImplementedByCA("non-passive revocation not implemented")
    ott = _ott(data)
    await _ssh(ca).revoke(ca, serial=serial, ott=ott, reason_code=code, reason=_str(data, "reason"))
    fields["serial"] = serial
    return json_response({"status": "ok"})


def _keys_response(ca: Authority, *, federated: bool) -> web.Response:
    ssh: SSHAuthority | None = ca.ssh
    body = ssh.keys_body(federated=federated) if ssh is not None else {}
    if not body:
        raise NotFound("no keys found")
    return json_response(body)


async def ssh_roots(request: web.Request, ca: Authority, fields: dict[str, Any]) -> web.Response:
    return _keys_response(ca, federated=False)


async def ssh_federation(request: web.Request, ca: Authority, fields: dict[str, Any]) -> web.Response:
    return _keys_response(ca, federated=True)


async def ssh_config(request: web.Request, ca: Authority, fields: dict[str, Any]) -> web.Response:
    data = await read_json(request)
    kind = _str(data, "type") or "user"
    if kind not in ("user", "host"):
        raise BadRequest(f"unsupported type {kind}")
    user_data = data.get("data") or {}
    if not isinstance(user_data, dict) or not all(isinstance(v, str) for v in user_data.values()):
        raise BadRequest("data must be an object of strings")
    outputs = _ssh(ca).config(kind, user_data)
    key = "userTemplates" if kind == "user" else "hostTemplates"
    return json_response({key: outputs} if outputs else {})


async def ssh_check_host(request: web.Request, ca: Authority, fields: dict[str, Any]) -> web.Response:
    data = await read_json(request)
    kind = _str(data, "type")
    if kind != "host":
        raise BadRequest(f"unsupported type {kind}")
    principal = _str(data, "principal")
    if not principal:
        raise BadRequest("missing or empty principal")
    hosts = await _ssh(ca).host_principals(ca, valid_at=None)
    return json_response({"exists": principal in hosts})


async def ssh_hosts(request: web.Request, ca: Authority, fields: dict[str, Any]) -> web.Response:
    hosts = await _ssh(ca).host_principals(ca, valid_at=int(time.time()))
    return json_response({"hosts": [{"hid": "", "host_tags": None, "hostname": h} for h in hosts]})


ROUTES: list[tuple[str, str, Handler]] = [
    ("POST", "ssh/sign", ssh_sign),
    ("POST", "ssh/renew", ssh_renew),
    ("POST", "ssh/rekey", ssh_rekey),
    ("POST", "ssh/revoke", ssh_revoke),
    ("GET", "ssh/roots", ssh_roots),
    ("GET", "ssh/federation", ssh_federation),
    ("POST", "ssh/config", ssh_config),
    ("POST", "ssh/check-host", ssh_check_host),
    ("GET", "ssh/hosts", ssh_hosts),
]
