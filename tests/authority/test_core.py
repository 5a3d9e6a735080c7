"""The CA core in process (no HTTP): authorize → issue → record, for sign, renew and revoke, on
the real SQLite store; and the name rules OIDC adds."""

from __future__ import annotations

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from stepca.authority.authority import Authority
from stepca.authority.names import authorize_names, request_names
from stepca.cli.ca_token import ssh_step_claim
from stepca.crypto.jose import CompactJWS
from stepca.crypto.sshcert import key_blob
from stepca.crypto.x509build import build_csr
from stepca.db.records import StoreUnavailable
from stepca.errors import Forbidden, Unauthorized
from stepca.messages import SSHSignRequest
from stepca.server.loader import Secrets, load
from stepca.server.worker import build_authority
from tests.authority.conftest import Core
from tests.tokens import signer_for


def csr_for(subject: str, sans: list[str]) -> str:
    return build_csr(subject, sans, ec.generate_private_key(ec.SECP256R1())).decode()


def test_sign_records_the_certificate_and_spends_the_token(core: Core) -> None:
    ca = core.authority
    token = signer_for(core.pki).token("svc.example.com")
    issued = core.run(ca.sign(csr_for("svc.example.com", ["svc.example.com"]), token))
    cert = issued.cert  # type: ignore[attr-defined]
    assert cert.subject.rfc4514_string() == "CN=svc.example.com"
    record = core.run(core.store.get_certificate(str(cert.serial_number)))
    assert record is not None and record.origin == "sign" and record.subject == "svc.example.com"  # type: ignore[attr-defined]
    assert record.der == cert.public_bytes(serialization.Encoding.DER)  # type: ignore[attr-defined]
    with pytest.raises(Unauthorized, match="token already used"):
        core.run(ca.sign(csr_for("svc.example.com", ["svc.example.com"]), token))
    assert core.run(core.store.count_certificates()) == 1


def test_renew_and_revoke_go_through_the_same_recorder(core: Core) -> None:
    ca = core.authority
    signer = signer_for(core.pki)
    issued = core.run(ca.sign(csr_for("a.example.com", ["a.example.com"]), signer.token("a.example.com")))
    old: x509.Certificate = issued.cert  # type: ignore[attr-defined]
    renewed = core.run(ca.renew(old)).cert  # type: ignore[attr-defined]
    assert renewed.serial_number != old.serial_number and renewed.subject == old.subject
    assert core.run(core.store.get_certificate(str(renewed.serial_number))).origin == "renew"  # type: ignore[attr-defined]
    serial = str(renewed.serial_number)
    revoke_token = signer.token(serial, endpoint="revoke", sans=None)
    core.run(
        ca.revoke(serial=serial, ott=revoke_token, mtls_cert=None, reason_code=1, reason="", passive=True)
    )
    with pytest.raises(Unauthorized, match="has been revoked"):
        core.run(ca.renew(renewed))
    assert core.run(core.store.count_certificates()) == 2


def test_a_refused_sign_records_nothing(core: Core) -> None:
    token = signer_for(core.pki).token("svc.example.com")
    with pytest.raises(Forbidden, match=r"other\.example\.com"):
        core.run(core.authority.sign(csr_for("svc.example.com", ["other.example.com"]), token))
    assert core.run(core.store.count_certificates()) == 0
    jti = CompactJWS(token).claims()["jti"]
    assert not core.run(core.store.token_used(jti)), "a refused request does not spend its token"
    assert core.run(core.authority.sign(csr_for("svc.example.com", ["svc.example.com"]), token))


def test_ssh_shares_the_services(core: Core) -> None:
    ssh = core.authority.ssh
    assert ssh is not None and ssh.services is core.authority.services
    signer = signer_for(core.pki)
    token = signer.token(
        "bob@example.com", endpoint="ssh/sign", sans=None, **ssh_step_claim("bob@example.com", host=False)
    )
    issued = core.run(
        ssh.sign(SSHSignRequest(public_key=key_blob(ec.generate_private_key(ec.SECP256R1())), ott=token))
    )
    assert issued.certificate.valid_principals == [b"bob", b"bob@example.com"]  # type: ignore[attr-defined]
    assert core.run(core.store.get_certificate(str(issued.serial), "ssh")) is not None  # type: ignore[attr-defined]


def test_a_checked_configuration_never_reaches_a_database(core: Core) -> None:
    loaded = load(core.pki.ca_json, Secrets(password_file=str(core.pki.password_file)))
    checked: Authority = build_authority(loaded, None, start_time=0)
    with pytest.raises(StoreUnavailable, match="only being checked"):
        checked.store.health()


# ------------------------------------------------------------------ name rules (pure)


def _csr(subject: str, sans: list[str]) -> x509.CertificateSigningRequest:
    return x509.load_pem_x509_csr(csr_for(subject, sans).encode())


def test_fixed_names_are_checked_then_all_given() -> None:
    token_sans = ("alice@example.com", "https://op.example#alice")
    san = authorize_names(_csr("alice", ["alice@example.com"]), "alice", token_sans, fixed=True)
    assert san is not None and [n.value for n in san] == ["alice@example.com", "https://op.example#alice"]
    with pytest.raises(Forbidden, match=r"evil\.example"):
        authorize_names(_csr("alice", ["evil.example"]), "alice", token_sans, fixed=True)
    # without `fixed`, the certificate gets what the CSR asked for
    san = authorize_names(_csr("alice", ["alice@example.com"]), "alice", token_sans)
    assert san is not None and [n.value for n in san] == ["alice@example.com"]


def test_request_names_are_the_csr_s() -> None:
    cn, san = request_names(_csr("build", ["build.internal", "10.1.2.3"]), "admin")
    assert cn == "build" and san is not None and [str(n.value) for n in san] == ["build.internal", "10.1.2.3"]
    builder = x509.CertificateSigningRequestBuilder().subject_name(x509.Name([]))
    from cryptography.hazmat.primitives import hashes

    empty = builder.sign(ec.generate_private_key(ec.SECP256R1()), hashes.SHA256())
    assert request_names(empty, "admin") == ("admin", None)
