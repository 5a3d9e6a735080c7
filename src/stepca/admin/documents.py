"""Provisioners on the wire (smallstep's ``linkedca.Provisioner`` protobuf JSON) and at rest
(the object ca.json's ``authority.provisioners`` holds, which the registry already loads).

smallstep's ``step`` sends and reads linkedca JSON (``details: {"JWK": {...}}``, bytes as
base64, claims grouped by kind); our CLI sends the ca.json form directly. Both are accepted;
responses are linkedca JSON with the ca.json form beside it nowhere (one shape per response).
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from stepca.errors import BadRequest

#: linkedca ``Provisioner.Type`` names the admin API handles, as ca.json spells them
TYPES = ("JWK", "OIDC", "ACME", "X5C", "SSHPOP", "GCP", "AWS", "AZURE", "K8SSA", "SCEP", "NEBULA")
_DETAILS_KEY = {"AZURE": "Azure", "K8SSA": "K8sSA", "NEBULA": "Nebula"}
_CHALLENGES = {
    "HTTP_01": "http-01",
    "DNS_01": "dns-01",
    "TLS_ALPN_01": "tls-alpn-01",
    "TLS_ALPN_O1": "tls-alpn-01",
}

#: linkedca Claims → ca.json claims: (group, durations key, ca.json prefix, ca.json suffix)
_DURATIONS = (
    ("x509", "durations", "TLSCertDuration"),
    ("ssh", "userDurations", "UserSSHCertDuration"),
    ("ssh", "hostDurations", "HostSSHCertDuration"),
)


#: linkedca enum numbers (Go's encoding/json writes protobuf enums as numbers)
_TYPE_NUMBERS = {
    1: "JWK",
    2: "OIDC",
    3: "GCP",
    4: "AWS",
    5: "AZURE",
    6: "ACME",
    7: "X5C",
    8: "K8SSA",
    9: "SSHPOP",
    10: "SCEP",
    11: "NEBULA",
}
ADMIN_TYPE_NUMBERS = {1: "ADMIN", 2: "SUPER_ADMIN"}


def _camel(key: str) -> str:
    head, *rest = key.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


def _camel_keys(value: Any) -> Any:
    """protobuf JSON's original field names (``public_key``) as its JSON names (``publicKey``):
    protojson accepts both, so do we."""
    if isinstance(value, dict):
        return {(_camel(k) if "_" in k else k): _camel_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_camel_keys(v) for v in value]
    return value


def admin_type(value: object) -> str | None:
    """An admin type as a name (``ADMIN``, ``SUPER_ADMIN``) or its linkedca number."""
    if isinstance(value, int) and not isinstance(value, bool):
        return ADMIN_TYPE_NUMBERS.get(value)
    return value if isinstance(value, str) and value in ("ADMIN", "SUPER_ADMIN") else None


def _b64decode(value: object, field: str) -> bytes:
    if not isinstance(value, str):
        raise BadRequest(f"{field}: must be a base64 string")
    try:
        return base64.b64decode(value + "=" * (-len(value) % 4), validate=False)
    except (binascii.Error, ValueError):
        raise BadRequest(f"{field}: is not valid base64") from None


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _claims_from_linkedca(claims: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for group, key, suffix in _DURATIONS:
        durations = (claims.get(group) or {}).get(key) or {}
        for bound in ("min", "max", "default"):
            if durations.get(bound):
                out[f"{bound}{suffix}"] = durations[bound]
    if (claims.get("ssh") or {}).get("enabled"):
        out["enableSSHCA"] = True
    for flag in ("disableRenewal", "allowRenewalAfterExpiry"):
        if claims.get(flag):
            out[flag] = True
    return out


def _claims_to_linkedca(claims: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for group, key, suffix in _DURATIONS:
        durations = {
            b: claims[f"{b}{suffix}"] for b in ("min", "max", "default") if claims.get(f"{b}{suffix}")
        }
        if durations:
            out.setdefault(group, {})[key] = durations
    out.setdefault("x509", {})["enabled"] = True
    out.setdefault("ssh", {})["enabled"] = bool(claims.get("enableSSHCA"))
    for flag in ("disableRenewal", "allowRenewalAfterExpiry"):
        if claims.get(flag):
            out[flag] = True
    return out


def _template_from_linkedca(tpl: object, field: str) -> dict[str, Any] | None:
    if not isinstance(tpl, dict) or not tpl.get("template"):
        return None
    out: dict[str, Any] = {"template": _b64decode(tpl["template"], f"{field}.template").decode()}
    if tpl.get("data"):
        try:
            out["templateData"] = json.loads(_b64decode(tpl["data"], f"{field}.data"))
        except ValueError:
            raise BadRequest(f"{field}.data: is not JSON") from None
    return out


def from_linkedca(body: dict[str, Any]) -> dict[str, Any]:
    """A linkedca provisioner (smallstep's CLI) as the ca.json object the registry loads."""
    body = _camel_keys(body)
    raw_type = body.get("type")
    if isinstance(raw_type, int) and not isinstance(raw_type, bool):
        raw_type = _TYPE_NUMBERS.get(raw_type, "")
    kind = str(raw_type or "").upper()
    if kind not in TYPES:
        raise BadRequest(f"type: unsupported provisioner type {body.get('type')!r}")
    name = body.get("name")
    if not isinstance(name, str) or not name:
        raise BadRequest("name: cannot be empty")
    details_all = body.get("details") or {}
    if not isinstance(details_all, dict):
        raise BadRequest("details: must be an object")
    details = details_all.get(_DETAILS_KEY.get(kind, kind)) or {}
    doc: dict[str, Any] = {"type": kind, "name": name}
    if kind == "JWK":
        try:
            doc["key"] = json.loads(_b64decode(details.get("publicKey"), "details.JWK.publicKey"))
        except ValueError:
            raise BadRequest("details.JWK.publicKey: is not a JSON Web Key") from None
        if details.get("encryptedPrivateKey"):
            enc = _b64decode(details["encryptedPrivateKey"], "details.JWK.encryptedPrivateKey")
            doc["encryptedKey"] = enc.decode(errors="replace")
    elif kind == "OIDC":
        for ours, theirs in (
            ("clientID", "clientId"),
            ("clientSecret", "clientSecret"),
            ("configurationEndpoint", "configurationEndpoint"),
            ("listenAddress", "listenAddress"),
            ("tenantID", "tenantId"),
            ("admins", "admins"),
            ("domains", "domains"),
            ("groups", "groups"),
        ):
            if details.get(theirs):
                doc[ours] = details[theirs]
    elif kind == "ACME":
        if details.get("forceCn"):
            doc["forceCN"] = True
        if details.get("requireEab"):
            doc["requireEAB"] = True
        if details.get("challenges"):
            doc["challenges"] = [_CHALLENGES.get(str(c), str(c).lower()) for c in details["challenges"]]
    elif kind == "X5C":
        roots = [_b64decode(r, "details.X5C.roots") for r in details.get("roots") or []]
        if roots:
            doc["roots"] = _b64(b"".join(roots))
    else:
        doc.update({k: v for k, v in details.items() if k not in doc})
    if isinstance(body.get("claims"), dict):
        claims = _claims_from_linkedca(body["claims"])
        if claims:
            doc["claims"] = claims
    options: dict[str, Any] = {}
    for key, group in (("x509Template", "x509"), ("sshTemplate", "ssh")):
        tpl = _template_from_linkedca(body.get(key), key)
        if tpl:
            options[group] = tpl
    if options:
        doc["options"] = options
    return doc


def to_document(body: object) -> dict[str, Any]:
    """What a create/update body holds, in ca.json form: linkedca JSON (it has ``details``, or a
    linkedca-only shape) or already the ca.json object."""
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object")
    linkedca_keys = ("details", "authorityId", "authority_id", "x509Template", "x509_template")
    if any(k in body for k in linkedca_keys) or isinstance(body.get("type"), int):
        return from_linkedca(body)
    kind = body.get("type")
    if not isinstance(kind, str) or not kind:
        raise BadRequest("type: cannot be empty")
    return {**body, "type": kind.upper()}


def to_linkedca(doc: dict[str, Any], pid: str) -> dict[str, Any]:
    """The stored ca.json object as linkedca JSON (what smallstep's CLI reads)."""
    kind = str(doc.get("type", "")).upper()
    out: dict[str, Any] = {"id": pid, "type": kind, "name": doc.get("name", "")}
    details: dict[str, Any] = {}
    if kind == "JWK":
        details["publicKey"] = _b64(json.dumps(doc.get("key") or {}, separators=(",", ":")).encode())
        if doc.get("encryptedKey"):
            details["encryptedPrivateKey"] = _b64(str(doc["encryptedKey"]).encode())
    elif kind == "OIDC":
        for ours, theirs in (
            ("clientID", "clientId"),
            ("clientSecret", "clientSecret"),
            ("configurationEndpoint", "configurationEndpoint"),
            ("listenAddress", "listenAddress"),
            ("tenantID", "tenantId"),
            ("admins", "admins"),
            ("domains", "domains"),
            ("groups", "groups"),
        ):
            if doc.get(ours):
                details[theirs] = doc[ours]
    elif kind == "ACME":
        details = {"forceCn": bool(doc.get("forceCN")), "requireEab": bool(doc.get("requireEAB"))}
        if doc.get("challenges"):
            back = {v: k for k, v in _CHALLENGES.items() if k != "TLS_ALPN_O1"}
            details["challenges"] = [back.get(c, c) for c in doc["challenges"]]
    elif kind == "X5C" and doc.get("roots"):
        details["roots"] = [str(doc["roots"])]
    out["details"] = {_DETAILS_KEY.get(kind, kind): details}
    out["claims"] = _claims_to_linkedca(doc.get("claims") or {})
    options = doc.get("options") or {}
    for key, group in (("x509Template", "x509"), ("sshTemplate", "ssh")):
        tpl = options.get(group) or {}
        if tpl.get("template"):
            item = {"template": _b64(str(tpl["template"]).encode())}
            if tpl.get("templateData") is not None:
                item["data"] = _b64(json.dumps(tpl["templateData"]).encode())
            out[key] = item
    return out


def admin_json(aid: str, subject: str, provisioner_id: str, kind: str) -> dict[str, Any]:
    """A linkedca.Admin as protobuf JSON."""
    return {"id": aid, "authorityId": "", "subject": subject, "provisionerId": provisioner_id, "type": kind}
