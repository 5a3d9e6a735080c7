"""stepca.crypto.inspect against step 0.19's own output, and on certificates built here."""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

from stepca.crypto import der
from stepca.crypto.inspect import (
    inspect_csr_json,
    inspect_csr_short,
    inspect_csr_text,
    inspect_json,
    inspect_short,
    inspect_text,
)
from stepca.crypto.x509ext import PROVISIONER_OID, ProvisionerExtension

FIXTURES = Path("/work/shared/fixtures/step-0.19")
NOT_BEFORE = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
NOT_AFTER = NOT_BEFORE + timedelta(days=1, seconds=60)


def _load(relative: str) -> x509.Certificate:
    return x509.load_pem_x509_certificate((FIXTURES / relative).read_bytes())


@pytest.fixture(scope="module")
def leaf() -> x509.Certificate:
    return _load("leaf/leaf.crt")


def _name(cn: str, org: str | None = None) -> x509.Name:
    attributes = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, org)] if org else []
    return x509.Name([*attributes, x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _sign_hash(key: Any) -> hashes.HashAlgorithm | None:
    return None if isinstance(key, ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey) else hashes.SHA256()


def _build(
    subject: x509.Name,
    key: Any,
    extensions: list[tuple[x509.ExtensionType, bool]] = (),  # type: ignore[assignment]
    *,
    issuer: x509.Name | None = None,
    issuer_key: Any = None,
    serial: int = 0x1234_5678_9ABC_DEF0,
) -> x509.Certificate:
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer or subject)
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(NOT_BEFORE)
        .not_valid_after(NOT_AFTER)
    )
    for value, critical in extensions:
        builder = builder.add_extension(value, critical)
    signer = issuer_key or key
    return builder.sign(signer, _sign_hash(signer))


def _ca_extensions(key: Any, pathlen: int) -> list[tuple[x509.ExtensionType, bool]]:
    usage = x509.KeyUsage(False, False, False, False, False, True, True, False, False)
    return [
        (usage, True),
        (x509.BasicConstraints(ca=True, path_length=pathlen), True),
        (x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False),
    ]


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines()]


# --- the reference output of step 0.19 ------------------------------------------------------------


@pytest.mark.parametrize(
    ("render", "fixture"),
    [(inspect_text, "inspect_leaf.txt"), (inspect_short, "inspect_leaf_short.txt")],
)
def test_leaf_text_matches_step_byte_for_byte(leaf: x509.Certificate, render: Any, fixture: str) -> None:
    assert render(leaf) == (FIXTURES / "cli" / fixture).read_text()


def test_leaf_json_matches_step(leaf: x509.Certificate) -> None:
    expected_text = (FIXTURES / "cli" / "inspect_leaf.json").read_text()
    doc = inspect_json(leaf)
    assert doc == json.loads(expected_text)
    # Same keys in the same order: Go's encoder output is reproduced exactly.
    assert json.dumps(doc, indent=2) + "\n" == expected_text


def test_leaf_json_values_recomputed(leaf: x509.Certificate) -> None:
    """Every fingerprint is recomputed here from the certificate, independently of the renderer."""
    doc = inspect_json(leaf)
    raw = leaf.public_bytes(Encoding.DER)
    fields = der.read_sequence(leaf.tbs_certificate_bytes)[1:]  # without [0] version
    subject, spki = der.tlv(*fields[4]), der.tlv(*fields[5])
    assert doc["fingerprint_md5"] == hashlib.md5(raw, usedforsecurity=False).hexdigest()
    assert doc["fingerprint_sha1"] == hashlib.sha1(raw, usedforsecurity=False).hexdigest()
    assert doc["fingerprint_sha256"] == hashlib.sha256(raw).hexdigest()
    assert doc["tbs_fingerprint"] == hashlib.sha256(leaf.tbs_certificate_bytes).hexdigest()
    assert doc["tbs_noct_fingerprint"] == doc["tbs_fingerprint"]  # no CT extensions
    assert doc["spki_subject_fingerprint"] == hashlib.sha256(spki + subject).hexdigest()
    assert doc["subject_key_info"]["fingerprint_sha256"] == hashlib.sha256(spki).hexdigest()
    numbers = leaf.public_key().public_numbers()
    ecdsa = doc["subject_key_info"]["ecdsa_public_key"]
    assert int.from_bytes(base64.b64decode(ecdsa["x"]), "big") == numbers.x
    assert int.from_bytes(base64.b64decode(ecdsa["y"]), "big") == numbers.y
    assert doc["validity"]["length"] == int(
        (leaf.not_valid_after_utc - leaf.not_valid_before_utc).total_seconds()
    )


@pytest.mark.parametrize(
    ("fixture", "kind", "pathlen", "self_signed"),
    [("root_ca.crt", "Root CA", 1, True), ("intermediate_ca.crt", "Intermediate CA", 0, False)],
)
def test_fixture_ca_certificates(fixture: str, kind: str, pathlen: int, self_signed: bool) -> None:
    cert = _load(f"pki/certs/{fixture}")
    assert inspect_short(cert).startswith(f"X.509v3 {kind} Certificate (ECDSA P-256) [Serial: ")
    text = inspect_text(cert)
    assert "            X509v3 Basic Constraints: critical\n" in text
    assert f"                CA:TRUE, pathlen:{pathlen}\n" in text
    assert "            X509v3 Key Usage: critical\n                Certificate Sign, CRL Sign\n" in text
    doc = inspect_json(cert)
    assert doc["extensions"]["basic_constraints"] == {"is_ca": True, "max_path_len": pathlen}
    assert doc["extensions"]["key_usage"] == {"certificate_sign": True, "crl_sign": True, "value": 96}
    assert doc["signature"]["self_signed"] is self_signed
    assert "names" not in doc  # "Fixture Root CA" is not a host name


def test_fixture_csr() -> None:
    csr = x509.load_pem_x509_csr((FIXTURES / "leaf" / "svc.csr").read_bytes())
    text = inspect_csr_text(csr)
    assert text.startswith("Certificate Request:\n    Data:\n        Version: 0 (0x0)\n")
    assert "        Subject: CN=svc.example.com\n" in text
    assert "        Requested Extensions:\n            X509v3 Subject Alternative Name:\n" in text
    assert "                DNS:svc.example.com\n" in text
    assert "    Signature Algorithm: ECDSA-SHA256\n         30:45:02:21:00:d3:c4:" in text
    assert text.endswith(":76:70\n")
    assert (
        inspect_csr_short(csr)
        == "X.509v3 Certificate Signing Request (ECDSA P-256)\n  Subject:     svc.example.com\n"
    )
    doc = inspect_csr_json(csr)
    assert list(doc) == [
        "version",
        "signature_algorithm",
        "subject",
        "subject_dn",
        "subject_key_info",
        "extensions",
        "signature",
    ]
    assert doc["version"] == 0
    assert doc["subject"] == {"common_name": ["svc.example.com"]}
    assert doc["subject_dn"] == "CN=svc.example.com"
    assert doc["extensions"] == {"subject_alt_name": {"dns_names": ["svc.example.com"]}}
    assert doc["signature"]["valid"] is True
    assert doc["subject_key_info"]["ecdsa_public_key"]["curve"] == "P-256"


# --- keys -----------------------------------------------------------------------------------------


KEYS = {
    "rsa": lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048),
    "ed25519": ed25519.Ed25519PrivateKey.generate,
    "dsa": lambda: dsa.generate_private_key(key_size=2048),
    "p384": lambda: ec.generate_private_key(ec.SECP384R1()),
    "p521": lambda: ec.generate_private_key(ec.SECP521R1()),
}


@pytest.fixture(scope="module")
def keys() -> dict[str, Any]:
    return {name: make() for name, make in KEYS.items()}


@pytest.mark.parametrize(
    ("key_name", "expected_lines", "short", "signature"),
    [
        (
            "rsa",
            ["Public Key Algorithm: RSA", "Public-Key: (2048 bit)", "Modulus:", "Exponent: 65537 (0x10001)"],
            "RSA 2048",
            "SHA256-RSA",
        ),
        # certinfo prints the Ed25519 key length in bytes but labels it "bit".
        ("ed25519", ["Public Key Algorithm: Ed25519", "Public-Key: (32 bit)"], "Ed25519 256", "Ed25519"),
        ("dsa", ["Public Key Algorithm: DSA", "pub:", "P:", "Q:", "G:"], "DSA 256", "DSA-SHA256"),
        (
            "p384",
            ["Public Key Algorithm: ECDSA", "Public-Key: (384 bit)", "Curve: P-384"],
            "ECDSA P-384",
            None,
        ),
        (
            "p521",
            ["Public Key Algorithm: ECDSA", "Public-Key: (521 bit)", "Curve: P-521"],
            "ECDSA P-521",
            None,
        ),
    ],
)
def test_key_rendering(
    keys: dict[str, Any], key_name: str, expected_lines: list[str], short: str, signature: str | None
) -> None:
    cert = _build(_name("keys.example.com"), keys[key_name])
    lines = _lines(inspect_text(cert))
    for line in expected_lines:
        assert line in lines
    assert f"({short})" in inspect_short(cert)
    if signature:
        assert f"Signature Algorithm: {signature}" in lines


def test_rsa_modulus_dump(keys: dict[str, Any]) -> None:
    key = keys["rsa"]
    text = inspect_text(_build(_name("rsa.example.com"), key))
    block = text.split("                Modulus:\n")[1].split("                Exponent:")[0]
    rows = block.splitlines()
    assert all(row.startswith(" " * 20) for row in rows)
    assert [len(row.strip().rstrip(":").split(":")) for row in rows] == [15] * 17 + [1]
    assert (
        int(block.replace(":", "").replace("\n", "").replace(" ", ""), 16)
        == key.public_key().public_numbers().n
    )


@pytest.mark.parametrize(
    ("key_name", "json_key", "expected"),
    [
        ("rsa", "rsa_public_key", {"exponent": 65537, "length": 2048}),
        ("ed25519", None, {}),
        ("dsa", "dsa_public_key", {}),
        ("p384", "ecdsa_public_key", {"curve": "P-384", "length": 384}),
        ("p521", "ecdsa_public_key", {"curve": "P-521", "length": 521}),
    ],
)
def test_key_json(
    keys: dict[str, Any], key_name: str, json_key: str | None, expected: dict[str, Any]
) -> None:
    key = keys[key_name]
    info = inspect_json(_build(_name("keys.example.com"), key))["subject_key_info"]
    assert info["key_algorithm"] == {
        "name": {"rsa": "RSA", "ed25519": "Ed25519", "dsa": "DSA"}.get(key_name, "ECDSA")
    }
    if json_key is None:
        assert list(info) == ["key_algorithm", "fingerprint_sha256"]
        return
    doc = info[json_key]
    assert doc.items() >= expected.items()
    if json_key == "ecdsa_public_key":
        assert list(doc) == sorted(doc)
        p, b, gx, gy = (int.from_bytes(base64.b64decode(doc[k]), "big") for k in ("p", "b", "gx", "gy"))
        assert (gy * gy - (gx**3 - 3 * gx + b)) % p == 0  # the generator is on the curve
        numbers = key.public_key().public_numbers()
        assert int.from_bytes(base64.b64decode(doc["y"]), "big") == numbers.y


# --- extensions -----------------------------------------------------------------------------------


def _provisioner_ext() -> x509.UnrecognizedExtension:
    value = ProvisionerExtension(
        type=1, name="ops", credential_id="kid-123456789", key_value_pairs=("Foo", "bar", "lone")
    )
    return x509.UnrecognizedExtension(ObjectIdentifier(PROVISIONER_OID), value.to_der())


@pytest.fixture(scope="module")
def kitchen_sink() -> x509.Certificate:
    key = ec.generate_private_key(ec.SECP256R1())
    sans = [
        x509.DNSName("sink.example.com"),
        x509.DNSName("alt.example.com"),
        x509.IPAddress(ipaddress.ip_address("10.0.0.1")),
        x509.IPAddress(ipaddress.ip_address("::ffff:192.0.2.7")),
        x509.RFC822Name("ops@example.com"),
        x509.UniformResourceIdentifier("spiffe://example.com/svc"),
    ]
    ekus = [
        ExtendedKeyUsageOID.CODE_SIGNING,
        ExtendedKeyUsageOID.EMAIL_PROTECTION,
        ObjectIdentifier("1.2.3.4.5"),
        ExtendedKeyUsageOID.TIME_STAMPING,
        ExtendedKeyUsageOID.OCSP_SIGNING,
        ObjectIdentifier("1.3.6.1.4.1.311.10.3.3"),
    ]
    usage = x509.KeyUsage(True, True, True, True, True, False, False, True, False)
    aia = [
        x509.AccessDescription(
            x509.AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier("http://ocsp")
        ),
        x509.AccessDescription(
            x509.AuthorityInformationAccessOID.CA_ISSUERS, x509.UniformResourceIdentifier("http://ca/crt")
        ),
    ]
    crl = x509.DistributionPoint([x509.UniformResourceIdentifier("http://crl/a.crl")], None, None, None)
    policies = [
        x509.PolicyInformation(ObjectIdentifier("2.23.140.1.2.1"), ["https://cps.example.com"]),
        x509.PolicyInformation(
            ObjectIdentifier("1.2.3.4"),
            [x509.UserNotice(x509.NoticeReference("Org", [1, 2]), "hello")],
        ),
    ]
    constraints = x509.NameConstraints(
        permitted_subtrees=[x509.DNSName("example.com"), x509.IPAddress(ipaddress.ip_network("10.0.0.0/8"))],
        excluded_subtrees=[x509.RFC822Name("bad@example.com")],
    )
    comment = x509.UnrecognizedExtension(
        ObjectIdentifier("2.16.840.1.113730.1.13"), der.tlv(der.IA5_STRING, b"hi")
    )
    opaque = x509.UnrecognizedExtension(ObjectIdentifier("1.2.3.99"), b"\x04\x05ab\x00cd")
    extensions: list[tuple[x509.ExtensionType, bool]] = [
        (usage, True),
        (x509.ExtendedKeyUsage(ekus), False),
        (x509.SubjectAlternativeName(sans), False),
        (x509.AuthorityInformationAccess(aia), False),
        (x509.CRLDistributionPoints([crl]), False),
        (x509.CertificatePolicies(policies), False),
        (constraints, True),
        (x509.InhibitAnyPolicy(0), False),
        (comment, False),
        (opaque, True),
        (_provisioner_ext(), False),
    ]
    return _build(_name("sink.example.com", "Sink"), key, extensions, issuer=_name("Issuer CA"))


@pytest.mark.parametrize(
    "expected",
    [
        "            X509v3 Key Usage: critical\n                Digital Signature, Content Commitment, Key "
        "Encipherment, Data Encipherment, Key Agreement, Encipher Only\n",
        # Go lists known usages first and unknown OIDs last; it has no name for Microsoft SGC in certificates.
        "            X509v3 Extended Key Usage:\n"
        "                Code Signing, E-mail Protection, Time Stamping, "
        "OCSP Signing, UNKNOWN, 1.2.3.4.5\n",
        "            X509v3 Subject Alternative Name:\n"
        "                DNS:sink.example.com, DNS:alt.example.com\n"
        "                email:ops@example.com\n                IP Address:10.0.0.1, IP Address:192.0.2.7\n"
        "                URI:spiffe://example.com/svc\n",
        "            Authority Information Access:\n                OCSP - URI:http://ocsp\n"
        "                CA Issuers - URI:http://ca/crt\n",
        "            X509v3 CRL Distribution Points:\n                Full Name:\n"
        "                  URI:http://crl/a.crl\n",
        "            X509v3 Certificate Policies:\n                Policy: 2.23.140.1.2.1\n"
        "                Policy: 1.2.3.4\n",
        "            X509v3 Name Constraints: critical\n                Permitted:\n"
        "                  DNS: example.com\n                  IP Range: 10.0.0.0/8\n"
        "                Excluded:\n                  Email: bad@example.com\n",
        "Unknown extension 2.5.29.54\n",
        "            Netscape Comment:\n                hi\n",
        "            1.2.3.99: critical\n                ..ab.cd\n",
        "            X509v3 Step Provisioner:\n                Type: JWK\n                Name: ops\n"
        "                CredentialID: kid-123456789\n                Foo: bar\n                lone: -\n",
        "        Issuer: CN=Issuer CA\n",
        "        Subject: O=Sink,CN=sink.example.com\n",
        "        Serial Number: 1311768467463790320 (0x123456789abcdef0)\n",
        "            Not Before: Mar 4 05:06:07 2026 UTC\n",
    ],
)
def test_extension_text(kitchen_sink: x509.Certificate, expected: str) -> None:
    assert expected in inspect_text(kitchen_sink)


def test_short_lists_sans_and_provisioner(kitchen_sink: x509.Certificate) -> None:
    assert inspect_short(kitchen_sink) == (
        "X.509v3 TLS Certificate (ECDSA P-256) [Serial: 1311...0320]\n"
        "  Subject:     sink.example.com\n"
        "               alt.example.com\n"
        "               10.0.0.1\n"
        "               192.0.2.7\n"
        "               ops@example.com\n"
        "               spiffe://example.com/svc\n"
        "  Issuer:      Issuer CA\n"
        "  Provisioner: ops [ID: kid-...6789]\n"
        "  Valid from:  2026-03-04T05:06:07Z\n"
        "          to:  2026-03-05T05:07:07Z\n"
    )


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("key_usage", {
            "digital_signature": True, "content_commitment": True, "key_encipherment": True,
            "data_encipherment": True, "key_agreement": True, "encipher_only": True, "value": 159,
        }),
        ("subject_alt_name", {
            "dns_names": ["sink.example.com", "alt.example.com"],
            "email_addresses": ["ops@example.com"],
            "ip_addresses": ["10.0.0.1", "192.0.2.7"],
            "uniform_resource_identifiers": ["spiffe://example.com/svc"],
        }),
        ("name_constraints", {
            "critical": True,
            "permitted_names": ["example.com"],
            "permitted_ip_addresses": [
                {"cidr": "10.0.0.0/8", "begin": "10.0.0.0", "end": "10.255.255.255", "mask": "255.0.0.0"}
            ],
            "excluded_email_addresses": ["bad@example.com"],
        }),
        ("crl_distribution_points", ["http://crl/a.crl"]),
        ("extended_key_usage", {
            "ocsp_signing": True, "code_signing": True, "time_stamping": True, "email_protection": True,
            "microsoft_server_gated_crypto": True, "unknown": ["1.2.3.4.5"],
        }),
        ("certificate_policies", [
            {"id": "2.23.140.1.2.1", "cps": ["https://cps.example.com"]},
            {"id": "1.2.3.4", "user_notice": [
                {
                    "explicit_text": "hello",
                    "notice_reference": [{"organization": "Org", "notice_numbers": [1, 2]}],
                }
            ]},
        ]),
        ("authority_info_access", {"ocsp_urls": ["http://ocsp"], "issuer_urls": ["http://ca/crt"]}),
        ("step_provisioner", {
            "credentialID": "kid-123456789", "foo": "bar", "lone": "-", "name": "ops", "type": "JWK",
        }),
    ],
)  # fmt: skip
def test_extension_json(kitchen_sink: x509.Certificate, key: str, expected: Any) -> None:
    extensions = inspect_json(kitchen_sink)["extensions"]
    assert extensions[key] == expected
    if isinstance(expected, dict):
        assert list(extensions[key]) == list(expected)  # zcrypto's field order


def test_json_document_level(kitchen_sink: x509.Certificate) -> None:
    doc = inspect_json(kitchen_sink)
    assert list(doc["extensions"]) == [
        "key_usage",
        "subject_alt_name",
        "name_constraints",
        "crl_distribution_points",
        "extended_key_usage",
        "certificate_policies",
        "authority_info_access",
        "step_provisioner",
    ]
    assert doc["unknown_extensions"] == [
        {"id": "2.5.29.54", "critical": False, "value": "AgEA"},
        {"id": "2.16.840.1.113730.1.13", "critical": False, "value": "FgJoaQ=="},
        {"id": "1.2.3.99", "critical": True, "value": "BAVhYgBjZA=="},
    ]
    assert doc["validation_level"] == "DV"  # CA/B Forum DV policy
    assert doc["names"] == ["sink.example.com", "alt.example.com", "10.0.0.1", "192.0.2.7"]
    assert doc["issuer_dn"] == "CN=Issuer CA"
    assert doc["subject_dn"] == "O=Sink, CN=sink.example.com"
    assert doc["signature"]["self_signed"] is False  # issuer name differs from the subject
    assert doc["validity"] == {
        "start": "2026-03-04T05:06:07Z",
        "end": "2026-03-05T05:07:07Z",
        "length": 86460,
    }


def _sct_list(signature: bytes, timestamp_ms: int) -> bytes:
    """An RFC 6962 SignedCertificateTimestampList with one v1 SCT, wrapped in an OCTET STRING."""
    sct = bytes(1) + bytes(range(32)) + timestamp_ms.to_bytes(8, "big") + bytes(2)
    sct += bytes([4, 3]) + len(signature).to_bytes(2, "big") + signature  # SHA-256, ECDSA
    entries = len(sct).to_bytes(2, "big") + sct
    return der.tlv(0x04, len(entries).to_bytes(2, "big") + entries)


def test_certificate_transparency_extensions() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    moment = datetime(2024, 3, 4, 5, 6, 7, 89000, tzinfo=UTC)
    signature = bytes(range(20))
    scts = x509.UnrecognizedExtension(
        x509.oid.ExtensionOID.PRECERT_SIGNED_CERTIFICATE_TIMESTAMPS,
        _sct_list(signature, int(moment.timestamp() * 1000)),
    )
    base = [(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)]
    with_ct = _build(_name("ct.example.com"), key, [*base, (scts, False), (x509.PrecertPoison(), True)])
    without_ct = _build(_name("ct.example.com"), key, base)

    text = inspect_text(with_ct)
    assert (
        "            RFC6962 Certificate Transparency SCT:\n                SCT [0]:\n"
        "                    Version: V1 (0x0)\n"
        f"                    LogID: {base64.b64encode(bytes(range(32))).decode()}\n"
        "                    Timestamp: Mar 4 05:06:07.089 2024 UTC\n"
        "                    Signature Algorithm: SHA256-ECDSA\n"
        "                      00:01:02:03:04:05:06:07:08:09:0a:0b:0c:0d:0e:0f:10:11:\n"
        "                      12:13\n"
    ) in text
    assert "            1.3.6.1.4.1.11129.2.4.3: critical\n" in text  # certinfo has no name for the poison

    doc = inspect_json(with_ct)
    assert doc["extensions"]["ct_poison"] is True
    assert doc["extensions"]["signed_certificate_timestamps"] == [
        {
            "version": 0,
            "log_id": base64.b64encode(bytes(range(32))).decode(),
            "timestamp": int(moment.timestamp()),
            "signature": base64.b64encode(bytes([4, 3, 0, 20]) + signature).decode(),
        }
    ]
    assert doc["tbs_noct_fingerprint"] == hashlib.sha256(without_ct.tbs_certificate_bytes).hexdigest()
    assert doc["tbs_noct_fingerprint"] != doc["tbs_fingerprint"]


# --- certificate kinds and special cases ------------------------------------------------------------


@pytest.fixture(scope="module")
def generated_chain() -> dict[str, x509.Certificate]:
    root_key, inter_key, leaf_key = (ec.generate_private_key(ec.SECP256R1()) for _ in range(3))
    root = _build(_name("Gen Root", "Gen"), root_key, _ca_extensions(root_key, 1))
    inter = _build(
        _name("Gen Intermediate", "Gen"),
        inter_key,
        _ca_extensions(inter_key, 0),
        issuer=root.subject,
        issuer_key=root_key,
    )
    leaf = _build(_name("gen.example.com"), leaf_key, issuer=inter.subject, issuer_key=inter_key)
    return {"root": root, "intermediate": inter, "leaf": leaf}


@pytest.mark.parametrize(
    ("which", "kind", "self_signed"),
    [("root", "Root CA", True), ("intermediate", "Intermediate CA", False), ("leaf", "TLS", False)],
)
def test_certificate_kind(
    generated_chain: dict[str, x509.Certificate], which: str, kind: str, self_signed: bool
) -> None:
    cert = generated_chain[which]
    assert inspect_short(cert).startswith(f"X.509v3 {kind} Certificate (ECDSA P-256) [Serial: 1311...0320]\n")
    assert inspect_json(cert)["signature"]["self_signed"] is self_signed


def test_certificate_without_extensions(generated_chain: dict[str, x509.Certificate]) -> None:
    cert = generated_chain["leaf"]
    text = inspect_text(cert)
    assert "X509v3 extensions:" not in text
    assert "Curve: P-256\n    Signature Algorithm: ECDSA-SHA256\n" in text
    doc = inspect_json(cert)
    assert doc["extensions"] == {}
    assert "unknown_extensions" not in doc
    assert doc["names"] == ["gen.example.com"]
    assert "Provisioner:" not in inspect_short(cert)


@pytest.mark.parametrize(
    ("serial", "shown"),
    [(1, "1"), (12345678, "12345678"), (123456789, "1234...6789"), (2**159 - 1, "7307...1487")],
)
def test_short_serial_abbreviation(serial: int, shown: str) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    cert = _build(_name("serial.example.com"), key, serial=serial)
    assert f"[Serial: {shown}]\n" in inspect_short(cert)


def test_empty_names() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    cert = _build(x509.Name([]), key, [(x509.SubjectKeyIdentifier(b""), False)], issuer=x509.Name([]))
    assert "\n  Subject: \n  Issuer:      \n" in inspect_short(cert)
    text = inspect_text(cert)
    assert "        Issuer:         Validity\n" in text  # certinfo writes no newline after an empty issuer
    assert "        Subject:\n        Subject Public Key Info:\n" in text
    assert "            X509v3 Subject Key Identifier:\n\n" in text
    doc = inspect_json(cert)
    assert (doc["issuer"], doc["subject"], "issuer_dn" in doc, "subject_dn" in doc) == ({}, {}, False, False)


def test_unsupported_key_type() -> None:
    """Go's crypto/x509 knows no Ed448: step fails on the text form and prints placeholders elsewhere."""
    cert = _build(_name("ed448.example.com"), ed448.Ed448PrivateKey.generate())
    with pytest.raises(ValueError, match="certinfo: Unknown public key type"):
        inspect_text(cert)
    assert "(0 unknown)" in inspect_short(cert)
    doc = inspect_json(cert)
    assert doc["signature_algorithm"] == {"name": "0", "oid": ""}
    assert doc["subject_key_info"]["key_algorithm"] == {"name": "unknown_algorithm"}


def test_validity_length_saturates_like_go_durations() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name("long.example.com"))
        .issuer_name(_name("long.example.com"))
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(datetime(1950, 1, 1, tzinfo=UTC))
        .not_valid_after(datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC))
    )
    doc = inspect_json(builder.sign(key, hashes.SHA256()))
    assert doc["validity"] == {
        "start": "1950-01-01T00:00:00Z",
        "end": "9999-12-31T23:59:59Z",
        "length": 9223372036,
    }


# --- certificate requests ---------------------------------------------------------------------------


def test_csr_with_unknown_extensions_and_usages() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    opaque = x509.UnrecognizedExtension(ObjectIdentifier("1.2.3.99"), b"\x04\x02ab")
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(_name("req.example.com"))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("req.example.com")]), False)
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ObjectIdentifier("1.2.3.4")]), False
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), True)
        .add_extension(opaque, False)
        .sign(key, hashes.SHA256())
    )
    text = inspect_csr_text(csr)
    assert (
        "        Requested Extensions:\n"
        "            X509v3 Subject Alternative Name:\n                DNS:req.example.com\n"
        "            X509v3 Extended Key Usage:\n                Server Authentication, UNKNOWN(1.2.3.4)\n"
        "            X509v3 Basic Constraints: critical\n                CA:FALSE\n"
        "        Attributes:\n            1.2.3.99:\n                ..ab\n                04:02:61:62\n"
        "    Signature Algorithm: ECDSA-SHA256\n"
    ) in text
    doc = inspect_csr_json(csr)
    assert doc["extensions"]["extended_key_usage"] == {"server_auth": True, "unknown": ["1.2.3.4"]}
    assert doc["extensions"]["basic_constraints"] == {"is_ca": False}
    assert doc["unknown_extensions"] == [{"id": "1.2.3.99", "critical": False, "value": "BAJhYg=="}]
