"""What `step certificate inspect` prints for a certificate or a certificate request.

smallstep's step 0.19 builds its output with two Go libraries, and this module follows the
versions it pins:

* text and ``--short``: github.com/smallstep/certinfo v1.7.0 (``CertificateText``,
  ``CertificateShortText``, ``CertificateRequestText``), which renders Go's crypto/x509 view of the
  certificate;
* ``--format json``: the smallstep fork of zmap/zcrypto (commit 66c2600f6e71, 2021-09),
  ``x509.Certificate.MarshalJSON``.

Their oddities are kept on purpose so the output matches the Go tool byte for byte; comments mark them.
"""

from __future__ import annotations

import hashlib
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from stepca.crypto import der
from stepca.crypto.inspect._common import (
    _abbreviated,
    _b64,
    _common_name,
    _csr_signature_valid,
    _csr_version,
    _dn,
    _go_seconds,
    _json_name,
    _json_signature_algorithm,
    _omit_empty,
    _public_key,
    _rfc3339,
    _short_key_algorithm,
    _signature_name,
    _signature_text,
    _subject_information,
    _tbs_fields,
    _tbs_without_ct,
    _text_name,
    _unique_ids,
    _validity_time,
    _verifies_own_signature,
    _version_line,
)
from stepca.crypto.inspect._json import (
    _json_extensions,
    _json_names,
    _json_subject_key_info,
    _validation_level,
)
from stepca.crypto.inspect._tables import _I4, _I8, _I12
from stepca.crypto.inspect._text import (
    _cert_extensions_text,
    _csr_extensions_text,
    _is_ca,
    _self_signed_ca,
    _short_provisioner,
    _short_subject_lines,
)

# --- public API ------------------------------------------------------------------------------------


def inspect_text(cert: x509.Certificate) -> str:
    """``step certificate inspect FILE``: certinfo's CertificateText (ends with a newline)."""
    fields = _tbs_fields(cert.tbs_certificate_bytes)
    version = cert.version.value + 1
    algorithm = _signature_name(cert)
    issuer = _text_name(cert.issuer)
    # certinfo leaves out the newline when the issuer is empty.
    issuer_line = f"{_I8}Issuer: {issuer}\n" if issuer else f"{_I8}Issuer: "
    return "".join(
        [
            "Certificate:\n",
            f"{_I4}Data:\n",
            _version_line(version),
            f"{_I8}Serial Number: {cert.serial_number} ({hex(cert.serial_number)})\n",
            f"{_I4}Signature Algorithm: {algorithm}\n",
            issuer_line,
            f"{_I8}Validity\n",
            f"{_I12}Not Before: {_validity_time(cert.not_valid_before_utc)}\n",
            f"{_I12}Not After : {_validity_time(cert.not_valid_after_utc)}\n",
            _subject_information(cert.subject, _public_key(cert)),
            _unique_ids(fields),
            _cert_extensions_text(cert) if version == 3 else "",
            _signature_text(algorithm, cert.signature),
        ]
    )


def inspect_short(cert: x509.Certificate) -> str:
    """``step certificate inspect --short FILE``: certinfo's CertificateShortText."""
    extensions = cert.extensions
    kind = "TLS"
    if _is_ca(extensions):
        kind = "Root CA" if _self_signed_ca(cert, extensions) else "Intermediate CA"
    serial = _abbreviated(str(cert.serial_number))
    lines = [f"X.509v3 {kind} Certificate ({_short_key_algorithm(_public_key(cert))}) [Serial: {serial}]\n"]
    lines += _short_subject_lines(cert.subject, extensions)
    lines.append(f"  Issuer:      {_common_name(cert.issuer)}\n")
    provisioner = _short_provisioner(extensions)
    if provisioner is not None:
        lines.append(provisioner)
    lines.append(f"  Valid from:  {_rfc3339(cert.not_valid_before_utc)}\n")
    lines.append(f"          to:  {_rfc3339(cert.not_valid_after_utc)}\n")
    return "".join(lines)


def inspect_json(cert: x509.Certificate) -> dict[str, Any]:
    """``step certificate inspect --format json FILE``: zcrypto's certificate JSON, keys in its order."""
    tbs = cert.tbs_certificate_bytes
    fields = _tbs_fields(tbs)
    raw_issuer, raw_subject, spki = (der.tlv(*fields[i]) for i in (2, 4, 5))
    raw = cert.public_bytes(Encoding.DER)
    self_signed = raw_issuer == raw_subject and _verifies_own_signature(cert)
    extensions, unknown = _json_extensions(cert.extensions)
    algorithm = _json_signature_algorithm(cert)
    start, end = cert.not_valid_before_utc, cert.not_valid_after_utc
    doc: dict[str, Any] = {
        "version": cert.version.value + 1,
        "serial_number": str(cert.serial_number),
        "signature_algorithm": algorithm,
        "issuer": _json_name(cert.issuer),
        **_omit_empty("issuer_dn", _dn(cert.issuer)),
        "validity": {"start": _rfc3339(start), "end": _rfc3339(end), "length": _go_seconds(end - start)},
        "subject": _json_name(cert.subject),
        **_omit_empty("subject_dn", _dn(cert.subject)),
        "subject_key_info": _json_subject_key_info(_public_key(cert), spki),
        "extensions": extensions,
        **_omit_empty("unknown_extensions", unknown),
        # zcrypto only sets "valid" while building chains in a pool, never for a lone certificate.
        "signature": {
            "signature_algorithm": algorithm,
            "value": _b64(cert.signature),
            "valid": False,
            "self_signed": self_signed,
        },
        "fingerprint_md5": hashlib.md5(raw, usedforsecurity=False).hexdigest(),
        "fingerprint_sha1": hashlib.sha1(raw, usedforsecurity=False).hexdigest(),
        "fingerprint_sha256": hashlib.sha256(raw).hexdigest(),
        "tbs_noct_fingerprint": hashlib.sha256(_tbs_without_ct(tbs)).hexdigest(),
        "spki_subject_fingerprint": hashlib.sha256(spki + raw_subject).hexdigest(),
        "tbs_fingerprint": hashlib.sha256(tbs).hexdigest(),
        "validation_level": _validation_level(cert, self_signed),
    }
    names = _json_names(cert)
    return doc | _omit_empty("names", names) | {"redacted": any(n.startswith("?") for n in names)}


def inspect_csr_text(csr: x509.CertificateSigningRequest) -> str:
    """``step certificate inspect FILE`` for a CSR: certinfo's CertificateRequestText."""
    version = _csr_version(csr)
    algorithm = _signature_name(csr)
    return "".join(
        [
            "Certificate Request:\n",
            f"{_I4}Data:\n",
            _version_line(version),
            _subject_information(csr.subject, _public_key(csr)),
            _csr_extensions_text(csr.extensions) if version == 0 else "",
            _signature_text(algorithm, csr.signature),
        ]
    )


def inspect_csr_short(csr: x509.CertificateSigningRequest) -> str:
    """``step certificate inspect --short FILE`` for a CSR: certinfo's CertificateRequestShortText."""
    header = f"X.509v3 Certificate Signing Request ({_short_key_algorithm(_public_key(csr))})\n"
    return header + "".join(_short_subject_lines(csr.subject, csr.extensions))


def inspect_csr_json(csr: x509.CertificateSigningRequest) -> dict[str, Any]:
    """A CSR in the shape of the certificate JSON (step 0.19 itself dumps Go's raw struct fields)."""
    spki = der.tlv(*der.read_sequence(csr.tbs_certrequest_bytes)[2])
    extensions, unknown = _json_extensions(csr.extensions)
    algorithm = _json_signature_algorithm(csr)
    return {
        "version": _csr_version(csr),
        "signature_algorithm": algorithm,
        "subject": _json_name(csr.subject),
        **_omit_empty("subject_dn", _dn(csr.subject)),
        "subject_key_info": _json_subject_key_info(_public_key(csr), spki),
        "extensions": extensions,
        **_omit_empty("unknown_extensions", unknown),
        "signature": {
            "signature_algorithm": algorithm,
            "value": _b64(csr.signature),
            "valid": _csr_signature_valid(csr),
        },
    }
