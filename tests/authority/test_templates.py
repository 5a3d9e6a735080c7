"""Certificate templates (a provisioner's ``options.x509`` / ``options.ssh``), in process on the
real SQLite store: what a template makes, ``fail``, what is refused at load and at issue."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from stepca.authority.authority import Authority
from stepca.authority.cert_templates import TemplateProblem
from stepca.cli.ca_token import ssh_step_claim
from stepca.client.token import jwk_token
from stepca.crypto.jose import public_jwk
from stepca.crypto.sshcert import key_blob
from stepca.crypto.x509build import build_csr
from stepca.db.batch import AsyncStore
from stepca.db.engine import make_engine, resolve_target
from stepca.db.sql import SQLStore
from stepca.errors import Forbidden
from stepca.messages import SSHSignRequest
from stepca.server.loader import LoadError, Secrets, load
from stepca.server.worker import build_authority, check_config
from tests.helpers import PKI, make_pki

X509_TEMPLATE = """{
  "subject": {"commonName": {{ toJson .Subject.commonName }}, "organization": {{ toJson .Org }}},
  "sans": {{ toJson .SANs }},
{{- if hasSuffix ".internal" .Subject.commonName }}
  {{ fail "internal names are not issued by this provisioner" }}
{{- end }}
{{- if typeIs "*rsa.PublicKey" .Insecure.CR.PublicKey }}
  "keyUsage": ["keyEncipherment", "digitalSignature"],
{{- else }}
  "keyUsage": ["digitalSignature"],
{{- end }}
  "extKeyUsage": ["clientAuth"]
}"""

SSH_TEMPLATE = """{
  "type": {{ toJson .Type }},
  "keyId": {{ toJson .Token.sub }},
  "principals": {{ toJson .Principals }},
  "extensions": {"permit-pty": ""},
  "criticalOptions": {"source-address": {{ toJson .Net }}}
}"""


def _provisioner(name: str, key: ec.EllipticCurvePrivateKey, options: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "JWK",
        "name": name,
        "key": public_jwk(key),
        "claims": {"enableSSHCA": True},
        "options": options,
    }


@pytest.fixture(scope="module")
def keys() -> dict[str, ec.EllipticCurvePrivateKey]:
    return {n: ec.generate_private_key(ec.SECP256R1()) for n in ("tpl", "file", "ca")}


@pytest.fixture(scope="module")
def tpl_pki(tmp_path_factory: pytest.TempPathFactory, keys: dict[str, ec.EllipticCurvePrivateKey]) -> PKI:
    pki = make_pki(tmp_path_factory.mktemp("tpl-pki"), ssh=True)
    (pki.step_path / "templates" / "x509").mkdir(parents=True, exist_ok=True)
    (pki.step_path / "templates" / "x509" / "leaf.tpl").write_text(
        '{"subject": {{ toJson .Subject }}, "dnsNames": {{ toJson .Insecure.CR.DNSNames }}}'
    )

    def add(cfg: dict[str, Any]) -> None:
        cfg["authority"]["provisioners"] += [
            _provisioner("tpl", keys["tpl"], {
                "x509": {"template": X509_TEMPLATE, "templateData": {"Org": "Acme Corp"}},
                "ssh": {"template": SSH_TEMPLATE, "templateData": {"Net": "10.0.0.0/8"}},
            }),
            _provisioner("file", keys["file"], {"x509": {"templateFile": "templates/x509/leaf.tpl"}}),
            _provisioner("ca", keys["ca"], {"x509": {"template": '{"subject": "x", "basicConstraints": {"isCA": true}}'}}),
        ]  # fmt: skip

    pki.edit_config(add)
    return pki


@pytest.fixture
def authority(tpl_pki: PKI, tmp_path: Path) -> Iterator[tuple[Authority, asyncio.AbstractEventLoop]]:
    loaded = load(tpl_pki.ca_json, Secrets(password_file=str(tpl_pki.password_file)))
    sql = SQLStore(make_engine(resolve_target(None, tmp_path / "db.sqlite")))
    sql.migrate()
    store = AsyncStore(sql, readers=2)
    loop = asyncio.new_event_loop()
    yield build_authority(loaded, store, start_time=time.time() - 1), loop
    store.close()
    loop.close()


def token(pki: PKI, keys: dict[str, ec.EllipticCurvePrivateKey], name: str, subject: str, endpoint: str = "sign",
          **kw: Any) -> str:  # fmt: skip
    return jwk_token(subject=subject, issuer=name, kid=public_jwk(keys[name])["kid"], key=keys[name],
                     audience=f"{pki.url}/1.0/{endpoint}", **kw)  # fmt: skip


def test_an_x509_template_makes_the_certificate(authority: Any, tpl_pki: PKI, keys: Any) -> None:
    ca, loop = authority
    for key, usage in ((ec.generate_private_key(ec.SECP256R1()), False),
                       (rsa.generate_private_key(public_exponent=65537, key_size=2048), True)):  # fmt: skip
        csr = build_csr("svc.example.com", ["svc.example.com"], key).decode()
        issued = loop.run_until_complete(
            ca.sign(csr, token(tpl_pki, keys, "tpl", "svc.example.com", sans=["svc.example.com"]))
        )
        cert: x509.Certificate = issued.cert
        assert cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "Acme Corp"
        assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "svc.example.com"
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert sans.get_values_for_type(x509.DNSName) == ["svc.example.com"]
        ku = cert.extensions.get_extension_for_class(x509.KeyUsage).value
        assert ku.digital_signature and ku.key_encipherment is usage
        eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        assert list(eku) == [ExtendedKeyUsageOID.CLIENT_AUTH]


def test_fail_in_a_template_refuses_with_its_message(authority: Any, tpl_pki: PKI, keys: Any) -> None:
    ca, loop = authority
    csr = build_csr("db.internal", ["db.internal"], ec.generate_private_key(ec.SECP256R1())).decode()
    with pytest.raises(Forbidden, match="internal names are not issued by this provisioner"):
        loop.run_until_complete(
            ca.sign(csr, token(tpl_pki, keys, "tpl", "db.internal", sans=["db.internal"]))
        )


def test_a_template_file_under_steppath_and_no_default_usages(
    authority: Any, tpl_pki: PKI, keys: Any
) -> None:
    ca, loop = authority
    csr = build_csr("web.example.com", ["web.example.com"], ec.generate_private_key(ec.SECP256R1())).decode()
    cert = loop.run_until_complete(
        ca.sign(csr, token(tpl_pki, keys, "file", "web.example.com", sans=["web.example.com"]))
    ).cert
    assert cert.subject.rfc4514_string() == "CN=web.example.com"
    assert cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
        x509.DNSName
    ) == ["web.example.com"]
    with pytest.raises(x509.ExtensionNotFound):  # the template has no usages: the leaf has none
        cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage)


def test_a_template_cannot_make_a_ca(authority: Any, tpl_pki: PKI, keys: Any) -> None:
    ca, loop = authority
    csr = build_csr("x", [], ec.generate_private_key(ec.SECP256R1())).decode()
    with pytest.raises(TemplateProblem, match="cannot make a CA certificate"):
        loop.run_until_complete(ca.sign(csr, token(tpl_pki, keys, "ca", "x", sans=["x"])))


def test_an_ssh_template(authority: Any, tpl_pki: PKI, keys: Any) -> None:
    ca, loop = authority
    claim = ssh_step_claim("dev@example.com", host=False)
    ott = token(tpl_pki, keys, "tpl", "dev@example.com", endpoint="ssh/sign", sans=None, extra=claim)
    pub = key_blob(ec.generate_private_key(ec.SECP256R1()))
    issued = loop.run_until_complete(ca.ssh.sign(SSHSignRequest(public_key=pub, ott=ott)))
    cert = issued.certificate
    assert cert.key_id == b"dev@example.com"
    assert cert.valid_principals == [b"dev", b"dev@example.com"]
    assert cert.extensions == {b"permit-pty": b""}
    assert cert.critical_options == {b"source-address": b"10.0.0.0/8"}


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"x509": {"template": "{{ if }}"}}, "options.x509"),
        ({"x509": {"templateFile": "templates/none.tpl"}}, "cannot be read"),
        ({"ssh": {"template": "{}", "templateFile": "x"}}, "cannot both be set"),
        ({"x509": {"template": "{}", "templateData": []}}, "templateData must be an object"),
    ],
)
def test_a_bad_template_stops_the_configuration(
    tpl_pki: PKI, tmp_path: Path, options: dict[str, Any], message: str
) -> None:
    cfg = json.loads(tpl_pki.ca_json.read_text())
    cfg["authority"]["provisioners"].append(
        _provisioner("bad", ec.generate_private_key(ec.SECP256R1()), options)
    )
    path = tpl_pki.step_path / "config" / "bad.json"
    path.write_text(json.dumps(cfg))
    loaded = load(path, Secrets(password_file=str(tpl_pki.password_file)))
    with pytest.raises(LoadError, match=message) as err:
        check_config(loaded, time.time())
    assert "'bad'" in str(err.value)
