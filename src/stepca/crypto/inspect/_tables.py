"""Tables for `step certificate inspect`: names and OIDs as Go and zcrypto print them."""

from __future__ import annotations

from typing import Any

from cryptography import x509
from cryptography.x509.oid import ExtensionOID

from stepca.crypto.x509ext import PROVISIONER_TYPE_NAMES

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

# zcrypto's StepProvisioner.MarshalJSON knows fewer types than certinfo: JWK (1) to K8sSA (8).
_JSON_PROVISIONER_TYPES = {
    number: name for number, name in PROVISIONER_TYPE_NAMES.items() if 1 <= number <= 8
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
