"""The step API's wire messages: one frozen type per request and response body.

The handlers (``api/``) and the SDK (``client/``) both use these, so each JSON field name is
written once, here. ``from_json`` takes a decoded JSON value, checks every field's type and
raises ``BadRequest`` with the sentence the API gives (``missing serial``, ``reasonCode must be
an integer``...); ``to_json`` gives the dict that goes on the wire, field for field (and in the
order) smallstep's step-ca and step send. Unknown fields are ignored, like Go's decoder does.

``[]byte`` fields (SSH keys and certificates) are ``bytes`` here and base64 (standard alphabet)
on the wire. Light on purpose: no aiohttp, pydantic or cryptography, so ``step`` can import it.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from typing import Any, Protocol, Self

from stepca.errors import BadRequest
from stepca.reasons import Reason, check_reason_code

JSONObject = dict[str, Any]

#: the message the server gives for a body that is not a JSON object
ERROR_DECODING_JSON = "error decoding json"
#: what the CSR check says about a ``csr`` that is not a string (as it does for one that is no PEM)
_NOT_A_CSR = "invalid certificate request: not a PEM CERTIFICATE REQUEST"


class Message(Protocol):
    def to_json(self) -> JSONObject: ...


# ------------------------------------------------------------------------------ field readers


def _object(doc: object) -> JSONObject:
    if not isinstance(doc, dict):
        raise BadRequest(ERROR_DECODING_JSON)
    return doc


def _str(doc: JSONObject, name: str, type_error: str | None = None) -> str:
    """A string field; absent or ``null`` reads as ``""`` (Go's zero value)."""
    value = doc.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise BadRequest(type_error or f"{name} must be a string")
    return value


def _strings(doc: JSONObject, name: str) -> tuple[str, ...]:
    value = doc.get(name) or []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise BadRequest(f"{name} must be a list of strings")
    return tuple(value)


def _objects(doc: JSONObject, name: str) -> tuple[JSONObject, ...]:
    value = doc.get(name) or []
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise BadRequest(f"{name} must be a list of objects")
    return tuple(value)


def _bool(doc: JSONObject, name: str, default: bool) -> bool:
    value = doc.get(name)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise BadRequest(f"{name} must be a boolean")
    return value


def _blob(doc: JSONObject, name: str) -> bytes:
    """A ``[]byte`` field: base64 (standard alphabet) on the wire."""
    try:
        return base64.b64decode(_str(doc, name), validate=True)
    except (binascii.Error, ValueError):
        raise BadRequest(f"error decoding {name}: invalid base64") from None


def _blobs(doc: JSONObject, name: str) -> tuple[bytes, ...]:
    try:
        return tuple(base64.b64decode(v, validate=True) for v in _strings(doc, name))
    except (binascii.Error, ValueError):
        raise BadRequest(f"error decoding {name}: invalid base64") from None


def _b64(blob: bytes) -> str:
    return base64.b64encode(blob).decode()


def _required(value: str, name: str) -> str:
    if not value:
        raise BadRequest(f"missing {name}")
    return value


def _ott(doc: JSONObject) -> str:
    ott = _str(doc, "ott")
    if not ott:
        raise BadRequest("missing or empty ott")
    return ott


# ------------------------------------------------------------------------------ errors


@dataclass(frozen=True, slots=True)
class ErrorResponse:
    """Every 4xx/5xx body: ``{"status": 400, "message": "The request could not be completed: ..."}``."""

    status: int
    message: str

    @classmethod
    def from_json(cls, doc: object) -> Self:
        d = _object(doc)
        status = d.get("status", 0)
        if not isinstance(status, int) or isinstance(status, bool):
            raise BadRequest("status must be an integer")
        return cls(status=status, message=_str(d, "message"))

    def to_json(self) -> JSONObject:
        return {"status": self.status, "message": self.message}


# ------------------------------------------------------------------------------ read-only


@dataclass(frozen=True, slots=True)
class HealthResponse:
    """``GET /health``."""

    status: str = "ok"

    @classmethod
    def from_json(cls, doc: object) -> Self:
        return cls(status=_str(_object(doc), "status"))

    def to_json(self) -> JSONObject:
        return {"status": self.status}


@dataclass(frozen=True, slots=True)
class VersionResponse:
    """``GET /version``."""

    version: str

    @classmethod
    def from_json(cls, doc: object) -> Self:
        return cls(version=_str(_object(doc), "version"))

    def to_json(self) -> JSONObject:
        return {"version": self.version}


@dataclass(frozen=True, slots=True)
class RootResponse:
    """``GET /root/{sha}``: one root certificate (PEM)."""

    ca: str

    @classmethod
    def from_json(cls, doc: object) -> Self:
        return cls(ca=_required(_str(_object(doc), "ca"), "ca"))

    def to_json(self) -> JSONObject:
        return {"ca": self.ca}


@dataclass(frozen=True, slots=True)
class RootsResponse:
    """``GET /roots``, ``/intermediates``, ``/federation``: certificates (PEM)."""

    crts: tuple[str, ...]

    @classmethod
    def from_json(cls, doc: object) -> Self:
        return cls(crts=_strings(_object(doc), "crts"))

    def to_json(self) -> JSONObject:
        return {"crts": list(self.crts)}


@dataclass(frozen=True, slots=True)
class ProvisionersResponse:
    """``GET /provisioners``: one page of provisioners as ca.json has them, and the next cursor."""

    provisioners: tuple[JSONObject, ...]
    next_cursor: str = ""

    @classmethod
    def from_json(cls, doc: object) -> Self:
        d = _object(doc)
        return cls(provisioners=_objects(d, "provisioners"), next_cursor=_str(d, "nextCursor"))

    def to_json(self) -> JSONObject:
        return {"provisioners": list(self.provisioners), "nextCursor": self.next_cursor}


@dataclass(frozen=True, slots=True)
class ProvisionerKeyResponse:
    """``GET /provisioners/{kid}/encrypted-key``: the provisioner's JWE-encrypted private key."""

    key: str

    @classmethod
    def from_json(cls, doc: object) -> Self:
        return cls(key=_required(_str(_object(doc), "key"), "key"))

    def to_json(self) -> JSONObject:
        return {"key": self.key}


# ------------------------------------------------------------------------------ X.509 issuance


@dataclass(frozen=True, slots=True)
class SignRequest:
    """``POST /sign``: a PEM CSR and a one-time token; ``notBefore``/``notAfter`` are RFC 3339
    times or durations (checked by the authority), ``""`` when not asked for."""

    csr: str
    ott: str
    not_before: str = ""
    not_after: str = ""
    template_data: Any = None

    @classmethod
    def from_json(cls, doc: object) -> Self:
        d = _object(doc)
        ott = _str(d, "ott")
        return cls(
            csr=_str(d, "csr", _NOT_A_CSR),
            ott=ott,
            not_before=_str(d, "notBefore", "notBefore must be an RFC 3339 time or a duration"),
            not_after=_str(d, "notAfter", "notAfter must be an RFC 3339 time or a duration"),
            template_data=d.get("templateData"),
        )

    def to_json(self) -> JSONObject:
        body: JSONObject = {"csr": self.csr, "ott": self.ott}
        if self.not_before:
            body["notBefore"] = self.not_before
        if self.not_after:
            body["notAfter"] = self.not_after
        if self.template_data is not None:
            body["templateData"] = self.template_data
        return body


@dataclass(frozen=True, slots=True)
class SignResponse:
    """``201`` of ``/sign``, ``/renew`` and ``/rekey``: the leaf, its issuer, the whole chain,
    and ca.json's ``tls`` block when there is one."""

    crt: str
    ca: str
    cert_chain: tuple[str, ...]
    tls_options: JSONObject | None = None

    @classmethod
    def issued(
        cls, leaf_pem: str, chain_pems: tuple[str, ...] | list[str], tls_options: JSONObject | None
    ) -> Self:
        return cls(
            crt=leaf_pem, ca=chain_pems[0], cert_chain=(leaf_pem, *chain_pems), tls_options=tls_options
        )

    @classmethod
    def from_json(cls, doc: object) -> Self:
        d = _object(doc)
        tls_options = d.get("tlsOptions")
        if tls_options is not None and not isinstance(tls_options, dict):
            raise BadRequest("tlsOptions must be an object")
        return cls(
            crt=_required(_str(d, "crt"), "crt"),
            ca=_str(d, "ca"),
            cert_chain=_strings(d, "certChain"),
            tls_options=tls_options,
        )

    def to_json(self) -> JSONObject:
        body: JSONObject = {"crt": self.crt, "ca": self.ca, "certChain": list(self.cert_chain)}
        if self.tls_options is not None:
            body["tlsOptions"] = self.tls_options
        return body

    @property
    def pems(self) -> tuple[str, ...]:
        """The leaf then its chain (``certChain``, or ``crt`` + ``ca`` from older CAs)."""
        return self.cert_chain or tuple(p for p in (self.crt, self.ca) if p)


#: ``/renew`` and ``/rekey`` answer with the body of ``/sign``
RenewResponse = SignResponse
RekeyResponse = SignResponse


@dataclass(frozen=True, slots=True)
class RekeyRequest:
    """``POST /rekey`` (over mTLS): the CSR of the new key."""

    csr: str

    @classmethod
    def from_json(cls, doc: object) -> Self:
        return cls(csr=_str(_object(doc), "csr", _NOT_A_CSR))

    def to_json(self) -> JSONObject:
        return {"csr": self.csr}


@dataclass(frozen=True, slots=True)
class RevokeRequest:
    """``POST /revoke``: by token (``ott``) or over mTLS with the certificate itself.

    ``passive`` defaults to true here (smallstep's Go zero value is false, and its server
    refuses that); ``step`` always sends it.
    """

    serial: str
    ott: str = ""
    reason_code: int = Reason.UNSPECIFIED
    reason: str = ""
    passive: bool = True
    #: stepca's addition: when the key is known or suspected compromised (RFC 3339; RFC 5280
    #: 5.3.2's invalidity date in the CRL entry); absent from smallstep's body
    invalidity_date: str = ""

    @classmethod
    def from_json(cls, doc: object) -> Self:
        d = _object(doc)
        serial = _required(_str(d, "serial"), "serial")
        code = check_reason_code(d.get("reasonCode"))
        invalidity = _str(d, "invalidityDate")
        if invalidity:
            rfc3339_seconds(invalidity, "invalidityDate")
        return cls(
            serial=serial,
            reason_code=code,
            passive=_bool(d, "passive", True),
            ott=_str(d, "ott"),
            reason=_str(d, "reason"),
            invalidity_date=invalidity,
        )

    def to_json(self) -> JSONObject:
        body: JSONObject = {
            "serial": self.serial,
            "ott": self.ott,
            "reasonCode": int(self.reason_code),
            "reason": self.reason,
            "passive": self.passive,
        }
        if self.invalidity_date:
            body["invalidityDate"] = self.invalidity_date
        return body

    @property
    def invalidity_timestamp(self) -> int:
        """``invalidityDate`` as unix seconds (0 when absent)."""
        return rfc3339_seconds(self.invalidity_date, "invalidityDate") if self.invalidity_date else 0


def rfc3339_seconds(text: str, name: str) -> int:
    """An RFC 3339 time with its offset (``2024-05-01T10:00:00Z``) as unix seconds, or 400."""
    from datetime import datetime

    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise BadRequest(f"{name} must be an RFC 3339 time such as 2024-05-01T10:00:00Z") from None
    if when.tzinfo is None:
        raise BadRequest(f"{name} must carry its time zone (Z or an offset)")
    return int(when.timestamp())


@dataclass(frozen=True, slots=True)
class RevokeResponse:
    """``/revoke`` and ``/ssh/revoke``: ``{"status": "ok"}``."""

    status: str = "ok"

    @classmethod
    def from_json(cls, doc: object) -> Self:
        return cls(status=_str(_object(doc), "status"))

    def to_json(self) -> JSONObject:
        return {"status": self.status}


# ------------------------------------------------------------------------------ SSH


_CERT_TYPES = ("", "user", "host")


@dataclass(frozen=True, slots=True)
class SSHSignRequest:
    """``POST /ssh/sign``: the public key to certify (wire blob) and a token; the rest narrows
    what the token allows. ``addUserPublicKey`` asks for an extra provisioning user certificate."""

    public_key: bytes
    ott: str
    cert_type: str = ""
    key_id: str = ""
    principals: tuple[str, ...] = ()
    valid_after: str = ""
    valid_before: str = ""
    add_user_public_key: bytes | None = None

    @classmethod
    def from_json(cls, doc: object) -> Self:
        d = _object(doc)
        cert_type = _str(d, "certType")
        if cert_type not in _CERT_TYPES:
            raise BadRequest(f"unknown certType {cert_type}")
        public_key = _blob(d, "publicKey")
        if not public_key:
            raise BadRequest("missing or empty publicKey")
        ott = _ott(d)
        principals = _strings(d, "principals")
        if any(not p for p in principals):
            raise BadRequest("principals cannot contain empty values")
        return cls(
            public_key=public_key,
            ott=ott,
            cert_type=cert_type,
            principals=principals,
            add_user_public_key=_blob(d, "addUserPublicKey") if d.get("addUserPublicKey") else None,
            key_id=_str(d, "keyID"),
            valid_after=_str(d, "validAfter"),
            valid_before=_str(d, "validBefore"),
        )

    def to_json(self) -> JSONObject:
        body: JSONObject = {"publicKey": _b64(self.public_key), "ott": self.ott}
        if self.cert_type:
            body["certType"] = self.cert_type
        body["principals"] = list(self.principals)
        if self.valid_after:
            body["validAfter"] = self.valid_after
        if self.valid_before:
            body["validBefore"] = self.valid_before
        if self.add_user_public_key is not None:
            body["addUserPublicKey"] = _b64(self.add_user_public_key)
        if self.key_id:
            body["keyID"] = self.key_id
        return body


@dataclass(frozen=True, slots=True)
class SSHSignResponse:
    """``201`` of ``/ssh/sign``, ``/ssh/renew``, ``/ssh/rekey``: the certificate's wire blob
    (and, from ``/ssh/sign`` only, the provisioning user certificate)."""

    crt: bytes
    add_user_crt: bytes | None = None

    @classmethod
    def from_json(cls, doc: object) -> Self:
        d = _object(doc)
        crt = _blob(d, "crt")
        if not crt:
            raise BadRequest("missing crt")
        return cls(crt=crt, add_user_crt=_blob(d, "addUserCrt") if d.get("addUserCrt") else None)

    def to_json(self) -> JSONObject:
        body: JSONObject = {"crt": _b64(self.crt)}
        if self.add_user_crt is not None:
            body["addUserCrt"] = _b64(self.add_user_crt)
        return body


SSHRenewResponse = SSHSignResponse
SSHRekeyResponse = SSHSignResponse


@dataclass(frozen=True, slots=True)
class SSHRenewRequest:
    """``POST /ssh/renew``: an SSHPOP token that carries the host certificate."""

    ott: str

    @classmethod
    def from_json(cls, doc: object) -> Self:
        return cls(ott=_ott(_object(doc)))

    def to_json(self) -> JSONObject:
        return {"ott": self.ott}


@dataclass(frozen=True, slots=True)
class SSHRekeyRequest:
    """``POST /ssh/rekey``: like ``/ssh/renew``, for a new public key (wire blob)."""

    ott: str
    public_key: bytes

    @classmethod
    def from_json(cls, doc: object) -> Self:
        d = _object(doc)
        ott = _ott(d)
        public_key = _blob(d, "publicKey")
        if not public_key:
            raise BadRequest("missing or empty public key")
        return cls(ott=ott, public_key=public_key)

    def to_json(self) -> JSONObject:
        return {"ott": self.ott, "publicKey": _b64(self.public_key)}


@dataclass(frozen=True, slots=True)
class SSHRevokeRequest:
    """``POST /ssh/revoke``. An absent ``passive`` reads as false, as in smallstep, whose server
    then answers 501 (only passive revocation exists)."""

    serial: str
    ott: str
    reason_code: int = Reason.UNSPECIFIED
    reason: str = ""
    passive: bool = True

    @classmethod
    def from_json(cls, doc: object) -> Self:
        d = _object(doc)
        serial = _required(_str(d, "serial"), "serial")
        code = check_reason_code(d.get("reasonCode"))
        passive = _bool(d, "passive", False)
        return cls(serial=serial, reason_code=code, passive=passive, ott=_ott(d), reason=_str(d, "reason"))

    def to_json(self) -> JSONObject:
        return {
            "serial": self.serial,
            "ott": self.ott,
            "reasonCode": int(self.reason_code),
            "reason": self.reason,
            "passive": self.passive,
        }


@dataclass(frozen=True, slots=True)
class SSHKeysResponse:
    """``GET /ssh/roots`` and ``/ssh/federation``: the CA keys (wire blobs); empty lists left out."""

    user_key: tuple[bytes, ...] = ()
    host_key: tuple[bytes, ...] = ()

    @classmethod
    def from_json(cls, doc: object) -> Self:
        d = _object(doc)
        return cls(user_key=_blobs(d, "userKey"), host_key=_blobs(d, "hostKey"))

    def to_json(self) -> JSONObject:
        body: JSONObject = {}
        if self.user_key:
            body["userKey"] = [_b64(k) for k in self.user_key]
        if self.host_key:
            body["hostKey"] = [_b64(k) for k in self.host_key]
        return body


SSHRootsResponse = SSHKeysResponse
SSHFederationResponse = SSHKeysResponse


@dataclass(frozen=True, slots=True)
class SSHConfigRequest:
    """``POST /ssh/config``: which templates (``user`` or ``host``) and the ``--set`` variables."""

    type: str = "user"
    data: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_json(cls, doc: object) -> Self:
        d = _object(doc)
        kind = _str(d, "type") or "user"
        if kind not in ("user", "host"):
            raise BadRequest(f"unsupported type {kind}")
        data = d.get("data") or {}
        if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
            raise BadRequest("data must be an object of strings")
        return cls(type=kind, data=dict(data))

    def to_json(self) -> JSONObject:
        return {"type": self.type, "data": dict(self.data)}


@dataclass(frozen=True, slots=True)
class SSHTemplateOutput:
    """One rendered template of ``/ssh/config``: where it goes and what it holds."""

    name: str
    type: str
    path: str
    comment: str
    content: bytes

    @classmethod
    def from_json(cls, doc: object) -> Self:
        d = _object(doc)
        return cls(
            name=_str(d, "name"),
            type=_str(d, "type"),
            path=_str(d, "path"),
            comment=_str(d, "comment"),
            content=_blob(d, "content"),
        )

    def to_json(self) -> JSONObject:
        return {
            "name": self.name,
            "type": self.type,
            "path": self.path,
            "comment": self.comment,
            "content": _b64(self.content),
        }


@dataclass(frozen=True, slots=True)
class SSHConfigResponse:
    """``/ssh/config``: ``userTemplates`` or ``hostTemplates``, left out when empty."""

    user_templates: tuple[SSHTemplateOutput, ...] = ()
    host_templates: tuple[SSHTemplateOutput, ...] = ()

    @classmethod
    def from_json(cls, doc: object) -> Self:
        d = _object(doc)
        return cls(
            user_templates=tuple(SSHTemplateOutput.from_json(t) for t in _objects(d, "userTemplates")),
            host_templates=tuple(SSHTemplateOutput.from_json(t) for t in _objects(d, "hostTemplates")),
        )

    def to_json(self) -> JSONObject:
        body: JSONObject = {}
        if self.user_templates:
            body["userTemplates"] = [t.to_json() for t in self.user_templates]
        if self.host_templates:
            body["hostTemplates"] = [t.to_json() for t in self.host_templates]
        return body


@dataclass(frozen=True, slots=True)
class SSHCheckHostRequest:
    """``POST /ssh/check-host``: has the CA issued a host certificate for ``principal``?"""

    principal: str
    type: str = "host"

    @classmethod
    def from_json(cls, doc: object) -> Self:
        d = _object(doc)
        kind = _str(d, "type")
        if kind != "host":
            raise BadRequest(f"unsupported type {kind}")
        principal = _str(d, "principal")
        if not principal:
            raise BadRequest("missing or empty principal")
        return cls(principal=principal, type=kind)

    def to_json(self) -> JSONObject:
        return {"type": self.type, "principal": self.principal}


@dataclass(frozen=True, slots=True)
class SSHCheckHostResponse:
    exists: bool

    @classmethod
    def from_json(cls, doc: object) -> Self:
        d = _object(doc)
        exists = d.get("exists")
        if not isinstance(exists, bool):
            raise BadRequest("exists must be a boolean")
        return cls(exists=exists)

    def to_json(self) -> JSONObject:
        return {"exists": self.exists}


@dataclass(frozen=True, slots=True)
class SSHHost:
    """One entry of ``/ssh/hosts`` (``hid`` and ``host_tags`` are smallstep's, always empty here)."""

    hostname: str
    hid: str = ""
    host_tags: tuple[JSONObject, ...] | None = None

    @classmethod
    def from_json(cls, doc: object) -> Self:
        d = _object(doc)
        tags = _objects(d, "host_tags") if d.get("host_tags") is not None else None
        return cls(hostname=_str(d, "hostname"), hid=_str(d, "hid"), host_tags=tags)

    def to_json(self) -> JSONObject:
        tags = list(self.host_tags) if self.host_tags is not None else None
        return {"hid": self.hid, "host_tags": tags, "hostname": self.hostname}


@dataclass(frozen=True, slots=True)
class SSHHostsResponse:
    """``GET /ssh/hosts``: the hosts with a valid host certificate."""

    hosts: tuple[SSHHost, ...] = ()

    @classmethod
    def from_json(cls, doc: object) -> Self:
        return cls(hosts=tuple(SSHHost.from_json(h) for h in _objects(_object(doc), "hosts")))

    def to_json(self) -> JSONObject:
        return {"hosts": [h.to_json() for h in self.hosts]}


__all__ = [
    "ERROR_DECODING_JSON",
    "ErrorResponse",
    "HealthResponse",
    "Message",
    "ProvisionerKeyResponse",
    "ProvisionersResponse",
    "RekeyRequest",
    "RekeyResponse",
    "RenewResponse",
    "RevokeRequest",
    "RevokeResponse",
    "RootResponse",
    "RootsResponse",
    "SSHCheckHostRequest",
    "SSHCheckHostResponse",
    "SSHConfigRequest",
    "SSHConfigResponse",
    "SSHFederationResponse",
    "SSHHost",
    "SSHHostsResponse",
    "SSHKeysResponse",
    "SSHRekeyRequest",
    "SSHRekeyResponse",
    "SSHRenewRequest",
    "SSHRenewResponse",
    "SSHRevokeRequest",
    "SSHRootsResponse",
    "SSHSignRequest",
    "SSHSignResponse",
    "SSHTemplateOutput",
    "SignRequest",
    "SignResponse",
    "VersionResponse",
]
