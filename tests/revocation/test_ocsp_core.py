"""The OCSP responder in process, on the real SQLite store: what the live tests cannot wait for
(the delegated certificate's rotation, re-signing at half the validity, forgetting answers
nobody asks for) and the answers for a database that is away."""

from __future__ import annotations

import dataclasses
import time
from datetime import timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp

from stepca.db.operations import IssueOp, RevokeOp
from stepca.db.records import CertificateRecord, RevocationRecord
from stepca.revocation.ocsp import TRY_LATER, OCSPResponder, OCSPSettings, issuer_hashes, make_signer
from tests.authority.conftest import Core, core, core_pki  # noqa: F401 - the fixtures


def _settings(c: Core, **kw: object) -> OCSPSettings:
    issuer = c.authority.issuance.issuer
    base = OCSPSettings(
        issuer=issuer.cert,
        issuer_key=issuer.key,
        delegated=True,
        response_validity=timedelta(minutes=1),
        responder_cert_duration=timedelta(minutes=5),
        common_name="Test CA",
    )
    return dataclasses.replace(base, **kw)  # type: ignore[arg-type]


def _request(c: Core, serial: int, nonce: bytes | None = None) -> bytes:
    name_hash, key_hash = issuer_hashes(c.authority.issuance.issuer.cert)["sha1"]
    builder = ocsp.OCSPRequestBuilder().add_certificate_by_hash(name_hash, key_hash, serial, hashes.SHA1())
    if nonce:
        builder = builder.add_extension(x509.OCSPNonce(nonce), critical=False)
    return builder.build().public_bytes(serialization.Encoding.DER)


def _issue(c: Core, serial: int) -> None:
    now = int(time.time())
    record = CertificateRecord(str(serial), b"der", "prov", "cn", now, now + 3600)
    assert c.run(c.store.apply(IssueOp(record))) is None


def test_the_delegated_certificate_rotates_and_answers_move_to_it(core: Core) -> None:  # noqa: F811
    r = OCSPResponder(core.store)
    r.configure(_settings(core))
    _issue(core, 1001)
    first = ocsp.load_der_ocsp_response(core.run(r.respond(_request(core, 1001))))  # type: ignore[arg-type]
    old = r.signer
    assert old is not None and first.certificates[0].serial_number == old.cert.serial_number
    life = old.cert.not_valid_after_utc - old.cert.not_valid_before_utc
    assert life == timedelta(minutes=5, seconds=60)  # backdated a minute
    assert old.renew_at - int(time.time()) in range(190, 201)  # at 2/3 of its life

    r._signer = dataclasses.replace(old, renew_at=0)  # its renewal is due
    core.run(r.refresh())
    new = r.signer
    assert new is not None and new.cert.serial_number != old.cert.serial_number
    # the answer signed by the old certificate is still valid and still served...
    again = ocsp.load_der_ocsp_response(core.run(r.respond(_request(core, 1001))))  # type: ignore[arg-type]
    assert again.certificates[0].serial_number == old.cert.serial_number
    # ...until its re-signing is due: then the new certificate signs it
    for entry in r._cache.values():
        entry.refresh_at = 0
    core.run(r.refresh())
    resigned = ocsp.load_der_ocsp_response(core.run(r.respond(_request(core, 1001))))  # type: ignore[arg-type]
    assert resigned.certificates[0].serial_number == new.cert.serial_number
    assert resigned.certificate_status == ocsp.OCSPCertStatus.GOOD


def test_answers_nobody_asks_for_are_forgotten(core: Core) -> None:  # noqa: F811
    r = OCSPResponder(core.store)
    r.configure(_settings(core))
    _issue(core, 2002)
    core.run(r.respond(_request(core, 2002)))
    assert len(r) == 1
    for entry in r._cache.values():
        entry.refresh_at = 0
        entry.used = False  # signed, then never asked for again
    core.run(r.refresh())
    assert len(r) == 0


def test_every_response_expires_before_its_signer(core: Core) -> None:  # noqa: F811
    s = _settings(core, response_validity=timedelta(hours=1), responder_cert_duration=timedelta(hours=3))
    signer = make_signer(s, now=int(time.time()))
    r = OCSPResponder(core.store)
    r.configure(s)
    r._signer = dataclasses.replace(signer, not_after=int(time.time()) + 600)  # 10 minutes left
    _issue(core, 3003)
    resp = ocsp.load_der_ocsp_response(core.run(r.respond(_request(core, 3003))))  # type: ignore[arg-type]
    assert resp.next_update_utc is not None
    assert resp.next_update_utc.timestamp() <= time.time() + 600


def test_status_from_the_store_and_the_revocation_hook(core: Core) -> None:  # noqa: F811
    r = OCSPResponder(core.store)
    r.configure(_settings(core, delegated=False))
    _issue(core, 4004)

    def status(serial: int, nonce: bytes | None = None) -> ocsp.OCSPResponse:
        return ocsp.load_der_ocsp_response(core.run(r.respond(_request(core, serial, nonce))))  # type: ignore[arg-type]

    assert status(4004).certificate_status == ocsp.OCSPCertStatus.GOOD
    assert status(4005).certificate_status == ocsp.OCSPCertStatus.UNKNOWN
    op = RevokeOp(RevocationRecord("4004", 4, "superseded", int(time.time()) - 5))
    assert core.run(core.store.apply(op)) is None
    assert (
        status(4004).certificate_status == ocsp.OCSPCertStatus.GOOD
    )  # cached: the hook is wired by the worker
    core.run(r.on_revocation(op))
    revoked = status(4004, nonce=b"0123456789abcdef")
    assert revoked.certificate_status == ocsp.OCSPCertStatus.REVOKED
    assert revoked.revocation_reason == x509.ReasonFlags.superseded
    nonce = revoked.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce
    assert nonce == b"0123456789abcdef"
    # another worker learns it by polling
    other = OCSPResponder(core.store)
    other.configure(_settings(core, delegated=False))
    _issue(core, 4006)
    assert ocsp.load_der_ocsp_response(core.run(other.respond(_request(core, 4006)))).certificate_status == (  # type: ignore[arg-type]
        ocsp.OCSPCertStatus.GOOD
    )
    op2 = RevokeOp(RevocationRecord("4006", 1, "keyCompromise", int(time.time())))
    assert core.run(core.store.apply(op2)) is None
    core.run(other.poll())
    after = ocsp.load_der_ocsp_response(core.run(other.respond(_request(core, 4006))))  # type: ignore[arg-type]
    assert after.certificate_status == ocsp.OCSPCertStatus.REVOKED


def test_a_database_that_is_away_gets_try_later(core: Core) -> None:  # noqa: F811
    r = OCSPResponder(core.store)
    r.configure(_settings(core))
    core.store.close()
    assert core.run(r.respond(_request(core, 5005))) == TRY_LATER
