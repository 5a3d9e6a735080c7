"""Pieces shared by the text and JSON renderers: DER details, formatting, names, keys."""

from __future__ import annotations

import base64
import ipaddress
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes
from cryptography.x509.oid import NameOID

from stepca.crypto import der
from stepca.crypto.inspect._tables import (
    _CT_OID_CONTENTS,
    _DN_SHORT_NAMES,
    _GO_CURVE_NAMES,
    _I4,
    _I8,
    _I12,
    _I16,
    _I20,
    _JSON_NAME_FIELDS,
    _JSON_SIGNATURE_OIDS,
    _MONTHS,
    _PSS_NAMES,
    _RSA_PSS,
    _SIGNATURE_NAMES,
    _TEXT_ATTRIBUTE_NAMES,
    Extension,
    Signed,
)

# --- DER pieces cryptography does not expose --------------------------------------------------------


def _tbs_fields(tbs: bytes) -> list[tuple[int, bytes]]:
    """TBSCertificate's fields without the optional ``[0]`` version, so serial=0 ... spki=5."""
    items = der.read_sequence(tbs)
    return items[1:] if items[0][0] == 0xA0 else items


def _tbs_without_ct(tbs: bytes) -> bytes:
    """The TBSCertificate re-encoded without the SCT list and CT poison extensions (zcrypto FingerprintNoCT).

    Like zcrypto, an extension list left empty stays as an empty ``[3] SEQUENCE {}``.
    """
    return der.sequence(
        *(
            der.tlv(tag, _without_ct_extensions(value) if tag == 0xA3 else value)
            for tag, value in der.read_sequence(tbs)
        )
    )


def _without_ct_extensions(explicit: bytes) -> bytes:
    kept = [body for _, body in der.read_sequence(explicit) if der.read_tlv(body)[1] not in _CT_OID_CONTENTS]
    return der.sequence(*(der.tlv(der.SEQUENCE, body) for body in kept))


def _bit_string_bytes(value: bytes) -> bytes:
    """A BIT STRING's bits right-aligned in whole bytes (Go's BitString.RightAlign)."""
    unused, bits = value[0], value[1:]
    return (int.from_bytes(bits, "big") >> unused).to_bytes(len(bits), "big")


def _spki_key_bytes(spki: bytes) -> bytes:
    return der.read_sequence(spki)[1][1][1:]


def _csr_version(csr: x509.CertificateSigningRequest) -> int:
    return der.read_integer(der.read_sequence(csr.tbs_certrequest_bytes)[0][1])


def _der_string(data: bytes) -> str:
    tag, value, end = der.read_tlv(data)
    if end != len(data) or tag not in (der.UTF8_STRING, 0x12, der.PRINTABLE_STRING, 0x14, der.IA5_STRING):
        raise ValueError("expected a DER string")
    return value.decode("utf-8", "replace")


def _raw_value(ext: Extension) -> bytes:
    return bytes(ext.value.public_bytes())


# --- small formatting helpers ----------------------------------------------------------------------


def _int_bytes(n: int) -> bytes:
    """Go's big.Int.Bytes(): big-endian, no leading zeros (empty for 0)."""
    return n.to_bytes((n.bit_length() + 7) // 8, "big")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _hex_lines(data: bytes, per_line: int, indent: str) -> str:
    """certinfo's byte dumps: a new line (``indent`` deep) every ``per_line`` bytes, ``:`` between bytes."""
    chunks = (data[i : i + per_line] for i in range(0, len(data), per_line))
    return ":".join(f"\n{indent}" + ":".join(f"{b:02x}" for b in chunk) for chunk in chunks)


def _colon_hex(data: bytes) -> str:
    return ":".join(f"{b:02X}" for b in data)


def _validity_time(t: datetime) -> str:
    """Go's ``Jan 2 15:04:05 2006 MST`` layout, in UTC."""
    return f"{_MONTHS[t.month - 1]} {t.day} {t:%H:%M:%S} {t.year:04d} UTC"


def _sct_time(t: datetime) -> str:
    """Go's ``Jan 2 15:04:05.000 2006 MST`` layout, in UTC."""
    return f"{_MONTHS[t.month - 1]} {t.day} {t:%H:%M:%S}.{t.microsecond // 1000:03d} {t.year:04d} UTC"


def _rfc3339(t: datetime) -> str:
    return f"{t.year:04d}-{t:%m-%dT%H:%M:%S}Z"


def _go_seconds(delta: timedelta) -> int:
    """``int(d.Seconds())`` of a Go time.Duration, which saturates at about ±292 years."""
    nanos = max(min(delta // timedelta(microseconds=1) * 1000, 2**63 - 1), -(2**63))
    whole = abs(nanos) // 1_000_000_000
    return whole if nanos >= 0 else -whole


def _abbreviated(value: str) -> str:
    """certinfo's ``abbreviated``: strings longer than 8 characters become ``abcd...wxyz``."""
    return value if len(value) <= 8 else f"{value[:4]}...{value[-4:]}"


def _sanitized(value: bytes) -> tuple[str, bool]:
    """certinfo's view of an unknown extension value: each undecodable byte or unprintable rune is ``.``.

    Returns the text and whether anything was replaced. Python's printable set (letters, marks, numbers,
    punctuation, symbols, ASCII space) is Go's strconv.IsPrint.
    """
    text = value.decode("utf-8", "surrogateescape")  # one surrogate per bad byte, as Go's bytes.Runes
    keep = [c.isprintable() and c != "\ufffd" for c in text]
    return "".join(c if ok else "." for c, ok in zip(text, keep, strict=True)), not all(keep)


def _go_ip(
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address | ipaddress.IPv4Network | ipaddress.IPv6Network,
) -> str:
    """Go's net.IP.String(): IPv4-mapped IPv6 addresses print as IPv4."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return str(ip)


def _key_value_pairs(pairs: Sequence[str]) -> list[tuple[str, str]]:
    """Flat ``[k1, v1, k2, v2, ...]`` as pairs; a key without a value gets ``-``."""
    return [(pairs[i], pairs[i + 1] if i + 1 < len(pairs) else "-") for i in range(0, len(pairs), 2)]


def _omit_empty(key: str, value: Any) -> dict[str, Any]:
    """Go's ``omitempty``: ``{key: value}``, or nothing when the value is empty."""
    return {key: value} if value else {}


# --- names ---------------------------------------------------------------------------------------


def _attribute_text(value: str | bytes) -> str:
    return value if isinstance(value, str) else value.decode("utf-8", "replace")


def _text_name(name: x509.Name) -> str:
    """certinfo's printName: ``O=Fixture,CN=Fixture CA`` in encoding order."""
    parts = []
    for attribute in name:
        oid = attribute.oid.dotted_string
        label = _TEXT_ATTRIBUTE_NAMES.get(oid)
        parts.append(f"{label}={_attribute_text(attribute.value)}" if label else f"UnknownOID={oid}")
    return ",".join(parts)


def _dn(name: x509.Name) -> str:
    """zcrypto's Name.String(): ``O=Fixture, CN=Fixture CA``; only string values are shown."""
    return ", ".join(
        f"{_DN_SHORT_NAMES.get(a.oid.dotted_string, a.oid.dotted_string)}={a.value}"
        for a in name
        if isinstance(a.value, str)
    )


def _json_name(name: x509.Name) -> dict[str, list[str]]:
    doc = {}
    for oid, key in _JSON_NAME_FIELDS:
        values = [a.value for a in name if a.oid.dotted_string == oid and isinstance(a.value, str)]
        if values:
            doc[key] = values
    return doc


def _values(name: x509.Name, oid: x509.ObjectIdentifier) -> list[str]:
    return [_attribute_text(a.value) for a in name.get_attributes_for_oid(oid)]


def _common_name(name: x509.Name) -> str:
    """Go's Name.CommonName: the last CN attribute."""
    values = _values(name, NameOID.COMMON_NAME)
    return values[-1] if values else ""


# --- keys and signatures ---------------------------------------------------------------------------


def _public_key(signed: Signed) -> CertificatePublicKeyTypes | None:
    try:
        return signed.public_key()
    except (ValueError, UnsupportedAlgorithm):
        return None


def _curve_name(curve: ec.EllipticCurve) -> str:
    return _GO_CURVE_NAMES.get(curve.name, curve.name)


def _signature_name(signed: Signed) -> str:
    """Go's x509.SignatureAlgorithm.String(); ``0`` (UnknownSignatureAlgorithm) when not recognised."""
    oid = signed.signature_algorithm_oid.dotted_string
    if oid != _RSA_PSS:
        return _SIGNATURE_NAMES.get(oid, "0")
    try:
        digest = signed.signature_hash_algorithm
    except UnsupportedAlgorithm:
        return "0"
    return _PSS_NAMES.get(digest.name, "0") if digest else "0"


def _json_signature_algorithm(signed: Signed) -> dict[str, str]:
    name = _signature_name(signed)
    return {"name": name, "oid": _JSON_SIGNATURE_OIDS.get(name, "")}


def _verifies_own_signature(cert: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(cert)
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
        return False
    return True


def _csr_signature_valid(csr: x509.CertificateSigningRequest) -> bool:
    try:
        return csr.is_signature_valid
    except UnsupportedAlgorithm:
        return False


def _key_line(label: str, value: int) -> str:
    """certinfo's dsaKeyPrinter: a named big integer as a colon hex dump."""
    return f"{_I16}{label}:{_hex_lines(_int_bytes(value), 15, _I20)}\n"


def _rsa_text(key: rsa.RSAPublicKey) -> str:
    numbers = key.public_numbers()
    return (
        f"RSA\n{_I16}Public-Key: ({key.key_size} bit)\n"
        f"{_I16}Modulus:{_hex_lines(_int_bytes(numbers.n), 15, _I20)}\n"
        f"{_I16}Exponent: {numbers.e} ({hex(numbers.e)})\n"
    )


def _dsa_text(key: dsa.DSAPublicKey) -> str:
    numbers = key.public_numbers()
    params = numbers.parameter_numbers
    parts = (("pub", numbers.y), ("P", params.p), ("Q", params.q), ("G", params.g))
    return "DSA\n" + "".join(_key_line(label, value) for label, value in parts)


def _ecdsa_text(key: ec.EllipticCurvePublicKey) -> str:
    numbers = key.public_numbers()
    return (
        f"ECDSA\n{_I16}Public-Key: ({key.curve.key_size} bit)\n"
        f"{_key_line('X', numbers.x)}{_key_line('Y', numbers.y)}"
        f"{_I16}Curve: {_curve_name(key.curve)}\n"
    )


def _ed25519_text(key: ed25519.Ed25519PublicKey) -> str:
    raw = key.public_bytes_raw()
    # certinfo prints the length in bytes and calls it bits: "(32 bit)".
    return f"Ed25519\n{_I16}Public-Key: ({len(raw)} bit){_hex_lines(raw, 15, _I20)}\n"


def _public_key_text(key: CertificatePublicKeyTypes | None) -> str:
    """What follows ``Public Key Algorithm: `` in certinfo's printSubjectInformation."""
    if isinstance(key, rsa.RSAPublicKey):
        return _rsa_text(key)
    if isinstance(key, dsa.DSAPublicKey):
        return _dsa_text(key)
    if isinstance(key, ec.EllipticCurvePublicKey):
        return _ecdsa_text(key)
    if isinstance(key, ed25519.Ed25519PublicKey):
        return _ed25519_text(key)
    raise ValueError("certinfo: Unknown public key type")  # what step prints for e.g. Ed448 keys


def _short_key_algorithm(key: CertificatePublicKeyTypes | None) -> str:
    """certinfo's getPublicKeyAlgorithm: ``ECDSA P-256``, ``RSA 2048``, ``Ed25519 256``."""
    if isinstance(key, rsa.RSAPublicKey):
        return f"RSA {(key.key_size + 7) // 8 * 8}"
    if isinstance(key, dsa.DSAPublicKey):
        return f"DSA {key.public_numbers().parameter_numbers.q.bit_length()}"
    if isinstance(key, ec.EllipticCurvePublicKey):
        return f"ECDSA {_curve_name(key.curve)}"
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "Ed25519 256"
    return "0 unknown"  # Go's UnknownPublicKeyAlgorithm prints as its number


def _subject_information(subject: x509.Name, key: CertificatePublicKeyTypes | None) -> str:
    name = _text_name(subject)
    return (
        f"{_I8}Subject:{' ' + name if name else ''}\n"
        f"{_I8}Subject Public Key Info:\n"
        f"{_I12}Public Key Algorithm: {_public_key_text(key)}"
    )


def _version_line(version: int) -> str:
    return f"{_I8}Version: {version} ({hex(max(version - 1, 0))})\n"


def _signature_text(algorithm: str, signature: bytes) -> str:
    return f"{_I4}Signature Algorithm: {algorithm}{_hex_lines(signature, 18, ' ' * 9)}\n"


def _unique_ids(fields: list[tuple[int, bytes]]) -> str:
    lines = []
    for tag, label in ((0x81, "Issuer"), (0x82, "Subject")):
        uid = next((_bit_string_bytes(value) for t, value in fields[6:] if t == tag), b"")
        if uid:
            lines.append(f"{_I8}{label} Unique ID: " + ":".join(f"{b:02x}" for b in uid) + "\n")
    return "".join(lines)
