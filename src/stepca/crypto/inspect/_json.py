"""The JSON renderer (zcrypto's MarshalJSON)."""

from __future__ import annotations

import functools
import hashlib
import ipaddress
import re
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed25519, rsa, x25519
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes
from cryptography.x509 import certificate_transparency as ct
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtensionOID, NameOID

from stepca.crypto import der
from stepca.crypto.inspect._common import (
    _b64,
    _common_name,
    _curve_name,
    _go_ip,
    _int_bytes,
    _json_name,
    _key_value_pairs,
    _omit_empty,
    _raw_value,
    _spki_key_bytes,
    _values,
)
from stepca.crypto.inspect._tables import (
    _CURVE_PARAMS,
    _DV_POLICIES,
    _EV_POLICIES,
    _JSON_EKU_OIDS,
    _JSON_EKUS,
    _JSON_PROVISIONER_TYPES,
    _KEY_USAGES,
    _OV_POLICIES,
    _SCT_LIST,
    Extension,
)
from stepca.crypto.inspect._text import (
    _aia_uris,
    _crl_uris,
    _eku_oids,
    _extension_value,
    _key_usage_bits,
    _provisioner,
)
from stepca.crypto.x509ext import PROVISIONER_OID

# --- JSON ----------------------------------------------------------------------------------------


def _json_key_usage(ext: Extension) -> dict[str, Any] | None:
    bits = _key_usage_bits(ext.value)
    if not bits:
        return None  # zcrypto's KeyUsage is omitempty
    return {key: True for bit, _, key in _KEY_USAGES if bits & bit} | {"value": bits}


def _json_basic_constraints(ext: Extension) -> dict[str, Any]:
    constraints: x509.BasicConstraints = ext.value
    doc: dict[str, Any] = {"is_ca": constraints.ca}
    if constraints.path_length is not None:
        doc["max_path_len"] = constraints.path_length
    return doc


def _json_other_name(name: x509.OtherName) -> dict[str, str]:
    return {"id": name.type_id.dotted_string, **_omit_empty("value", _b64(der.read_tlv(name.value)[1]))}


def _json_general_names(general_names: Iterable[x509.GeneralName]) -> dict[str, Any]:
    names = list(general_names)

    def of(kind: type[x509.GeneralName]) -> list[Any]:
        return [n.value for n in names if isinstance(n, kind)]

    return {
        **_omit_empty("directory_names", [_json_name(n) for n in of(x509.DirectoryName)]),
        **_omit_empty("dns_names", of(x509.DNSName)),
        **_omit_empty("email_addresses", of(x509.RFC822Name)),
        **_omit_empty("ip_addresses", [_go_ip(ip) for ip in of(x509.IPAddress)]),
        **_omit_empty("other_names", [_json_other_name(n) for n in names if isinstance(n, x509.OtherName)]),
        **_omit_empty("registered_ids", [oid.dotted_string for oid in of(x509.RegisteredID)]),
        **_omit_empty("uniform_resource_identifiers", of(x509.UniformResourceIdentifier)),
    }


def _json_ip_range(network: ipaddress.IPv4Network | ipaddress.IPv6Network) -> dict[str, str]:
    return {
        "cidr": str(network),
        "begin": str(network.network_address),
        "end": str(network.broadcast_address),
        "mask": str(network.netmask),
    }


def _json_subtrees(prefix: str, subtrees: Sequence[x509.GeneralName] | None) -> dict[str, Any]:
    """zcrypto's permitted_*/excluded_* keys (it skips URI subtrees; ``registred`` is its spelling)."""
    trees = list(subtrees or [])

    def of(kind: type[x509.GeneralName]) -> list[Any]:
        return [n.value for n in trees if isinstance(n, kind)]

    return {
        **_omit_empty(f"{prefix}_names", of(x509.DNSName)),
        **_omit_empty(f"{prefix}_email_addresses", of(x509.RFC822Name)),
        **_omit_empty(f"{prefix}_ip_addresses", [_json_ip_range(n) for n in of(x509.IPAddress)]),
        **_omit_empty(f"{prefix}_directory_names", [_json_name(n) for n in of(x509.DirectoryName)]),
        **_omit_empty(f"{prefix}_registred_id", [oid.dotted_string for oid in of(x509.RegisteredID)]),
    }


def _json_name_constraints(ext: Extension) -> dict[str, Any]:
    constraints: x509.NameConstraints = ext.value
    return (
        {"critical": ext.critical}
        | _json_subtrees("permitted", constraints.permitted_subtrees)
        | _json_subtrees("excluded", constraints.excluded_subtrees)
    )


def _json_eku(ext: Extension) -> dict[str, Any]:
    oids = _eku_oids(ext)
    unknown = [oid for oid in oids if oid not in _JSON_EKU_OIDS]
    return {key: True for key, oid in _JSON_EKUS if oid in oids} | _omit_empty("unknown", unknown)


def _json_user_notices(notices: list[x509.UserNotice]) -> list[dict[str, Any]]:
    """zcrypto pairs the n-th explicit text with the n-th notice reference of the policy."""
    texts = [n.explicit_text for n in notices if n.explicit_text]
    references = [n.notice_reference for n in notices if n.notice_reference is not None]
    entries = []
    for index, text in enumerate(texts):
        entry: dict[str, Any] = {"explicit_text": text}
        if index < len(references):
            reference = references[index]
            entry["notice_reference"] = [
                _omit_empty("organization", reference.organization)
                | _omit_empty("notice_numbers", list(reference.notice_numbers))
            ]
        entries.append(entry)
    return entries


def _json_policies(ext: Extension) -> list[dict[str, Any]]:
    policies = []
    for policy in ext.value:
        qualifiers = policy.policy_qualifiers or []
        notices = [q for q in qualifiers if isinstance(q, x509.UserNotice)]
        policies.append(
            {"id": policy.policy_identifier.dotted_string}
            | _omit_empty("cps", [q for q in qualifiers if isinstance(q, str)])
            | _omit_empty("user_notice", _json_user_notices(notices))
        )
    return policies


def _json_aia(ext: Extension) -> dict[str, list[str]]:
    return _omit_empty("ocsp_urls", _aia_uris(ext.value, AuthorityInformationAccessOID.OCSP)) | _omit_empty(
        "issuer_urls", _aia_uris(ext.value, AuthorityInformationAccessOID.CA_ISSUERS)
    )


_SCT_HASH_CODES = {"md5": 1, "sha1": 2, "sha224": 3, "sha256": 4, "sha384": 5, "sha512": 6}


def _json_sct(sct: ct.SignedCertificateTimestamp) -> dict[str, Any]:
    """zcrypto's SCT JSON: the timestamp in seconds, the signature as a TLS DigitallySigned."""
    seconds = (sct.timestamp.replace(tzinfo=UTC) - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(seconds=1)
    digitally_signed = (
        bytes([_SCT_HASH_CODES.get(sct.signature_hash_algorithm.name, 0), sct.signature_algorithm.value])
        + len(sct.signature).to_bytes(2, "big")
        + sct.signature
    )
    return (
        {"version": sct.version.value, "log_id": _b64(sct.log_id)}
        | _omit_empty("timestamp", seconds if seconds <= 253402300799 else 0)
        | _omit_empty("extensions", _b64(sct.extension_bytes))
        | {"signature": _b64(digitally_signed)}
    )


def _json_provisioner(ext: Extension) -> dict[str, str]:
    """zcrypto's StepProvisioner JSON: a Go map, so keys come out sorted."""
    provisioner = _provisioner(ext)
    doc = {
        "type": _JSON_PROVISIONER_TYPES.get(provisioner.type, f"Unknown ({hex(provisioner.type)})"),
        "name": provisioner.name,
        **_omit_empty("credentialID", provisioner.credential_id),
    }
    for key, value in _key_value_pairs(provisioner.key_value_pairs):
        doc[key[0].lower() + key[1:] if "A" <= key[:1] <= "Z" else key] = value
    return dict(sorted(doc.items()))


def _hex_or_none(data: bytes | None) -> str | None:
    return data.hex() if data else None


# OID -> (JSON key, renderer); a renderer returning None leaves the key out (Go's omitempty).
_JSON_EXTENSIONS: dict[str, tuple[str, Callable[[Extension], Any]]] = {
    "2.5.29.15": ("key_usage", _json_key_usage),
    "2.5.29.19": ("basic_constraints", _json_basic_constraints),
    "2.5.29.17": ("subject_alt_name", lambda e: _json_general_names(e.value)),
    "2.5.29.18": ("issuer_alt_name", lambda e: _json_general_names(e.value)),
    "2.5.29.30": ("name_constraints", _json_name_constraints),
    "2.5.29.31": ("crl_distribution_points", lambda e: _crl_uris(e.value) or None),
    "2.5.29.35": ("authority_key_id", lambda e: _hex_or_none(e.value.key_identifier)),
    "2.5.29.14": ("subject_key_id", lambda e: _hex_or_none(e.value.digest)),
    "2.5.29.37": ("extended_key_usage", _json_eku),
    "2.5.29.32": ("certificate_policies", _json_policies),
    ExtensionOID.AUTHORITY_INFORMATION_ACCESS.dotted_string: ("authority_info_access", _json_aia),
    ExtensionOID.PRECERT_POISON.dotted_string: ("ct_poison", lambda e: True),
    _SCT_LIST: ("signed_certificate_timestamps", lambda e: [_json_sct(s) for s in e.value] or None),
    PROVISIONER_OID: ("step_provisioner", _json_provisioner),
}
# zcrypto's CertificateExtensions field order.
_JSON_EXTENSION_ORDER = (
    "key_usage", "basic_constraints", "subject_alt_name", "issuer_alt_name", "name_constraints",
    "crl_distribution_points", "authority_key_id", "subject_key_id", "extended_key_usage",
    "certificate_policies", "authority_info_access", "ct_poison", "signed_certificate_timestamps",
    "step_provisioner",
)  # fmt: skip


def _json_extensions(extensions: x509.Extensions) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """zcrypto's ``extensions`` object and its ``unknown_extensions`` list."""
    found: dict[str, Any] = {}
    unknown: list[dict[str, Any]] = []
    for ext in extensions:
        oid = ext.oid.dotted_string
        if oid not in _JSON_EXTENSIONS:
            value = _b64(_raw_value(ext))
            unknown.append({"id": oid, "critical": ext.critical, **_omit_empty("value", value)})
            continue
        key, render = _JSON_EXTENSIONS[oid]
        rendered = render(ext)
        if rendered is not None:
            found[key] = rendered
    return {key: found[key] for key in _JSON_EXTENSION_ORDER if key in found}, unknown


def _json_ecdsa_key(key: ec.EllipticCurvePublicKey, spki: bytes) -> dict[str, Any]:
    numbers = key.public_numbers()
    doc: dict[str, Any] = {
        "curve": _curve_name(key.curve),
        "length": key.curve.key_size,
        "pub": _b64(_spki_key_bytes(spki)),
        "x": _b64(_int_bytes(numbers.x)),
        "y": _b64(_int_bytes(numbers.y)),
    }
    params = _CURVE_PARAMS.get(key.curve.name)
    if params is not None:
        p, n, b = params
        generator = ec.derive_private_key(1, key.curve).public_key().public_numbers()
        doc |= {name: _b64(_int_bytes(v)) for name, v in (("p", p), ("n", n), ("b", b))}
        doc |= {"gx": _b64(_int_bytes(generator.x)), "gy": _b64(_int_bytes(generator.y))}
    return dict(sorted(doc.items()))  # a Go map: sorted keys


def _json_rsa_key(key: rsa.RSAPublicKey) -> dict[str, Any]:
    numbers = key.public_numbers()
    modulus = _int_bytes(numbers.n)
    return {"exponent": numbers.e, "modulus": _b64(modulus), "length": len(modulus) * 8}


def _json_dsa_key(key: dsa.DSAPublicKey) -> dict[str, str]:
    numbers = key.public_numbers()
    params = numbers.parameter_numbers
    values = (("g", params.g), ("p", params.p), ("q", params.q), ("y", numbers.y))
    return {name: _b64(_int_bytes(v)) for name, v in values}


def _json_subject_key_info(key: CertificatePublicKeyTypes | None, spki: bytes) -> dict[str, Any]:
    doc: dict[str, Any] = {"key_algorithm": {"name": _json_key_algorithm(key)}}
    if isinstance(key, rsa.RSAPublicKey):
        doc["rsa_public_key"] = _json_rsa_key(key)
    elif isinstance(key, dsa.DSAPublicKey):
        doc["dsa_public_key"] = _json_dsa_key(key)
    elif isinstance(key, ec.EllipticCurvePublicKey):
        doc["ecdsa_public_key"] = _json_ecdsa_key(key, spki)
    doc["fingerprint_sha256"] = hashlib.sha256(spki).hexdigest()
    return doc


def _json_key_algorithm(key: CertificatePublicKeyTypes | None) -> str:
    kinds = (
        (rsa.RSAPublicKey, "RSA"),
        (dsa.DSAPublicKey, "DSA"),
        (ec.EllipticCurvePublicKey, "ECDSA"),
        (ed25519.Ed25519PublicKey, "Ed25519"),
        (x25519.X25519PublicKey, "X25519"),
    )
    return next((name for kind, name in kinds if isinstance(key, kind)), "unknown_algorithm")


def _validation_level(cert: x509.Certificate, self_signed: bool) -> str:
    """zcrypto sets DV/OV/EV only for certificates with a policies extension that are not self-signed."""
    policies = _extension_value(cert.extensions, ExtensionOID.CERTIFICATE_POLICIES)
    if policies is None or self_signed:
        return "unknown"
    oids = {p.policy_identifier.dotted_string for p in policies}
    for level, table in (("EV", _EV_POLICIES), ("OV", _OV_POLICIES), ("DV", _DV_POLICIES)):
        if oids & table:
            return level
    return "DV" if _looks_domain_validated(cert) else "unknown"


def _looks_domain_validated(cert: x509.Certificate) -> bool:
    """zcrypto's fallback, after http://unmitigatedrisk.com/?p=203."""
    subject = cert.subject
    organization = _values(subject, NameOID.ORGANIZATION_NAME)
    unit = _values(subject, NameOID.ORGANIZATIONAL_UNIT_NAME)
    if (organization and organization[0] == _common_name(subject)) or (
        unit and "Domain Control Validated" in unit[0]
    ):
        located = (NameOID.LOCALITY_NAME, NameOID.STATE_OR_PROVINCE_NAME, NameOID.POSTAL_CODE)
        return not any(_values(subject, oid) for oid in located)
    return (
        bool(organization)
        and organization[0] == "Persona Not Validated"
        and "StartCom" in _common_name(cert.issuer)
    )


@functools.cache
def _url_pattern() -> re.Pattern[str]:
    """govalidator's URL pattern (the version zcrypto pins), minus the nested quantifiers that make it
    backtrack exponentially in Python: scheme, user info, IPv4 / [IPv6] / host name, port, path.

    Compiled on first use: its wide character classes take longer to compile than the rest of the module.
    """
    host = "a-zA-Z0-9\u00a1-\uffff"
    return re.compile(
        r"^((ftp|tcp|udp|wss?|https?)://)?(\S+(:\S*)?@)?"
        r"(([1-9]\d?|1\d\d|2[01]\d|22[0-3])(\.(1?\d{1,2}|2[0-4]\d|25[0-5])){2}\.([0-9]\d?|1\d\d|2[0-4]\d|25[0-4])"
        r"|\[[0-9a-fA-F:.%]+\]"
        rf"|[{host}]([{host}._-]*[{host}])?)"
        r"\.?(:\d{1,5})?([/?#]\S*)?$"
    )


def _is_url(value: str) -> bool:
    """govalidator.IsURL, as zcrypto uses it to pick ``names``."""
    if not 3 < len(value) < 2083 or value.startswith("."):
        return False
    target = "http://" + value if ":" in value and "://" not in value else value
    try:
        parts = urlsplit(target)
        host = parts.hostname or ""
    except ValueError:
        return False
    if host.startswith(".") or (not parts.netloc and parts.path and "." not in parts.path):
        return False
    return _url_pattern().match(value) is not None


def _is_valid_name(name: str) -> bool:
    """zcrypto's isValidName: wildcard and redacted (``?.``) prefixes are looked through."""
    if name.startswith(("?.", "*.")):
        return _is_valid_name(name[2:])
    return _is_url(name)


def _json_names(cert: x509.Certificate) -> list[str]:
    """zcrypto's ``names``: the CN and SANs that look like host names or URLs, without duplicates.

    zcrypto de-duplicates through a Go map, so its order is random; this keeps first-seen order.
    """
    common_name = _common_name(cert.subject)
    names = [common_name] if _is_valid_name(common_name) else []
    sans = _extension_value(cert.extensions, ExtensionOID.SUBJECT_ALTERNATIVE_NAME)
    if sans is not None:
        names += [n for n in sans.get_values_for_type(x509.DNSName) if _is_valid_name(n) or "." not in n]
        names += [u for u in sans.get_values_for_type(x509.UniformResourceIdentifier) if _is_url(u)]
        ips = (_go_ip(ip) for ip in sans.get_values_for_type(x509.IPAddress))
        names += [ip for ip in ips if _is_url(ip)]
    return list(dict.fromkeys(names))
