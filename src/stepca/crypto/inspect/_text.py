"""The text renderers (certinfo): extensions as text, and the --short form."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from cryptography import x509
from cryptography.x509 import certificate_transparency as ct
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtensionOID

from stepca.crypto import der
from stepca.crypto.inspect._common import (
    _abbreviated,
    _b64,
    _colon_hex,
    _common_name,
    _der_string,
    _go_ip,
    _hex_lines,
    _key_value_pairs,
    _raw_value,
    _sanitized,
    _sct_time,
    _verifies_own_signature,
)
from stepca.crypto.inspect._tables import (
    _CERT_TEXT_UNNAMED_EKUS,
    _GO_EKU_NAMES,
    _I8,
    _I12,
    _I16,
    _I18,
    _I20,
    _KEY_USAGES,
    _NETSCAPE_COMMENT,
    _SCT_LIST,
    _STEP_REGISTRATION_AUTHORITY,
    Extension,
)
from stepca.crypto.x509ext import PROVISIONER_OID, PROVISIONER_TYPE_NUMBERS, ProvisionerExtension

# --- extensions as text ----------------------------------------------------------------------------


def _header(title: str, critical: bool) -> str:
    return f"{_I12}{title}:{' critical' if critical else ''}\n"


def _joined(values: Iterable[str], indent: str = _I16) -> str:
    """One indented line of ``, ``-separated values, or nothing."""
    text = ", ".join(values)
    return f"{indent}{text}\n" if text else ""


def _key_usage_bits(usage: x509.KeyUsage) -> int:
    """The Go x509.KeyUsage bit mask."""
    agreement = usage.key_agreement
    flags = (
        usage.digital_signature,
        usage.content_commitment,
        usage.key_encipherment,
        usage.data_encipherment,
        agreement,
        usage.key_cert_sign,
        usage.crl_sign,
        agreement and usage.encipher_only,
        agreement and usage.decipher_only,
    )
    return sum(bit for (bit, _, _), flag in zip(_KEY_USAGES, flags, strict=True) if flag)


def _ski_text(ext: Extension) -> str:
    digest = ext.value.digest
    # An empty identifier leaves an empty, unindented line.
    return (
        _header("X509v3 Subject Key Identifier", ext.critical)
        + (f"{_I16}{_colon_hex(digest)}" if digest else "")
        + "\n"
    )


def _key_usage_text(ext: Extension) -> str:
    bits = _key_usage_bits(ext.value)
    names = [name for bit, name, _ in _KEY_USAGES if bits & bit]
    return _header("X509v3 Key Usage", ext.critical) + f"{_I16}{', '.join(names) or 'None'}\n"


def _san_text(ext: Extension) -> str:
    """Go's crypto/x509 only keeps these four kinds, printed one line per kind."""
    names: x509.SubjectAlternativeName = ext.value
    groups = (
        ("DNS", names.get_values_for_type(x509.DNSName)),
        ("email", names.get_values_for_type(x509.RFC822Name)),
        ("IP Address", [_go_ip(ip) for ip in names.get_values_for_type(x509.IPAddress)]),
        ("URI", names.get_values_for_type(x509.UniformResourceIdentifier)),
    )
    body = "".join(_joined(f"{label}:{value}" for value in values) for label, values in groups)
    return _header("X509v3 Subject Alternative Name", ext.critical) + body


def _basic_constraints_text(ext: Extension) -> str:
    constraints: x509.BasicConstraints = ext.value
    path = "" if constraints.path_length is None else f", pathlen:{constraints.path_length}"
    flag = "TRUE" if constraints.ca else "FALSE"
    return _header("X509v3 Basic Constraints", ext.critical) + f"{_I16}CA:{flag}{path}\n"


def _subtree_lines(subtrees: Sequence[x509.GeneralName]) -> str:
    groups = (("DNS", x509.DNSName), ("Email", x509.RFC822Name), ("URI", x509.UniformResourceIdentifier))
    lines = [
        f"{_I18}{label}: " + ", ".join(n.value for n in subtrees if isinstance(n, kind)) + "\n"
        for label, kind in groups
        if any(isinstance(n, kind) for n in subtrees)
    ]
    ranges = [str(n.value) for n in subtrees if isinstance(n, x509.IPAddress)]
    return "".join(lines) + (f"{_I18}IP Range: {', '.join(ranges)}\n" if ranges else "")


def _name_constraints_text(ext: Extension) -> str:
    constraints: x509.NameConstraints = ext.value
    body = ""
    for label, subtrees in (
        ("Permitted", constraints.permitted_subtrees),
        ("Excluded", constraints.excluded_subtrees),
    ):
        lines = _subtree_lines(subtrees or [])
        body += f"{_I16}{label}:\n{lines}" if lines else ""
    return _header("X509v3 Name Constraints", ext.critical) + body


def _crl_uris(points: x509.CRLDistributionPoints) -> list[str]:
    """Go keeps only the URIs of each point's full name."""
    return [
        name.value
        for point in points
        for name in point.full_name or []
        if isinstance(name, x509.UniformResourceIdentifier)
    ]


def _crl_text(ext: Extension) -> str:
    uris = _crl_uris(ext.value)
    body = f"{_I16}Full Name:\n" + _joined((f"URI:{u}" for u in uris), _I18) if uris else ""
    return _header("X509v3 CRL Distribution Points", ext.critical) + body


def _policies_text(ext: Extension) -> str:
    lines = "".join(f"{_I16}Policy: {p.policy_identifier.dotted_string}\n" for p in ext.value)
    return _header("X509v3 Certificate Policies", ext.critical) + lines


def _aki_text(ext: Extension) -> str:
    keyid = ext.value.key_identifier or b""
    return (
        _header("X509v3 Authority Key Identifier", ext.critical)
        + f"{_I16}keyid{''.join(f':{b:02X}' for b in keyid)}\n"
    )


def _eku_oids(ext: Extension) -> list[str]:
    return [oid.dotted_string for oid in ext.value]


def _cert_eku_text(ext: Extension) -> str:
    """Go sorts usages into known ones (in order) and unknown OIDs, which certinfo prints last."""
    oids = _eku_oids(ext)
    known = [
        "UNKNOWN" if o in _CERT_TEXT_UNNAMED_EKUS else _GO_EKU_NAMES[o] for o in oids if o in _GO_EKU_NAMES
    ]
    unknown = [o for o in oids if o not in _GO_EKU_NAMES]
    return _header("X509v3 Extended Key Usage", ext.critical) + _joined(known + unknown)


def _aia_uris(access: x509.AuthorityInformationAccess, method: x509.ObjectIdentifier) -> list[str]:
    return [
        d.access_location.value
        for d in access
        if d.access_method == method and isinstance(d.access_location, x509.UniformResourceIdentifier)
    ]


def _aia_text(ext: Extension) -> str:
    lines = ""
    for label, method in (
        ("OCSP", AuthorityInformationAccessOID.OCSP),
        ("CA Issuers", AuthorityInformationAccessOID.CA_ISSUERS),
    ):
        uris = _aia_uris(ext.value, method)
        lines += f"{_I16}{label} - " + ",".join(f"URI:{u}" for u in uris) + "\n" if uris else ""
    return _header("Authority Information Access", ext.critical) + lines


def _parse_error(ext: Extension) -> ValueError:
    return ValueError(f"certinfo: Error parsing OID {ext.oid.dotted_string}")


def _netscape_comment_text(ext: Extension) -> str:
    try:
        comment = _der_string(_raw_value(ext))
    except ValueError as exc:
        raise _parse_error(ext) from exc
    return _header("Netscape Comment", ext.critical) + f"{_I16}{comment}\n"


def _provisioner(ext: Extension) -> ProvisionerExtension:
    try:
        return ProvisionerExtension.from_der(_raw_value(ext))
    except ValueError as exc:
        raise _parse_error(ext) from exc


def _pairs_text(pairs: Sequence[str]) -> str:
    return "".join(f"{_I16}{key}: {value}\n" for key, value in _key_value_pairs(pairs))


def _provisioner_text(ext: Extension) -> str:
    provisioner = _provisioner(ext)
    known = provisioner.type in PROVISIONER_TYPE_NUMBERS.values()
    kind = provisioner.type_name if known else f"{provisioner.type} (unknown)"
    credential = f"{_I16}CredentialID: {provisioner.credential_id}\n" if provisioner.credential_id else ""
    return (
        _header("X509v3 Step Provisioner", ext.critical)
        + f"{_I16}Type: {kind}\n{_I16}Name: {provisioner.name}\n{credential}"
        + _pairs_text(provisioner.key_value_pairs)
    )


def _registration_authority_text(ext: Extension) -> str:
    """The step RA extension: SEQUENCE { type, certificateID OPTIONAL, keyValuePairs OPTIONAL }."""
    try:
        items = der.read_sequence(_raw_value(ext))
        strings = [value.decode() for tag, value in items if tag != der.SEQUENCE]
        pairs = [
            value.decode()
            for tag, body in items
            if tag == der.SEQUENCE
            for _, value in der.read_sequence(der.tlv(tag, body))
        ]
    except (ValueError, IndexError) as exc:
        raise _parse_error(ext) from exc
    if not strings:
        raise _parse_error(ext)
    certificate = f"{_I16}CertificateID: {strings[1]}\n" if len(strings) > 1 and strings[1] else ""
    return (
        _header("X509v3 Step Registration Authority", ext.critical)
        + f"{_I16}Type: {strings[0]}\n{certificate}"
        + _pairs_text(pairs)
    )


def _sct_algorithm(sct: ct.SignedCertificateTimestamp) -> str:
    """certificate-transparency-go's ``<hash>-<signature>`` names, e.g. ``SHA256-ECDSA``."""
    kind = sct.signature_algorithm
    signature = "Anonymous" if kind == ct.SignatureAlgorithm.ANONYMOUS else kind.name
    return f"{sct.signature_hash_algorithm.name.upper()}-{signature}"


def _sct_text(ext: Extension) -> str:
    lines = [_header("RFC6962 Certificate Transparency SCT", ext.critical)]
    for index, sct in enumerate(ext.value):
        lines += [
            f"{_I16}SCT [{index}]:\n",
            f"{_I20}Version: V1 (0x0)\n",  # cryptography only parses v1 SCTs
            f"{_I20}LogID: {_b64(sct.log_id)}\n",
            f"{_I20}Timestamp: {_sct_time(sct.timestamp)}\n",
            f"{_I20}Signature Algorithm: {_sct_algorithm(sct)}{_hex_lines(sct.signature, 18, ' ' * 22)}\n",
        ]
    return "".join(lines)


def _generic_text(ext: Extension) -> str:
    shown, _ = _sanitized(_raw_value(ext))
    return _header(ext.oid.dotted_string, ext.critical) + f"{_I16}{shown}\n"


_CERT_TEXT: dict[str, Callable[[Extension], str]] = {
    "2.5.29.14": _ski_text,
    "2.5.29.15": _key_usage_text,
    "2.5.29.17": _san_text,
    "2.5.29.19": _basic_constraints_text,
    "2.5.29.30": _name_constraints_text,
    "2.5.29.31": _crl_text,
    "2.5.29.32": _policies_text,
    "2.5.29.35": _aki_text,
    "2.5.29.37": _cert_eku_text,
    ExtensionOID.AUTHORITY_INFORMATION_ACCESS.dotted_string: _aia_text,
    _NETSCAPE_COMMENT: _netscape_comment_text,
    PROVISIONER_OID: _provisioner_text,
    _STEP_REGISTRATION_AUTHORITY: _registration_authority_text,
    _SCT_LIST: _sct_text,
}


def _cert_extension_text(ext: Extension) -> str:
    oid = ext.oid.dotted_string
    handler = _CERT_TEXT.get(oid)
    if handler is not None:
        return handler(ext)
    if oid.startswith("2.5.29.") and oid.count(".") == 3:
        return f"Unknown extension {oid}\n"  # certinfo prints these unindented and without the value
    return _generic_text(ext)


def _cert_extensions_text(cert: x509.Certificate) -> str:
    extensions = list(cert.extensions)
    if not extensions:
        return ""
    return f"{_I8}X509v3 extensions:\n" + "".join(_cert_extension_text(ext) for ext in extensions)


def _csr_name_constraints_text(ext: Extension) -> str:
    """CertificateRequestText decodes only permitted DNS names and prints them without a prefix."""
    constraints: x509.NameConstraints = ext.value
    if constraints.excluded_subtrees and ext.critical:
        return f"{_I12}X509v3 Name Constraints: failed to decode: unexpected excluded name constraints\n"
    permitted = [n.value for n in constraints.permitted_subtrees or [] if isinstance(n, x509.DNSName)]
    body = f"{_I16}Permitted:\n" + _joined(permitted, _I18) if permitted else ""
    return _header("X509v3 Name Constraints", ext.critical) + body


def _csr_eku_text(ext: Extension) -> str:
    names = (_GO_EKU_NAMES.get(oid, f"UNKNOWN({oid})") for oid in _eku_oids(ext))
    return _header("X509v3 Extended Key Usage", ext.critical) + _joined(names)


def _csr_attribute_text(ext: Extension) -> str:
    raw = _raw_value(ext)
    shown, replaced = _sanitized(raw)
    dump = f"{_I16}{':'.join(f'{b:02x}' for b in raw)}\n" if replaced else ""
    return _header(ext.oid.dotted_string, ext.critical) + f"{_I16}{shown}\n{dump}"


_CSR_TEXT: dict[str, Callable[[Extension], str]] = {
    "2.5.29.14": _ski_text,
    "2.5.29.17": _san_text,
    "2.5.29.15": _key_usage_text,
    "2.5.29.19": _basic_constraints_text,
    "2.5.29.30": _csr_name_constraints_text,
    "2.5.29.37": _csr_eku_text,
}


def _csr_extensions_text(extensions: x509.Extensions) -> str:
    """Known extensions in order, then the others under ``Attributes:``."""
    items = list(extensions)
    if not items:
        return ""
    known = "".join(_CSR_TEXT[e.oid.dotted_string](e) for e in items if e.oid.dotted_string in _CSR_TEXT)
    others = [e for e in items if e.oid.dotted_string not in _CSR_TEXT]
    attributes = f"{_I8}Attributes:\n" + "".join(map(_csr_attribute_text, others)) if others else ""
    return f"{_I8}Requested Extensions:\n{known}{attributes}"


# --- short form ------------------------------------------------------------------------------------


def _extension_value(extensions: x509.Extensions, oid: x509.ObjectIdentifier) -> Any:
    try:
        return extensions.get_extension_for_oid(oid).value
    except x509.ExtensionNotFound:
        return None


def _is_ca(extensions: x509.Extensions) -> bool:
    constraints = _extension_value(extensions, ExtensionOID.BASIC_CONSTRAINTS)
    return constraints is not None and constraints.ca


def _self_signed_ca(cert: x509.Certificate, extensions: x509.Extensions) -> bool:
    """Go's cert.CheckSignatureFrom(cert): key usage must allow signing certificates, then the signature."""
    usage = _extension_value(extensions, ExtensionOID.KEY_USAGE)
    if usage is not None and _key_usage_bits(usage) and not usage.key_cert_sign:
        return False
    return _verifies_own_signature(cert)


def _short_subject_lines(subject: x509.Name, extensions: x509.Extensions) -> list[str]:
    """The common name, then SANs that differ from it (DNS, IP, email, URI), one per line."""
    common_name = _common_name(subject)
    names = [common_name] if common_name else []
    sans = _extension_value(extensions, ExtensionOID.SUBJECT_ALTERNATIVE_NAME)
    if sans is not None:
        candidates = [
            *sans.get_values_for_type(x509.DNSName),
            *(_go_ip(ip) for ip in sans.get_values_for_type(x509.IPAddress)),
            *sans.get_values_for_type(x509.RFC822Name),
            *sans.get_values_for_type(x509.UniformResourceIdentifier),
        ]
        names += [name for name in candidates if name != common_name]
    if not names:
        return ["  Subject: \n"]
    return [f"  Subject:     {names[0]}\n", *(f"{' ' * 15}{name}\n" for name in names[1:])]


def _short_provisioner(extensions: x509.Extensions) -> str | None:
    """``Provisioner: name [ID: abcd...wxyz]``; nothing when the extension is absent or unreadable."""
    raw = _extension_value(extensions, x509.ObjectIdentifier(PROVISIONER_OID))
    if raw is None:
        return None
    try:
        provisioner = ProvisionerExtension.from_der(raw.public_bytes())
    except ValueError:
        return None
    credential = provisioner.credential_id
    suffix = f" [ID: {_abbreviated(credential)}]" if credential else ""
    return f"  Provisioner: {provisioner.name}{suffix}\n"
