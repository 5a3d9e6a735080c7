"""Certificate templates: a provisioner's ``options.x509`` / ``options.ssh``, as smallstep's.

A template is a Go text/template (rendered by ``gotemplate``) that produces the certificate as
JSON. The data it sees are smallstep's:

- X.509: ``.Subject`` (``{"commonName": ...}``), ``.SANs`` (``[{"type": "dns", "value": ...}]``),
  ``.Token`` (the token's claims), ``.Insecure.CR`` (the CSR: ``.Subject.CommonName``,
  ``.DNSNames``, ``.EmailAddresses``, ``.IPAddresses``, ``.URIs``, ``.PublicKey`` for
  ``typeIs "*rsa.PublicKey"``), ``.Insecure.User`` (the sign request's ``templateData``), and the
  provisioner's ``templateData`` keys at the top level.
- SSH: ``.Type``, ``.KeyID``, ``.Principals``, ``.Token``, ``.Insecure.CR`` (what the request
  asked: ``.Type``, ``.KeyID``, ``.Principals``), ``.Insecure.User``, and ``templateData``.

X.509 output fields: ``subject`` (an object with ``commonName``, ``country``, ``organization``,
``organizationalUnit``, ``locality``, ``province``, ``streetAddress``, ``postalCode``,
``serialNumber``; or a string, the common name), ``sans`` (``[{type, value}]``) and/or
``dnsNames``, ``emailAddresses``, ``ipAddresses``, ``uris``, ``keyUsage``, ``extKeyUsage``,
``basicConstraints`` (a leaf only: ``isCA: true`` is refused). SSH output fields: ``type``,
``keyId``, ``principals``, ``extensions``, ``criticalOptions``.

``{{ fail "why" }}`` refuses the request with 403 and that message. A template that does not parse
stops the configuration from loading, naming the provisioner; one that produces something we
cannot issue is a 500 with the reason in the log.

Names are authorized before the template runs (the CSR's names against the token's, as always):
a template decides what the certificate says within what the provisioner authorized, as in
smallstep, where the template is the provisioner owner's choice.
"""

from __future__ import annotations

import ipaddress
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from stepca.authority.gotemplate import Template, TemplateError, TemplateFail
from stepca.crypto.sans import classify
from stepca.errors import Forbidden, StepError

log = logging.getLogger("stepca.authority")

_SUBJECT_FIELDS = {
    "commonName": NameOID.COMMON_NAME,
    "country": NameOID.COUNTRY_NAME,
    "organization": NameOID.ORGANIZATION_NAME,
    "organizationalUnit": NameOID.ORGANIZATIONAL_UNIT_NAME,
    "locality": NameOID.LOCALITY_NAME,
    "province": NameOID.STATE_OR_PROVINCE_NAME,
    "streetAddress": NameOID.STREET_ADDRESS,
    "postalCode": NameOID.POSTAL_CODE,
    "serialNumber": NameOID.SERIAL_NUMBER,
}
# Go's pkix.Name order for the multi-valued attributes, then CN and serialNumber
_SUBJECT_ORDER = (
    "country", "organization", "organizationalUnit", "locality", "province", "streetAddress", "postalCode",
    "serialNumber", "commonName",
)  # fmt: skip
_KEY_USAGES = {
    "digitalSignature": "digital_signature",
    "contentCommitment": "content_commitment",
    "keyEncipherment": "key_encipherment",
    "dataEncipherment": "data_encipherment",
    "keyAgreement": "key_agreement",
    "certSign": "key_cert_sign",
    "crlSign": "crl_sign",
    "encipherOnly": "encipher_only",
    "decipherOnly": "decipher_only",
}
_EXT_KEY_USAGES = {
    "serverAuth": ExtendedKeyUsageOID.SERVER_AUTH,
    "clientAuth": ExtendedKeyUsageOID.CLIENT_AUTH,
    "codeSigning": ExtendedKeyUsageOID.CODE_SIGNING,
    "emailProtection": ExtendedKeyUsageOID.EMAIL_PROTECTION,
    "timeStamping": ExtendedKeyUsageOID.TIME_STAMPING,
    "ocspSigning": ExtendedKeyUsageOID.OCSP_SIGNING,
}
_X509_FIELDS = frozenset(
    {"subject", "sans", "dnsNames", "emailAddresses", "ipAddresses", "uris", "keyUsage", "extKeyUsage",
     "basicConstraints"}
)  # fmt: skip
_SSH_FIELDS = frozenset({"type", "keyId", "principals", "extensions", "criticalOptions"})


class TemplateProblem(StepError):
    """A template produced something that cannot be issued (500; the reason is logged)."""


@dataclass(frozen=True, slots=True)
class GoPublicKey:
    """A public key as templates see it: ``typeIs "*rsa.PublicKey"`` and friends."""

    go_type: str

    @classmethod
    def of(cls, key: object) -> GoPublicKey:
        if isinstance(key, rsa.RSAPublicKey):
            return cls("*rsa.PublicKey")
        if isinstance(key, ec.EllipticCurvePublicKey):
            return cls("*ecdsa.PublicKey")
        if isinstance(key, ed25519.Ed25519PublicKey):
            return cls("ed25519.PublicKey")
        return cls("")

    def to_json(self) -> str:
        return self.go_type


@dataclass(frozen=True, slots=True)
class X509TemplateResult:
    subject: x509.Name
    sans: x509.SubjectAlternativeName | None
    key_usage: x509.KeyUsage | None
    ext_key_usage: x509.ExtendedKeyUsage | None


@dataclass(frozen=True, slots=True)
class SSHTemplateResult:
    cert_type: str
    key_id: str
    principals: tuple[str, ...]
    extensions: tuple[tuple[str, str], ...]
    critical_options: tuple[tuple[str, str], ...]


def _source(where: str, options: dict[str, Any], base: Path | None) -> tuple[Template, dict[str, Any]] | None:
    if not isinstance(options, dict):
        raise ValueError(f"{where} must be an object")
    inline, file = options.get("template"), options.get("templateFile")
    data = options.get("templateData")
    data = {} if data is None else data
    if not isinstance(data, dict):
        raise ValueError(f"{where}.templateData must be an object")
    if inline and file:
        raise ValueError(f"{where}: template and templateFile cannot both be set")
    if file:
        path = Path(str(file)).expanduser()
        if not path.is_absolute() and base is not None:
            path = base / path
        try:
            inline = path.read_text()
        except OSError as exc:
            raise ValueError(f"{where}.templateFile {file}: cannot be read ({exc.strerror})") from None
    if not inline:
        return None
    if not isinstance(inline, str):
        raise ValueError(f"{where}.template must be a string")
    try:
        return Template(where, inline), data
    except TemplateError as exc:
        raise ValueError(str(exc)) from None


def load_templates(
    name: str, options: dict[str, Any] | None, base: Path | None
) -> tuple[X509Template | None, SSHTemplate | None]:
    """The provisioner's templates from its ``options`` (None where it has none)."""
    if not options:
        return None, None
    x509_opts, ssh_opts = options.get("x509"), options.get("ssh")
    x = _source(f"provisioner {name!r} options.x509", x509_opts, base) if x509_opts else None
    s = _source(f"provisioner {name!r} options.ssh", ssh_opts, base) if ssh_opts else None
    return (X509Template(*x) if x else None), (SSHTemplate(*s) if s else None)


def _render(template: Template, data: dict[str, Any]) -> dict[str, Any]:
    try:
        out = template.render(data)
    except TemplateFail as exc:
        raise Forbidden(str(exc)) from None
    except TemplateError as exc:
        log.error("%s", exc)
        raise TemplateProblem("the certificate template failed") from None
    try:
        doc = json.loads(out)
    except ValueError as exc:
        log.error("template %s did not produce JSON: %s", template.name, exc)
        raise TemplateProblem("the certificate template did not produce JSON") from None
    if not isinstance(doc, dict):
        raise TemplateProblem("the certificate template did not produce a JSON object")
    return doc


def _problem(template: Template, why: str) -> TemplateProblem:
    log.error("template %s: %s", template.name, why)
    return TemplateProblem(f"the certificate template is not usable: {why}")


def _strings(value: object) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    raise ValueError("must be a string or a list of strings")


class X509Template:
    def __init__(self, template: Template, data: dict[str, Any]) -> None:
        self.template = template
        self.data = data

    def render(
        self,
        *,
        subject: str,
        sans: tuple[str, ...],
        token: dict[str, Any],
        csr: x509.CertificateSigningRequest,
        csr_key: object,
        user: dict[str, Any] | None = None,
    ) -> X509TemplateResult:
        names = classify(list(sans))
        data: dict[str, Any] = {
            **self.data,
            "Subject": {"commonName": subject},
            "SANs": [{"type": t, "value": v} for t, v in _typed(names)],
            "Token": token,
            "Insecure": {"CR": _csr_data(csr, csr_key), "User": user or {}},
        }
        doc = _render(self.template, data)
        unknown = set(doc) - _X509_FIELDS
        if unknown:
            raise _problem(self.template, f"unknown fields {sorted(unknown)}")
        constraints = doc.get("basicConstraints")
        if constraints is not None and (not isinstance(constraints, dict) or constraints.get("isCA")):
            raise _problem(self.template, "basicConstraints: a leaf template cannot make a CA certificate")
        try:
            return X509TemplateResult(
                subject=_subject(doc.get("subject")),
                sans=_sans(doc),
                key_usage=_key_usage(doc.get("keyUsage")),
                ext_key_usage=_ext_key_usage(doc.get("extKeyUsage")),
            )
        except ValueError as exc:
            raise _problem(self.template, str(exc)) from None


class SSHTemplate:
    def __init__(self, template: Template, data: dict[str, Any]) -> None:
        self.template = template
        self.data = data

    def render(
        self,
        *,
        cert_type: str,
        key_id: str,
        principals: tuple[str, ...],
        token: dict[str, Any],
        requested: dict[str, Any],
        user: dict[str, Any] | None = None,
    ) -> SSHTemplateResult:
        data: dict[str, Any] = {
            **self.data,
            "Type": cert_type,
            "KeyID": key_id,
            "Principals": list(principals),
            "Token": token,
            "Insecure": {"CR": requested, "User": user or {}},
        }
        doc = _render(self.template, data)
        unknown = set(doc) - _SSH_FIELDS
        if unknown:
            raise _problem(self.template, f"unknown fields {sorted(unknown)}")
        try:
            kind = doc.get("type", cert_type)
            if kind not in ("user", "host"):
                raise ValueError(f"type must be user or host, got {kind!r}")
            return SSHTemplateResult(
                cert_type=kind,
                key_id=str(doc.get("keyId", key_id)),
                principals=tuple(_strings(doc.get("principals", list(principals)))),
                extensions=_pairs(doc.get("extensions"), "extensions"),
                critical_options=_pairs(doc.get("criticalOptions"), "criticalOptions"),
            )
        except ValueError as exc:
            raise _problem(self.template, str(exc)) from None


def _pairs(value: object, what: str) -> tuple[tuple[str, str], ...]:
    if value is None:
        return ()
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise ValueError(f"{what} must be an object of strings")
    return tuple(sorted((str(k), v) for k, v in value.items()))


def _typed(names: Any) -> list[tuple[str, str]]:
    return (
        [("dns", d) for d in names.dns]
        + [("ip", str(i)) for i in names.ips]
        + [("email", e) for e in names.emails]
        + [("uri", u) for u in names.uris]
    )


def _csr_data(csr: x509.CertificateSigningRequest, key: object) -> dict[str, Any]:
    cn = csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    try:
        san = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (x509.ExtensionNotFound, ValueError):
        san = x509.SubjectAlternativeName([])
    return {
        "Subject": {"CommonName": str(cn[0].value) if cn else ""},
        "DNSNames": san.get_values_for_type(x509.DNSName),
        "EmailAddresses": san.get_values_for_type(x509.RFC822Name),
        "IPAddresses": [str(i) for i in san.get_values_for_type(x509.IPAddress)],
        "URIs": san.get_values_for_type(x509.UniformResourceIdentifier),
        "PublicKey": GoPublicKey.of(key),
        "PublicKeyAlgorithm": GoPublicKey.of(key).go_type.split(".")[0].lstrip("*").upper(),
    }


def _subject(value: object) -> x509.Name:
    if value is None:
        return x509.Name([])
    if isinstance(value, str):
        value = {"commonName": value}
    if not isinstance(value, dict):
        raise ValueError("subject must be an object or a string")
    unknown = set(value) - set(_SUBJECT_FIELDS)
    if unknown:
        raise ValueError(f"unknown subject fields {sorted(unknown)}")
    attrs = []
    for field in _SUBJECT_ORDER:
        for item in _strings(value.get(field)):
            if item:
                attrs.append(x509.NameAttribute(_SUBJECT_FIELDS[field], item))
    return x509.Name(attrs)


def _sans(doc: dict[str, Any]) -> x509.SubjectAlternativeName | None:
    general: list[x509.GeneralName] = []
    raw = doc.get("sans") or []
    if not isinstance(raw, list):
        raise ValueError("sans must be a list")
    for item in raw:
        if not isinstance(item, dict) or not isinstance(item.get("value"), str):
            raise ValueError("each san must be an object {type, value}")
        general.append(_general(str(item.get("type") or "auto"), item["value"]))
    for field, kind in (
        ("dnsNames", "dns"),
        ("emailAddresses", "email"),
        ("ipAddresses", "ip"),
        ("uris", "uri"),
    ):
        general += [_general(kind, v) for v in _strings(doc.get(field))]
    unique = list(dict.fromkeys(general))
    return x509.SubjectAlternativeName(unique) if unique else None


def _general(kind: str, value: str) -> x509.GeneralName:
    if kind == "auto":
        names = classify([value])
        general = names.to_general_names()
        if len(general) != 1:
            raise ValueError(f"cannot tell what kind of name {value!r} is")
        return general[0]
    if kind == "dns":
        return x509.DNSName(value)
    if kind == "email":
        return x509.RFC822Name(value)
    if kind == "uri":
        return x509.UniformResourceIdentifier(value)
    if kind == "ip":
        try:
            return x509.IPAddress(ipaddress.ip_address(value))
        except ValueError:
            raise ValueError(f"{value!r} is not an IP address") from None
    raise ValueError(f"unknown san type {kind!r}")


def _key_usage(value: object) -> x509.KeyUsage | None:
    if value is None:
        return None
    flags = dict.fromkeys(_KEY_USAGES.values(), False)
    for name in _strings(value):
        if name not in _KEY_USAGES:
            raise ValueError(f"unknown keyUsage {name!r}")
        if name in ("certSign", "crlSign"):
            raise ValueError(f"keyUsage {name} is for CA certificates, not leaves")
        flags[_KEY_USAGES[name]] = True
    if not flags["key_agreement"] and (flags["encipher_only"] or flags["decipher_only"]):
        raise ValueError("encipherOnly and decipherOnly need keyAgreement")
    return x509.KeyUsage(**flags)


def _ext_key_usage(value: object) -> x509.ExtendedKeyUsage | None:
    if value is None:
        return None
    oids = []
    for name in _strings(value):
        oid = _EXT_KEY_USAGES.get(name) or _EXT_KEY_USAGES.get(name[:1].lower() + name[1:])
        if oid is None:
            raise ValueError(f"unknown extKeyUsage {name!r}")
        oids.append(oid)
    return x509.ExtendedKeyUsage(oids) if oids else None
