"""The CRL Distribution Point extension leaves carry: encoded once per configuration, and the
leaf stays byte-identical to what cryptography's CertificateBuilder makes (crypto/leafder.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509

from stepca.authority.x509_issuer import LeafRequest, X509Issuer
from stepca.config import parse_ca_config
from stepca.crypto.keys import generate_private_key, signature_hash
from stepca.crypto.x509build import build_ca_certificate, ca_name
from stepca.revocation.crl import crl_url, delta_url, revocation_extensions

BASE = {"root": "r", "crt": "c", "key": "k", "address": ":443", "dnsNames": ["ca.example.com", "10.0.0.1"]}


@pytest.mark.parametrize(
    ("address", "dns", "idp", "url"),
    [
        (":443", "ca.example.com", "", "https://ca.example.com/1.0/crl"),
        ("127.0.0.1:9000", "ca.example.com", "", "https://ca.example.com:9000/1.0/crl"),
        ("[::1]:8443", "::1", "", "https://[::1]:8443/1.0/crl"),
        (":443", "ca.example.com", "http://crl.example.com/x.crl", "http://crl.example.com/x.crl"),
    ],
)
def test_urls(address: str, dns: str, idp: str, url: str) -> None:
    cfg = parse_ca_config(
        {**BASE, "address": address, "dnsNames": [dns], "crl": {"enabled": True, "idpURL": idp}}
    )
    assert crl_url(cfg) == url
    assert delta_url(cfg) == url + "/delta"
    (ext,) = revocation_extensions(cfg)
    assert not ext.critical
    assert ext.value == x509.CRLDistributionPoints(
        [x509.DistributionPoint([x509.UniformResourceIdentifier(url)], None, None, None)]
    )
    assert revocation_extensions(parse_ca_config({**BASE, "crl": {"enabled": False}})) == ()
    assert revocation_extensions(parse_ca_config(BASE)) == ()


def test_leaf_with_the_distribution_point_equals_the_builder() -> None:
    cfg = parse_ca_config({**BASE, "crl": {"enabled": True}})
    key = generate_private_key("EC", "P-256", None)
    name = ca_name("Diff", "Diff Intermediate CA")
    cert = build_ca_certificate(
        subject=name, public_key=key.public_key(), issuer=name, issuer_key=key, path_length=0
    )
    issuer = X509Issuer(cert, key, None, extra_extensions=revocation_extensions(cfg))
    now = datetime.now(UTC).replace(microsecond=0)
    leaf_key = generate_private_key("EC", "P-256", None)
    request = LeafRequest(
        public_key=leaf_key.public_key(),  # type: ignore[arg-type]
        common_name="leaf.example.com",
        sans=x509.SubjectAlternativeName([x509.DNSName("leaf.example.com")]),
        not_before=now,
        not_after=now + timedelta(hours=1),
        provisioner_extension=b"",
    )
    leaf, _ = issuer.issue(request)
    builder = (
        x509.CertificateBuilder()
        .subject_name(leaf.subject)
        .issuer_name(leaf.issuer)
        .public_key(leaf.public_key())  # type: ignore[arg-type]
        .serial_number(leaf.serial_number)
        .not_valid_before(leaf.not_valid_before_utc)
        .not_valid_after(leaf.not_valid_after_utc)
    )
    for ext in leaf.extensions:
        builder = builder.add_extension(ext.value, critical=ext.critical)
    rebuilt = builder.sign(key, signature_hash(key))  # type: ignore[arg-type]
    assert rebuilt.tbs_certificate_bytes == leaf.tbs_certificate_bytes
    assert (
        leaf.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
        == revocation_extensions(cfg)[0].value
    )

    # renewal: the old certificate's DP is replaced by the current one, never doubled
    other = parse_ca_config({**BASE, "crl": {"enabled": True, "idpURL": "http://new.example.com/crl"}})
    renewing = X509Issuer(cert, key, None, extra_extensions=revocation_extensions(other))
    renewed, _ = renewing.issue(
        LeafRequest(
            public_key=leaf_key.public_key(),  # type: ignore[arg-type]
            common_name="",
            sans=None,
            not_before=now,
            not_after=now + timedelta(hours=1),
            provisioner_extension=b"",
            copied_extensions=tuple(leaf.extensions),
            subject=leaf.subject,
        )
    )
    dps = [e for e in renewed.extensions if isinstance(e.value, x509.CRLDistributionPoints)]
    assert len(dps) == 1
    assert dps[0].value[0].full_name == [x509.UniformResourceIdentifier("http://new.example.com/crl")]
