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

import base64
import functools
import hashlib
import ipaddress
import re
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed25519, rsa, x25519
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509 import certificate_transparency as ct
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtensionOID, NameOID

from stepca.crypto import der
from stepca.crypto.x509ext import PROVISIONER_OID, PROVISIONER_TYPE_NUMBERS, ProvisionerExtension

Extension = x509.Extension[Any]  # handlers are picked by OID, so each knows its value type
Signed = x509.Certificate | x509.CertificateSigningRequest

_I4, _I8, _I12, _I16, _I18, _I20 = (" " * n for n in (4, 8, 12, 16, 18, 20))
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

_NETSCAPE_COMMENT = "2.16.840.1.113730.1.13"
_STEP_REGISTRATION_AUTHORITY = "1.3.6.1.4.1.37476.9000.64.2"
_SCT_LIST = ExtensionOID.PRECERT_SIGNED_CERTIFICATE_TIMESTAMPS.dotted_string
# DER contents of the two CT OIDs zcrypto leaves out of ``tbs_noct_fingerprint`` (SCT list, poison).
_CT_OID_CONTENTS = (bytes.fromhex("2b06010401d679020402"), bytes.fromhex("2b06010401d679020403"))

# Go's x509.SignatureAlgorithm names. The order matters for JSON: zcrypto prints the OID of the last
# table row with a given name, so SHA1-RSA shows the ISO OID 1.3.14.3.2.29.
_SIGNATURE_NAMES = {
    "1.2.840.113549.1.1.2": "MD2-RSA",
    "1.2.840.113549.1.1.4": "MD5-RSA",
    "1.2.840.113549.1.1.5": "SHA1-RSA",
    "1.3.14.3.2.29": "SHA1-RSA",
    "1.2.840.113549.1.1.11": "SHA256-RSA",
    "1.2.840.113549.1.1.12": "SHA384-RSA",
    "1.2.840.113549.1.1.13": "SHA512-RSA",
    "1.2.840.10040.4.3": "DSA-SHA1",
    "2.16.840.1.101.3.4.3.2": "DSA-SHA256",
    "1.2.840.10045.4.1": "ECDSA-SHA1",
    "1.2.840.10045.4.3.2": "ECDSA-SHA256",
    "1.2.840.10045.4.3.3": "ECDSA-SHA384",
    "1.2.840.10045.4.3.4": "ECDSA-SHA512",
    "1.3.101.112": "Ed25519",
}
_RSA_PSS = "1.2.840.113549.1.1.10"
_PSS_NAMES = {"sha256": "SHA256-RSAPSS", "sha384": "SHA384-RSAPSS", "sha512": "SHA512-RSAPSS"}
_JSON_SIGNATURE_OIDS = {name: oid for oid, name in _SIGNATURE_NAMES.items()} | dict.fromkeys(
    _PSS_NAMES.values(), _RSA_PSS
)

# NIST curves zcrypto knows, with (p, n, b); the generator is recomputed as 1·G.
_CURVE_PARAMS = {
    "secp224r1": (
        0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF000000000000000000000001,
        0xFFFFFFFFFFFFFFFFFFFFFFFFFFFF16A2E0B8F03E13DD29455C5C2A3D,
        0xB4050A850C04B3ABF54132565044B0B7D7BFD8BA270B39432355FFB4,
    ),
    "secp256r1": (
        0xFFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFF,
        0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551,
        0x5AC635D8AA3A93E7B3EBBD55769886BC651D06B0CC53B0F63BCE3C3E27D2604B,
    ),
    "secp384r1": (
        0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEFFFFFFFF0000000000000000FFFFFFFF,
        0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFC7634D81F4372DDF581A0DB248B0A77AECEC196ACCC52973,
        0xB3312FA7E23EE7E4988E056BE3F82D19181D9C6EFE8141120314088F5013875AC656398D8A2ED19D2A85C8EDD3EC2AEF,
    ),
    "secp521r1": (
        (1 << 521) - 1,
        int(
            "1fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffa51868783bf2f966b7fcc0148f70"
            "9a5d03bb5c9b8899c47aebb6fb71e91386409",
            16,
        ),
        int(
            "51953eb9618e1c9a1f929a21a0b68540eea2da725b99b315f3b8b489918ef109e156193951ec7e937b1652c0bd3bb1"
            "bf073573df883d2c34f1ef451fd46b503f00",
            16,
        ),
    ),
}
_GO_CURVE_NAMES = {"secp224r1": "P-224", "secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}

# (Go x509.KeyUsage bit, certinfo name, zcrypto JSON key), in bit order.
_KEY_USAGES = (
    (1 << 0, "Digital Signature", "digital_signature"),
    (1 << 1, "Content Commitment", "content_commitment"),
    (1 << 2, "Key Encipherment", "key_encipherment"),
    (1 << 3, "Data Encipherment", "data_encipherment"),
    (1 << 4, "Key Agreement", "key_agreement"),
    (1 << 5, "Certificate Sign", "certificate_sign"),
    (1 << 6, "CRL Sign", "crl_sign"),
    (1 << 7, "Encipher Only", "encipher_only"),
    (1 << 8, "Decipher Only", "decipher_only"),
)

# The extended key usages Go's crypto/x509 knows, named as certinfo names them.
_GO_EKU_NAMES = {
    "2.5.29.37.0": "Any Usage",
    "1.3.6.1.5.5.7.3.1": "Server Authentication",
    "1.3.6.1.5.5.7.3.2": "Client Authentication",
    "1.3.6.1.5.5.7.3.3": "Code Signing",
    "1.3.6.1.5.5.7.3.4": "E-mail Protection",
    "1.3.6.1.5.5.7.3.5": "IPSec End System",
    "1.3.6.1.5.5.7.3.6": "IPSec Tunnel",
    "1.3.6.1.5.5.7.3.7": "IPSec User",
    "1.3.6.1.5.5.7.3.8": "Time Stamping",
    "1.3.6.1.5.5.7.3.9": "OCSP Signing",
    "1.3.6.1.4.1.311.10.3.3": "Microsoft Server Gated Crypto",
    "2.16.840.1.113730.4.1": "Netscape Server Gated Crypto",
    "1.3.6.1.4.1.311.2.1.22": "Microsoft Commercial Code Signing",
    "1.3.6.1.4.1.311.61.1.1": "Microsoft Kernel Code Signing",
}
# CertificateText (unlike CertificateRequestText) has no name for these four and prints "UNKNOWN".
_CERT_TEXT_UNNAMED_EKUS = frozenset(list(_GO_EKU_NAMES)[-4:])

# zcrypto's auxExtendedKeyUsage fields, in declaration (= JSON output) order.
_JSON_EKUS = (
    ("eap_over_ppp", "1.3.6.1.5.5.7.3.13"),
    ("ocsp_signing", "1.3.6.1.5.5.7.3.9"),
    ("apple_software_update_signing", "1.2.840.113635.100.4.1.2"),
    ("apple_crypto_test_env", "1.2.840.113635.100.4.5.3"),
    ("microsoft_embedded_nt_crypto", "1.3.6.1.4.1.311.10.3.8"),
    ("microsoft_drm_individualization", "1.3.6.1.4.1.311.10.5.2"),
    ("microsoft_key_recovery_21", "1.3.6.1.4.1.311.21.6"),
    ("apple_crypto_production_env", "1.2.840.113635.100.4.5.1"),
    ("apple_crypto_tier1_qos", "1.2.840.113635.100.4.6.2"),
    ("client_auth", "1.3.6.1.5.5.7.3.2"),
    ("code_signing", "1.3.6.1.5.5.7.3.3"),
    ("apple_crypto_development_env", "1.2.840.113635.100.4.5.4"),
    ("apple_crypto_tier0_qos", "1.2.840.113635.100.4.6.1"),
    ("apple_crypto_tier2_qos", "1.2.840.113635.100.4.6.3"),
    ("microsoft_mobile_device_software", "1.3.6.1.4.1.311.10.3.14"),
    ("microsoft_nt5_crypto", "1.3.6.1.4.1.311.10.3.6"),
    ("apple_code_signing_third_party", "1.2.840.113635.100.4.1.3"),
    ("microsoft_timestamp_signing", "1.3.6.1.4.1.311.10.3.2"),
    ("microsoft_root_list_signer", "1.3.6.1.4.1.311.10.3.9"),
    ("microsoft_system_health", "1.3.6.1.4.1.311.47.1.1"),
    ("time_stamping", "1.3.6.1.5.5.7.3.8"),
    ("apple_code_signing_development", "1.2.840.113635.100.4.1.1"),
    ("apple_crypto_qos", "1.2.840.113635.100.4.6"),
    ("microsoft_document_signing", "1.3.6.1.4.1.311.10.3.12"),
    ("microsoft_encrypted_file_system", "1.3.6.1.4.1.311.10.3.4"),
    ("microsoft_whql_crypto", "1.3.6.1.4.1.311.10.3.5"),
    ("netscape_server_gated_crypto", "2.16.840.1.113730.4.1"),
    ("apple_crypto_tier3_qos", "1.2.840.113635.100.4.6.4"),
    ("microsoft_smart_display", "1.3.6.1.4.1.311.10.3.15"),
    ("microsoft_efs_recovery", "1.3.6.1.4.1.311.10.3.4.1"),
    ("microsoft_kernel_mode_code_signing", "1.3.6.1.4.1.311.61.1.1"),
    ("server_auth", "1.3.6.1.5.5.7.3.1"),
    ("ipsec_end_system", "1.3.6.1.5.5.7.3.5"),
    ("ipsec_user", "1.3.6.1.5.5.7.3.7"),
    ("microsoft_qualified_subordinate", "1.3.6.1.4.1.311.10.3.10"),
    ("apple_resource_signing", "1.2.840.113635.100.4.1.4"),
    ("microsoft_oem_whql_crypto", "1.3.6.1.4.1.311.10.3.7"),
    ("microsoft_smartcard_logon", "1.3.6.1.4.1.311.20.2.2"),
    ("email_protection", "1.3.6.1.5.5.7.3.4"),
    ("microsoft_server_gated_crypto", "1.3.6.1.4.1.311.10.3.3"),
    ("microsoft_ca_exchange", "1.3.6.1.4.1.311.21.5"),
    ("dvcs", "1.3.6.1.5.5.7.3.10"),
    ("apple_ichat_signing", "1.2.840.113635.100.4.2"),
    ("apple_ichat_encryption", "1.2.840.113635.100.4.3"),
    ("apple_code_signing", "1.2.840.113635.100.4.1"),
    ("apple_crypto_env", "1.2.840.113635.100.4.5"),
    ("microsoft_system_health_loophole", "1.3.6.1.4.1.311.47.1.3"),
    ("any", "2.5.29.37.0"),
    ("apple_crypto_maintenance_env", "1.2.840.113635.100.4.5.2"),
    ("ipsec_tunnel", "1.3.6.1.5.5.7.3.6"),
    ("microsoft_lifetime_signing", "1.3.6.1.4.1.311.10.3.13"),
    ("microsoft_csp_signature", "1.3.6.1.4.1.311.10.3.16"),
    ("microsoft_sgc_serialized", "1.3.6.1.4.1.311.10.3.3.1"),
    ("sbgp_cert_aa_service_auth", "1.3.6.1.5.5.7.3.11"),
    ("eap_over_lan", "1.3.6.1.5.5.7.3.14"),
    ("microsoft_license_server", "1.3.6.1.4.1.311.10.5.4"),
    ("microsoft_enrollment_agent", "1.3.6.1.4.1.311.20.2.1"),
    ("apple_system_identity", "1.2.840.113635.100.4.4"),
    ("microsoft_key_recovery_3", "1.3.6.1.4.1.311.10.3.11"),
    ("microsoft_cert_trust_list_signing", "1.3.6.1.4.1.311.10.3.1"),
    ("microsoft_drm", "1.3.6.1.4.1.311.10.5.1"),
    ("microsoft_licenses", "1.3.6.1.4.1.311.10.5.3"),
)
_JSON_EKU_OIDS = frozenset(oid for _, oid in _JSON_EKUS)

# certinfo's printName attribute labels; any other attribute prints as ``UnknownOID=<oid>``.
_TEXT_ATTRIBUTE_NAMES = {
    "2.5.4.3": "CN",
    "2.5.4.5": "SERIALNUMBER",
    "2.5.4.6": "C",
    "2.5.4.7": "L",
    "2.5.4.8": "ST",
    "2.5.4.9": "STREET",
    "2.5.4.10": "O",
    "2.5.4.11": "OU",
    "2.5.4.17": "POSTALCODE",
    "1.2.840.113549.1.9.1": "emailAddress",
    "0.9.2342.19200300.100.1.25": "DC",
    "0.9.2342.19200300.100.1.1": "UID",
}
# zcrypto's pkix.Name JSON keys, in output order.
_JSON_NAME_FIELDS = (
    ("2.5.4.3", "common_name"),
    ("2.5.4.5", "serial_number"),
    ("2.5.4.6", "country"),
    ("2.5.4.7", "locality"),
    ("2.5.4.8", "province"),
    ("2.5.4.9", "street_address"),
    ("2.5.4.10", "organization"),
    ("2.5.4.11", "organizational_unit"),
    ("2.5.4.17", "postal_code"),
    ("0.9.2342.19200300.100.1.25", "domain_component"),
    ("1.2.840.113549.1.9.1", "email_address"),
    ("2.5.4.42", "given_name"),
    ("2.5.4.4", "surname"),
    ("1.3.6.1.4.1.311.60.2.1.3", "jurisdiction_country"),
    ("1.3.6.1.4.1.311.60.2.1.1", "jurisdiction_locality"),
    ("1.3.6.1.4.1.311.60.2.1.2", "jurisdiction_province"),
)
# Short names zcrypto uses in issuer_dn/subject_dn (OpenSSL's, from its oid table); others print the OID.
_DN_SHORT_NAMES = {
    "2.5.4.3": "CN",
    "2.5.4.4": "SN",
    "2.5.4.5": "serialNumber",
    "2.5.4.6": "C",
    "2.5.4.7": "L",
    "2.5.4.8": "ST",
    "2.5.4.9": "street",
    "2.5.4.10": "O",
    "2.5.4.11": "OU",
    "2.5.4.12": "title",
    "2.5.4.13": "description",
    "2.5.4.15": "businessCategory",
    "2.5.4.17": "postalCode",
    "2.5.4.41": "name",
    "2.5.4.42": "GN",
    "2.5.4.43": "initials",
    "2.5.4.44": "generationQualifier",
    "2.5.4.46": "dnQualifier",
    "2.5.4.65": "pseudonym",
    "2.5.4.72": "role",
    "1.2.840.113549.1.9.1": "emailAddress",
    "0.9.2342.19200300.100.1.1": "UID",
    "0.9.2342.19200300.100.1.25": "DC",
    "1.3.6.1.4.1.311.60.2.1.1": "jurisdictionLocality",
    "1.3.6.1.4.1.311.60.2.1.2": "jurisdictionStateOrProvince",
    "1.3.6.1.4.1.311.60.2.1.3": "jurisdictionCountry",
}

# zcrypto's StepProvisioner.MarshalJSON knows fewer types than certinfo.
_JSON_PROVISIONER_TYPES = {
    1: "JWK",
    2: "OIDC",
    3: "GCP",
    4: "AWS",
    5: "Azure",
    6: "ACME",
    7: "X5C",
    8: "K8sSA",
}

# zcrypto's policy-OID tables for validation_level (the EV list keeps zcrypto's mistyped step OID).
_EV_POLICIES = frozenset(
    [
        "2.23.140.1.1",
        "2.23.140.1.3",
        "2.23.140.1.31",
        "1.3.6.1.4.1.17326.10.14.2.1.2",
        "1.3.6.1.4.1.17326.10.14.2.2.2",
        "1.3.6.1.4.1.17326.10.8.12.1.2",
        "1.3.6.1.4.1.17326.10.8.12.2.2",
        "1.3.159.1.17.1",
        "1.3.6.1.4.1.34697.2.1",
        "1.3.6.1.4.1.34697.2.2",
        "1.3.6.1.4.1.34697.2.3",
        "1.3.6.1.4.1.34697.2.4",
        "1.3.6.1.4.1.13177.10.1.3.10",
        "2.16.578.1.26.1.3.3",
        "1.3.6.1.4.1.36305.2",
        "1.3.6.1.4.1.22234.2.5.2.3.1",
        "1.2.616.1.113527.2.5.1.1",
        "1.3.6.1.4.1.29836.1.10",
        "1.3.6.1.4.1.6449.1.2.1.5.1",
        "1.3.6.1.4.1.6334.1.100.1",
        "2.16.840.1.114412.2.1",
        "1.3.6.1.4.1.4788.2.202.1",
        "2.16.840.1.114028.10.1.2",
        "2.16.792.3.0.4.1.1.4",
        "1.3.6.1.4.1.14370.1.6",
        "1.3.6.1.4.1.4146.1.1",
        "2.16.840.1.114413.1.7.23.3",
        "1.3.6.1.4.1.14777.6.1.1",
        "1.3.6.1.4.1.14777.6.1.2",
        "1.3.6.1.4.1.782.1.2.1.8.1",
        "1.3.6.1.4.1.8024.0.2.100.1.2",
        "2.16.840.1.114404.1.1.2.4.1",
        "1.2.392.200091.100.721.1",
        "2.16.528.1.1003.1.2.7",
        "1.3.6.1.4.1.23223.1.1.1",
        "2.16.840.1.114414.1.7.23.3",
        "2.16.840.1.114414.1.7.24.3",
        "2.16.756.1.89.1.2.1.1",
        "2.16.756.1.83.21.0",
        "2.16.840.1.113733.1.7.48.1",
        "1.3.6.1.4.1.40869.1.1.22.3",
        "1.3.6.1.4.1.7879.13.24.1",
        "2.16.840.1.113733.1.7.23.6",
        "2.16.840.1.114171.500.9",
        "2.16.156.112554.3",
        "2.16.756.5.14.7.4.8",
        "2.16.792.3.0.3.1.1.5",
        "3.6.1.4.1.37476.9000.64.1",
    ]
)
_OV_POLICIES = frozenset(
    [
        "2.23.140.1.2.2",
        "2.23.140.1.2.3",
        "2.16.840.1.114412.1.1",
        "1.3.6.1.4.1.4788.2.200.1",
        "2.16.840.1.114413.1.7.23.2",
        "2.16.528.1.1003.1.2.5.6",
        "1.3.6.1.4.1.8024.0.2.100.1.1",
        "2.16.840.1.114414.1.7.23.2",
        "2.16.792.3.0.3.1.1.2",
    ]
)
_DV_POLICIES = frozenset(
    [
        "1.3.6.1.4.1.4146.1.10.10",
        "1.3.6.1.4.1.44947.1.1.1",
        "1.3.6.1.4.1.6449.1.2.2.10",
        "1.3.6.1.4.1.6449.1.2.2.15",
        "1.3.6.1.4.1.6449.1.2.2.16",
        "1.3.6.1.4.1.6449.1.2.2.17",
        "1.3.6.1.4.1.6449.1.2.2.18",
        "1.3.6.1.4.1.6449.1.2.2.19",
        "1.3.6.1.4.1.6449.1.2.2.21",
        "1.3.6.1.4.1.6449.1.2.2.22",
        "1.3.6.1.4.1.6449.1.2.2.24",
        "1.3.6.1.4.1.6449.1.2.2.25",
        "1.3.6.1.4.1.6449.1.2.2.26",
        "1.3.6.1.4.1.6449.1.2.2.27",
        "1.3.6.1.4.1.6449.1.2.2.28",
        "1.3.6.1.4.1.6449.1.2.2.29",
        "1.3.6.1.4.1.6449.1.2.2.31",
        "1.3.6.1.4.1.6449.1.2.2.35",
        "1.3.6.1.4.1.6449.1.2.2.37",
        "1.3.6.1.4.1.6449.1.2.2.38",
        "1.3.6.1.4.1.6449.1.2.2.39",
        "1.3.6.1.4.1.6449.1.2.2.40",
        "1.3.6.1.4.1.6449.1.2.2.41",
        "1.3.6.1.4.1.6449.1.2.2.42",
        "1.3.6.1.4.1.6449.1.2.2.44",
        "1.3.6.1.4.1.6449.1.2.2.45",
        "1.3.6.1.4.1.6449.1.2.2.47",
        "1.3.6.1.4.1.6449.1.2.2.49",
        "1.3.6.1.4.1.6449.1.2.2.50",
        "1.3.6.1.4.1.6449.1.2.2.51",
        "1.3.6.1.4.1.6449.1.2.2.52",
        "1.3.6.1.4.1.6449.1.2.2.53",
        "1.3.6.1.4.1.6449.1.2.2.54",
        "1.3.6.1.4.1.6449.1.2.2.7",
        "1.3.6.1.4.1.6449.1.2.2.8",
        "2.16.840.1.114412.1.2",
        "2.16.840.1.114413.1.7.23.1",
        "2.16.840.1.114414.1.7.23.1",
        "2.23.140.1.2.1",
    ]
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
