"""The SSH API handlers, wire-compatible with smallstep's step-ca (``api/ssh*.go``).

Keys and certificates travel as base64 of their OpenSSH wire blob.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from aiohttp import web

from stepca.api.handlers import read_json
from stepca.api.render import json_response
from stepca.errors import NotFound, NotImplementedByCA
from stepca.messages import (
    RevokeResponse,
    SSHCheckHostRequest,
    SSHCheckHostResponse,
    SSHConfigRequest,
    SSHConfigResponse,
    SSHHost,
    SSHHostsResponse,
    SSHKeysResponse,
    SSHRekeyRequest,
    SSHRenewRequest,
    SSHRevokeRequest,
    SSHSignRequest,
    SSHSignResponse,
    SSHTemplateOutput,
)

if TYPE_CHECKING:
    from stepca.api.handlers import Handler
    from stepca.authority.authority import Authority
    from stepca.authority.ssh_issuer import SSHAuthority, SSHIssued


def _ssh(ca: Authority) -> SSHAuthority:
    if ca.ssh is None:
        raise NotImplementedByCA("the SSH certificate authority is not configured (no ssh block in ca.json)")
    return ca.ssh


def _issued(fields: dict[str, Any], issued: SSHIssued, add_user: bool = False) -> web.Response:
    fields["serial"] = str(issued.serial)
    fields["provisioner"] = issued.provisioner.name
    body = SSHSignResponse(issued.blob, issued.add_user_blob if add_user else None)
    return json_response(body, status=201)


async def ssh_sign(request: web.Request, ca: Authority, fields: dict[str, Any]) -> web.Response:
    req = SSHSignRequest.from_json(await read_json(request))
    return _issued(fields, await _ssh(ca).sign(req), add_user=True)


async def ssh_renew(request: web.Request, ca: Authority, fields: dict[str, Any]) -> web.Response:
    req = SSHRenewRequest.from_json(await read_json(request))
    return _issued(fields, await _ssh(ca).renew(req.ott))


async def ssh_rekey(request: web.Request, ca: Authority, fields: dict[str, Any]) -> web.Response:
    req = SSHRekeyRequest.from_json(await read_json(request))
    return _issued(fields, await _ssh(ca).rekey(req.ott, req.public_key))


async def ssh_revoke(request: web.Request, ca: Authority, fields: dict[str, Any]) -> web.Response:
    req = SSHRevokeRequest.from_json(await read_json(request))
    if not req.passive:
        raise NotImplementedByCA("non-passive revocation not implemented")
    await _ssh(ca).revoke(serial=req.serial, ott=req.ott, reason_code=int(req.reason_code), reason=req.reason)
    fields["serial"] = req.serial
    return json_response(RevokeResponse())


def _keys_response(ca: Authority, *, federated: bool) -> web.Response:
    ssh: SSHAuthority | None = ca.ssh
    keys = (ssh.federation if federated else ssh.roots) if ssh is not None else {}
    body = SSHKeysResponse(user_key=tuple(keys.get("user", ())), host_key=tuple(keys.get("host", ())))
    if not body.user_key and not body.host_key:
        raise NotFound("no keys found")
    return json_response(body)


async def ssh_roots(request: web.Request, ca: Authority, fields: dict[str, Any]) -> web.Response:
    return _keys_response(ca, federated=False)


async def ssh_federation(request: web.Request, ca: Authority, fields: dict[str, Any]) -> web.Response:
    return _keys_response(ca, federated=True)


async def ssh_config(request: web.Request, ca: Authority, fields: dict[str, Any]) -> web.Response:
    req = SSHConfigRequest.from_json(await read_json(request))
    outputs = tuple(SSHTemplateOutput.from_json(o) for o in _ssh(ca).config(req.type, req.data))
    if req.type == "user":
        return json_response(SSHConfigResponse(user_templates=outputs))
    return json_response(SSHConfigResponse(host_templates=outputs))


async def ssh_check_host(request: web.Request, ca: Authority, fields: dict[str, Any]) -> web.Response:
    req = SSHCheckHostRequest.from_json(await read_json(request))
    hosts = await _ssh(ca).host_principals(valid_at=None)
    return json_response(SSHCheckHostResponse(req.principal in hosts))


async def ssh_hosts(request: web.Request, ca: Authority, fields: dict[str, Any]) -> web.Response:
    hosts = await _ssh(ca).host_principals(valid_at=int(time.time()))
    return json_response(SSHHostsResponse(tuple(SSHHost(h) for h in hosts)))


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
