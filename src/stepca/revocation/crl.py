"""RFC 5280 CRLs: the URLs and extensions a configuration implies, and building complete and
delta CRLs with cryptography's ``CertificateRevocationListBuilder``.

A complete CRL carries its CRL number, the AKI of the intermediate, thisUpdate/nextUpdate, the
Freshest CRL extension pointing at the delta (5.2.6) and, when ``crl.idpURL`` is set, a critical
Issuing Distribution Point (5.2.5, only user certificates: the intermediate signs leaves). A
delta CRL carries the same AKI and IDP (OpenSSL pairs a delta with a base only when both match),
the critical Delta CRL Indicator with its base's number (5.2.4), and a number from the same
sequence. Entries: serial, revocation date, the reason code unless unspecified, the invalidity
date when one was given.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from stepca.crypto.keys import PrivateKey, signature_hash
from stepca.db.records import RevokedEntry

if TYPE_CHECKING:
    from stepca.config import CAConfig

#: a delta CRL is valid this long at most (and replaced at 2/3 of it): clients that fetch deltas
#: want fresh news; the complete CRL keeps ``cacheDuration``
DELTA_LIFETIME = timedelta(hours=1)
#: revocations this much older than the delta's base are listed again in the delta: a revocation
#: is timed before its commit, so one in flight while the base was read could otherwise be in
#: neither (duplicates of base entries are harmless)
DELTA_MARGIN = 300
#: part of every CRL's tag: bump it when the same revocations would be written differently (a
#: worker reuses the lines of a published CRL only when its tag matches)
FORMAT = "crl-1"
#: serials a CRL can carry (RFC 5280 4.1.2.2: positive, at most 20 octets)
_MAX_SERIAL = 1 << 159

_REASONS = {
    1: x509.ReasonFlags.key_compromise,
    2: x509.ReasonFlags.ca_compromise,
    3: x509.ReasonFlags.affiliation_changed,
    4: x509.ReasonFlags.superseded,
    5: x509.ReasonFlags.cessation_of_operation,
    6: x509.ReasonFlags.certificate_hold,
    9: x509.ReasonFlags.privilege_withdrawn,
    10: x509.ReasonFlags.aa_compromise,
}  # 0 (unspecified) is left out (RFC 5280 5.3.1); 8 (removeFromCRL) would un-revoke in a delta


def _host(name: str) -> str:
    return f"[{name}]" if ":" in name and not name.startswith("[") else name


def crl_url(config: CAConfig) -> str:
    """``crl.idpURL``, else ``https://<first dnsName>[:port]/1.0/crl`` (port from ``address``,
    left out when 443)."""
    if config.crl is not None and config.crl.idp_url:
        return config.crl.idp_url
    port = config.address.rpartition(":")[2]
    suffix = "" if port in ("", "443") else f":{port}"
    return f"https://{_host(config.dns_names[0])}{suffix}/1.0/crl"


def delta_url(config: CAConfig) -> str:
    """Where the delta CRL is: the CRL's URL + ``/delta``."""
    return crl_url(config).rstrip("/") + "/delta"


def _point(url: str) -> x509.DistributionPoint:
    return x509.DistributionPoint([x509.UniformResourceIdentifier(url)], None, None, None)


def revocation_extensions(config: CAConfig) -> tuple[x509.Extension[x509.ExtensionType], ...]:
    """What issued certificates carry when revocation lists are enabled: the CRL Distribution
    Point (computed once per configuration load; the issuer encodes it once)."""
    if config.crl is None or not config.crl.enabled:
        return ()
    value = x509.CRLDistributionPoints([_point(crl_url(config))])
    return (x509.Extension(value.oid, False, value),)


@dataclass(frozen=True)
class CRLSettings:
    """Everything a CRL depends on besides the revocations; built per configuration load."""

    issuer: x509.Certificate
    key: PrivateKey
    cache_duration: timedelta
    renew_after: timedelta
    generate_on_revoke: bool
    url: str
    delta_url: str
    #: the Issuing Distribution Point is written only when ``idpURL`` is configured
    with_idp: bool
    #: the numbering scope: one per issuer (name and key)
    scope: str
    #: changes whenever the lists would come out differently for the same revocations
    tag: str

    @property
    def delta_lifetime(self) -> timedelta:
        return min(self.cache_duration, DELTA_LIFETIME)


def crl_settings(config: CAConfig, issuer: x509.Certificate, key: PrivateKey) -> CRLSettings | None:
    crl = config.crl
    if crl is None or not crl.enabled:
        return None
    spki = issuer.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    scope = "x509:" + hashlib.sha256(issuer.subject.public_bytes() + spki).hexdigest()[:40]
    url, durl = crl_url(config), delta_url(config)
    shape = "|".join(
        [
            FORMAT,
            issuer.fingerprint(hashes.SHA256()).hex(),
            url,
            durl,
            str(bool(crl.idp_url)),
            str(int(crl.cache_duration.total_seconds())),
        ]
    )
    return CRLSettings(
        issuer=issuer,
        key=key,
        cache_duration=crl.cache_duration,
        renew_after=crl.renew_after,
        generate_on_revoke=crl.generate_on_revoke,
        url=url,
        delta_url=durl,
        with_idp=bool(crl.idp_url),
        scope=scope,
        tag=hashlib.sha256(shape.encode()).hexdigest()[:32],
    )


_EPOCH = datetime(1970, 1, 1)  # naive UTC, as the builders take times


def _utc(ts: int) -> datetime:
    return _EPOCH + timedelta(seconds=ts)


def _extension(value: x509.ExtensionType) -> x509.Extension[x509.ExtensionType]:
    return x509.Extension(value.oid, False, value)


#: one immutable reason-code extension per code, shared by every entry that carries it
_REASON_EXTENSIONS = {code: _extension(x509.CRLReason(flag)) for code, flag in _REASONS.items()}
#: the same, as the DER of crlEntryExtensions: SEQUENCE { Extension { id-ce-cRLReasons,
#: OCTET STRING { ENUMERATED code } } }
_REASON_DER = {
    code: b"\x30\x0c\x30\x0a\x06\x03\x55\x1d\x15\x04\x03\x0a\x01" + bytes([code]) for code in _REASONS
}
#: days since 1970 that RFC 5280 writes as UTCTime (1950-2049); others take the builder
_UTC_TIME_DAYS = ((datetime(1950, 1, 1) - _EPOCH).days, (datetime(2050, 1, 1) - _EPOCH).days)
#: ecdsa-with-SHA256: any algorithm identifier does for the throw-away list the lines are parsed from
_SKELETON_ALGORITHM = bytes.fromhex("300a06082a8648ce3d040302")


class EntryCache:
    """Revoked-certificate objects kept between builds in one process: most lines of the next
    CRL are the lines of the last one, and making one costs more than encoding it.

    Keyed by serial: a revocation is recorded once and never changes (the serial is the key of
    its row), so the line made for a serial stays right while the serial is listed. A new worker
    ``seed``s the cache from the complete CRL already published (parsing is far cheaper than
    making the lines again)."""

    def __init__(self) -> None:
        self._items: dict[int, x509.RevokedCertificate] = {}

    def __len__(self) -> int:
        return len(self._items)

    def seed(self, der: bytes) -> None:
        """Take the lines of a published CRL (made by this code: its tag matched)."""
        self._items = {rc.serial_number: rc for rc in x509.load_der_x509_crl(der)}

    def build(self, entries: Sequence[RevokedEntry]) -> list[x509.RevokedCertificate]:
        old = self._items
        serials: list[int] = []
        missing: list[tuple[int, RevokedEntry]] = []
        for e in entries:
            try:
                serial = int(e.serial)
            except ValueError:
                continue
            if not 0 < serial < _MAX_SERIAL:
                continue  # no certificate can carry it
            serials.append(serial)
            if serial not in old:
                missing.append((serial, e))
        made = _make_entries(missing)
        new: dict[int, x509.RevokedCertificate] = {}
        out: list[x509.RevokedCertificate] = []
        for serial in serials:
            rc = old.get(serial) or made[serial]
            new[serial] = rc
            out.append(rc)
        self._items = new
        return out


def _make_entries(missing: Sequence[tuple[int, RevokedEntry]]) -> dict[int, x509.RevokedCertificate]:
    """Revoked-certificate objects for new lines. The common ones (a reason code or none, a
    revocation time before 2050) are written as DER into one throw-away CertificateList and
    parsed back by cryptography, exactly as ``seed`` takes the lines of a published CRL: three
    times faster than one ``RevokedCertificateBuilder`` per line, and the same bytes in the
    signed CRL (tests/revocation/test_builders.py compares the two). The others go through the
    builder."""
    fast: list[bytes] = []
    fast_serials: list[int] = []
    out: dict[int, x509.RevokedCertificate] = {}
    times: dict[int, datetime] = {}
    days: dict[int, bytes] = {}
    for serial, e in missing:
        day, rest = divmod(e.revoked_at, 86400)
        if e.invalidity_date or not _UTC_TIME_DAYS[0] <= day < _UTC_TIME_DAYS[1]:
            out[serial] = _revoked(serial, e, times)
            continue
        prefix = days.get(day)
        if prefix is None:
            prefix = days[day] = (_EPOCH + timedelta(days=day)).strftime("%y%m%d").encode()
        hour, rest = divmod(rest, 3600)
        minute, second = divmod(rest, 60)
        raw = serial.to_bytes((serial.bit_length() + 8) // 8, "big")  # DER INTEGER, positive
        reason = _REASON_DER.get(e.reason_code, b"")
        # RevokedCertificate ::= SEQUENCE { INTEGER, UTCTime, crlEntryExtensions OPTIONAL }
        body = b"\x02%c%s\x17\x0d%s%02d%02d%02dZ%s" % (len(raw), raw, prefix, hour, minute, second, reason)
        fast.append(b"\x30%c%s" % (len(body), body))  # every part is short: one-byte lengths
        fast_serials.append(serial)
    if fast:
        from stepca.crypto import der

        tbs = der.sequence(
            der.integer(1),  # v2
            _SKELETON_ALGORITHM,
            der.sequence(),  # issuer (unused: only the entries are taken)
            b"\x17\x0d700101000000Z",
            der.sequence(*fast),
        )
        skeleton = der.sequence(tbs, _SKELETON_ALGORITHM, b"\x03\x01\x00")
        for serial, rc in zip(fast_serials, x509.load_der_x509_crl(skeleton), strict=True):
            out[serial] = rc
    return out


def _revoked(serial: int, e: RevokedEntry, times: dict[int, datetime]) -> x509.RevokedCertificate:
    reason = _REASON_EXTENSIONS.get(e.reason_code)
    exts = [reason] if reason is not None else []
    if e.invalidity_date:
        exts.append(_extension(x509.InvalidityDate(_utc(e.invalidity_date))))
    when = times.get(e.revoked_at)
    if when is None:
        when = times[e.revoked_at] = _utc(e.revoked_at)
    # the builder's constructor: its fluent setters copy the object once per call
    return x509.RevokedCertificateBuilder(serial, when, exts).build()


@dataclass(frozen=True, slots=True)
class BuiltCRL:
    der: bytes
    this_update: int
    next_update: int
    #: when the CRL job should replace it: renewal time, or the first listed certificate's expiry
    #: (an entry leaves the list once its certificate expired, under a new number)
    refresh_at: int


def build_crl(
    s: CRLSettings,
    *,
    number: int,
    now: int,
    entries: Sequence[RevokedEntry],
    cache: EntryCache | None = None,
    delta_base: int | None = None,
) -> BuiltCRL:
    """A complete CRL, or with ``delta_base`` the delta CRL over that base's number."""
    lifetime = s.delta_lifetime if delta_base is not None else s.cache_duration
    renew = lifetime * 2 / 3 if delta_base is not None else s.renew_after
    next_update = now + int(lifetime.total_seconds())
    refresh_at = now + max(1, int(renew.total_seconds()))
    expiries = [e.not_after for e in entries if e.not_after]
    if expiries:
        refresh_at = min(refresh_at, min(expiries) + 1)
    exts: list[x509.ExtensionType] = [
        x509.CRLNumber(number),
        _aki(s.issuer),
    ]
    critical: set[x509.ObjectIdentifier] = set()
    if s.with_idp:
        exts.append(
            x509.IssuingDistributionPoint(
                full_name=[x509.UniformResourceIdentifier(s.url)],
                relative_name=None,
                only_contains_user_certs=True,
                only_contains_ca_certs=False,
                only_some_reasons=None,
                indirect_crl=False,
                only_contains_attribute_certs=False,
            )
        )
        critical.add(exts[-1].oid)
    if delta_base is None:
        exts.append(x509.FreshestCRL([_point(s.delta_url)]))
    else:
        exts.append(x509.DeltaCRLIndicator(delta_base))
        critical.add(exts[-1].oid)
    revoked = (cache or EntryCache()).build(entries)
    builder = x509.CertificateRevocationListBuilder(
        s.issuer.subject,
        _utc(now),
        _utc(next_update),
        [x509.Extension(v.oid, v.oid in critical, v) for v in exts],
        revoked,
    )
    crl = builder.sign(s.key, signature_hash(s.key))
    return BuiltCRL(crl.public_bytes(serialization.Encoding.DER), now, next_update, refresh_at)


def _aki(issuer: x509.Certificate) -> x509.AuthorityKeyIdentifier:
    try:
        ski = issuer.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        return x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski)
    except x509.ExtensionNotFound:
        return x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.public_key())  # type: ignore[arg-type]


__all__ = [
    "DELTA_LIFETIME",
    "DELTA_MARGIN",
    "BuiltCRL",
    "CRLSettings",
    "EntryCache",
    "build_crl",
    "crl_settings",
    "crl_url",
    "delta_url",
    "revocation_extensions",
]
