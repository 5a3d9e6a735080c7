"""The CRL and KRL builders on their own (no server): what goes into an entry and a section."""

from __future__ import annotations

import time
from datetime import datetime, timedelta

from cryptography import x509
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
    assert second[0] is first[1]  # the same object: not made again
    assert second[-1].serial_number == 500
    assert len(cache) == 99  # forgotten once no longer listed


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


def test_fast_lines_equal_the_builders() -> None:
    """Lines written as DER and parsed by cryptography (the common case) make the same signed
    CRL bytes as one RevokedCertificateBuilder per line, on many random entries."""
    import random

    from cryptography.hazmat.primitives import serialization

    from stepca.crypto.keys import signature_hash
    from stepca.revocation.crl import _make_entries, _revoked

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
        invalidity = rnd.choice((0, 0, 0, now - 5))
        entries.append((serial, RevokedEntry(str(serial), revoked_at, code, invalidity, 0)))
    fast = _make_entries(entries)
    slow = {serial: _revoked(serial, e, {}) for serial, e in entries}
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([])

    def tbs(lines: dict[int, x509.RevokedCertificate]) -> bytes:
        crl = x509.CertificateRevocationListBuilder(
            name,
            datetime(2025, 1, 1),
            datetime(2025, 1, 2),
            [],
            [lines[serial] for serial, _ in entries],
        ).sign(key, signature_hash(key))  # type: ignore[arg-type]
        return x509.load_der_x509_crl(crl.public_bytes(serialization.Encoding.DER)).tbs_certlist_bytes

    assert tbs(fast) == tbs(slow)
