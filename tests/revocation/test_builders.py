"""The CRL and KRL builders on their own (no server): what goes into an entry and a section."""

from __future__ import annotations

import time
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import SSHCertificateBuilder, SSHCertificateType

from stepca.config import parse_ca_config
from stepca.crypto.keys import generate_private_key
from stepca.crypto.sshcert import certificate_blob, key_blob
from stepca.crypto.x509build import build_ca_certificate, ca_name
from stepca.db.records import RevokedEntry, SSHRevokedEntry
from stepca.revocation.crl import EntryCache, build_crl, crl_settings
from stepca.revocation.krl import group_by_ca

CFG = {"root": "r", "crt": "c", "key": "k", "address": ":443", "dnsNames": ["ca.example.com"]}


def _settings(**crl: object):  # type: ignore[no-untyped-def]
    key = generate_private_key("EC", "P-256", None)
    name = ca_name("Unit", "Unit Intermediate CA")
    cert = build_ca_certificate(
        subject=name, public_key=key.public_key(), issuer=name, issuer_key=key, path_length=0
    )
    s = crl_settings(parse_ca_config({**CFG, "crl": {"enabled": True, **crl}}), cert, key)
    assert s is not None
    return s


def test_entries() -> None:
    s = _settings(cacheDuration="2h", renewPeriod="30m")
    now = int(time.time())
    entries = [
        RevokedEntry("10", now - 60, 0, 0, now + 3600),  # unspecified: no extension
        RevokedEntry("11", now - 60, 1, now - 7200, now + 600),  # keyCompromise + invalidity date
        RevokedEntry("12", now - 60, 8, 0, 0),  # removeFromCRL makes no sense in a base: no reason
        RevokedEntry(str(1 << 160), now, 1, 0, 0),  # no certificate can carry it: skipped
        RevokedEntry("0", now, 1, 0, 0),
        RevokedEntry("not-a-number", now, 1, 0, 0),
    ]
    built = build_crl(s, number=7, now=now, entries=entries)
    crl = x509.load_der_x509_crl(built.der)
    assert [r.serial_number for r in crl] == [10, 11, 12]
    assert len(crl.get_revoked_certificate_by_serial_number(10).extensions) == 0  # type: ignore[union-attr]
    assert len(crl.get_revoked_certificate_by_serial_number(12).extensions) == 0  # type: ignore[union-attr]
    assert len(crl.get_revoked_certificate_by_serial_number(11).extensions) == 2  # type: ignore[union-attr]
    assert built.next_update - built.this_update == 7200
    assert built.refresh_at == now + 601  # the first listed certificate's expiry comes before renewal
    assert build_crl(s, number=8, now=now, entries=entries[:1]).refresh_at == now + 1800

    delta = x509.load_der_x509_crl(build_crl(s, number=9, now=now, entries=entries[:2], delta_base=7).der)
    assert delta.extensions.get_extension_for_class(x509.DeltaCRLIndicator).value.crl_number == 7
    assert delta.next_update_utc - delta.last_update_utc == timedelta(hours=1)  # type: ignore[operator]


def test_the_entry_cache_reuses_unchanged_lines() -> None:
    cache = EntryCache()
    now = int(time.time())
    entries = [RevokedEntry(str(i), now, 0, 0, 0) for i in range(1, 100)]
    first = cache.build(entries)
    second = cache.build([*entries[1:], RevokedEntry("500", now, 4, 0, 0)])
    assert second[0] is first[1]  # the same bytes object: not written again
    assert x509.load_der_x509_crl(_crl_of(second)).get_revoked_certificate_by_serial_number(500) is not None
    assert len(cache) == 99  # forgotten once no longer listed


def _crl_of(lines: list[bytes]) -> bytes:
    """A throw-away signed CRL made of these entry lines (through build_crl's own assembly)."""
    from stepca.crypto import der

    key = ec.generate_private_key(ec.SECP256R1())
    skeleton = (
        x509.CertificateRevocationListBuilder(
            x509.Name([]), datetime(2025, 1, 1), datetime(2025, 1, 2), [], []
        )
        .sign(key, hashes.SHA256())
        .public_bytes(serialization.Encoding.DER)
    )
    items = der.read_sequence(skeleton)
    tbs = der.read_sequence(der.tlv(items[0][0], items[0][1]))
    body = b"".join(der.tlv(t, v) for t, v in tbs) + der.sequence(*lines)
    return der.sequence(der.sequence(body), der.tlv(*items[1]), der.tlv(*items[2]))


def test_a_cache_seeded_from_a_published_crl_writes_the_same_lines() -> None:
    s = _settings()
    now = int(time.time())
    entries = [
        RevokedEntry(str(i * 7919), now - i, (0, 1, 4, 9)[i % 4], now - 99 if i % 5 == 0 else 0, 0)
        for i in range(1, 300)
    ]
    fresh = build_crl(s, number=3, now=now, entries=entries)
    seeded_cache = EntryCache()
    seeded_cache.seed(fresh.der)
    assert len(seeded_cache) == len(entries)
    seeded = build_crl(s, number=3, now=now, entries=entries, cache=seeded_cache)
    tbs = [x509.load_der_x509_crl(b.der).tbs_certlist_bytes for b in (fresh, seeded)]
    assert tbs[0] == tbs[1]


def test_ssh_entries_are_grouped_by_the_key_that_signed_them() -> None:
    user_ca, host_ca, subject = (ec.generate_private_key(ec.SECP256R1()) for _ in range(3))
    cert = (
        SSHCertificateBuilder()
        .public_key(subject.public_key())
        .serial(77)
        .type(SSHCertificateType.USER)
        .key_id(b"x")
        .valid_for_all_principals()  # type: ignore[no-untyped-call]
        .valid_after(0)
        .valid_before(2**40)
        .sign(host_ca)
    )
    grouped = group_by_ca(
        [SSHRevokedEntry("77", 0, certificate_blob(cert)), SSHRevokedEntry("78", 0, None)],
        [key_blob(user_ca), key_blob(host_ca)],
    )
    assert grouped == {key_blob(host_ca): [77, 78], key_blob(user_ca): [78]}  # unknown: under every CA key


def test_entry_der_equals_the_builders() -> None:
    """Entries written as DER (``entry_der``) and a CRL assembled around them (``build_crl``)
    are byte for byte what cryptography's builders make, on thousands of random entries:
    serials of every length, times before 1950 / after 2049 (GeneralizedTime), every reason,
    invalidity dates."""
    import random

    from stepca.revocation.crl import _REASON_EXTENSIONS, _entries_of, _utc, entry_der

    rnd = random.Random(13)
    now = int(time.time())
    entries = []
    seen: set[int] = set()  # a serial is revoked once (the database's key)
    for i in range(2000):
        bits = rnd.choice((1, 7, 8, 63, 64, 127, 128, 158))
        serial = rnd.getrandbits(bits) | (1 << (bits - 1))
        if serial in seen:
            continue
        seen.add(serial)
        revoked_at = rnd.choice(
            (0, 1, 86399, 86400, now, now - rnd.randint(0, 10**9), 2524607999, 2524608000 + i)
        )
        code = rnd.choice((0, 1, 2, 3, 4, 5, 6, 8, 9, 10))
        invalidity = rnd.choice((0, 0, 0, now - 5, 2524608000))
        entries.append(RevokedEntry(str(serial), revoked_at, code, invalidity, 0))

    def builder_line(e: RevokedEntry) -> x509.RevokedCertificate:
        exts = [_REASON_EXTENSIONS[e.reason_code]] if e.reason_code in _REASON_EXTENSIONS else []
        if e.invalidity_date:
            v = x509.InvalidityDate(_utc(e.invalidity_date))
            exts.append(x509.Extension(v.oid, False, v))
        return x509.RevokedCertificateBuilder(int(e.serial), _utc(e.revoked_at), exts).build()

    s = _settings()
    built = build_crl(s, number=5, now=now, entries=entries)
    ours = x509.load_der_x509_crl(built.der)
    assert ours.is_signature_valid(s.issuer.public_key())  # type: ignore[arg-type]
    reference = x509.CertificateRevocationListBuilder(
        s.issuer.subject,
        _utc(now),
        _utc(built.next_update),
        list(ours.extensions),
        [builder_line(e) for e in entries],
    ).sign(s.key, hashes.SHA256())  # type: ignore[arg-type]
    assert ours.tbs_certlist_bytes == reference.tbs_certlist_bytes
    assert [(int(e.serial), entry_der(int(e.serial), e)) for e in entries] == _entries_of(built.der)
    # an empty CRL is cryptography's own
    empty = x509.load_der_x509_crl(build_crl(s, number=6, now=now, entries=[]).der)
    assert len(empty) == 0 and empty.is_signature_valid(s.issuer.public_key())  # type: ignore[arg-type]
