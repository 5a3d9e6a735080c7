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

from stepca.crypto import der
from stepca.crypto.keys import PrivateKey, sign_bytes, signature_hash
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


#: one immutable reason-code extension per code (the builder's form of an entry's reason)
_REASON_EXTENSIONS = {code: _extension(x509.CRLReason(flag)) for code, flag in _REASONS.items()}
#: the same as DER: Extension { id-ce-cRLReasons, OCTET STRING { ENUMERATED code } }
_REASON_EXT_DER = {code: b"\x30\x0a\x06\x03\x55\x1d\x15\x04\x03\x0a\x01" + bytes([code]) for code in _REASONS}
#: id-ce-invalidityDate (RFC 5280 5.3.2)
_INVALIDITY_OID = b"\x06\x03\x55\x1d\x18"
#: days since 1970 that RFC 5280 writes as UTCTime (1950-2049); others as GeneralizedTime
_UTC_TIME_DAYS = ((datetime(1950, 1, 1) - _EPOCH).days, (datetime(2050, 1, 1) - _EPOCH).days)


def _time_der(ts: int, days: dict[int, bytes]) -> bytes:
    """A revocation time as RFC 5280 4.1.2.5 writes it: UTCTime before 2050, else
    GeneralizedTime (``days`` caches the date part: most revocations share a few days)."""
    day, rest = divmod(ts, 86400)
    hour, rest = divmod(rest, 3600)
    minute, second = divmod(rest, 60)
    prefix = days.get(day)
    if prefix is None:
        date = _EPOCH + timedelta(days=day)
        if _UTC_TIME_DAYS[0] <= day < _UTC_TIME_DAYS[1]:
            prefix = b"\x17\x0d" + date.strftime("%y%m%d").encode()
        else:
            prefix = b"\x18\x0f" + f"{date.year:04d}{date.month:02d}{date.day:02d}".encode()
        days[day] = prefix
    return b"%s%02d%02d%02dZ" % (prefix, hour, minute, second)


def entry_der(serial: int, e: RevokedEntry, days: dict[int, bytes] | None = None) -> bytes:
    """One revokedCertificates entry (RFC 5280 5.1): SEQUENCE { userCertificate INTEGER,
    revocationDate Time, crlEntryExtensions { reason code unless unspecified, invalidity date
    when given } }, byte for byte as cryptography's RevokedCertificateBuilder writes it
    (tests/revocation/test_builders.py compares the two on thousands of random entries)."""
    days = {} if days is None else days
    raw = serial.to_bytes((serial.bit_length() + 8) // 8, "big")  # DER INTEGER, positive
    exts = []
    reason = _REASON_EXT_DER.get(e.reason_code)
    if reason is not None:
        exts.append(reason)
    if e.invalidity_date:
        value = x509.InvalidityDate(_utc(e.invalidity_date)).public_bytes()
        exts.append(der.sequence(_INVALIDITY_OID, der.tlv(der.OCTET_STRING, value)))
    body = der.tlv(der.INTEGER, raw) + _time_der(e.revoked_at, days)
    if exts:
        body += der.sequence(*exts)
    return der.sequence(body)


class EntryCache:
    """The DER of revoked-certificate entries kept between builds in one process: most lines of
    the next CRL are the lines of the last one.

    Keyed by serial: a revocation is recorded once and never changes (the serial is the key of
    its row), so the line made for a serial stays right while the serial is listed. A new worker
    ``seed``s the cache from the complete CRL already published (slicing its entries out is
    cheaper than writing them again)."""

    def __init__(self) -> None:
        self._items: dict[int, bytes] = {}

    def __len__(self) -> int:
        return len(self._items)

    def seed(self, crl_der: bytes) -> None:
        """Take the lines of a published CRL (made by this code: its tag matched)."""
        self._items = dict(_entries_of(crl_der))

    def build(self, entries: Sequence[RevokedEntry]) -> list[bytes]:
        old = self._items
        new: dict[int, bytes] = {}
        out: list[bytes] = []
        days: dict[int, bytes] = {}
        for e in entries:
            try:
                serial = int(e.serial)
            except ValueError:
                continue
            if not 0 < serial < _MAX_SERIAL:
                continue  # no certificate can carry it
            line = old.get(serial)
            if line is None:
                line = entry_der(serial, e, days)
            new[serial] = line
            out.append(line)
        self._items = new
        return out


def _tbs_items(crl_der: bytes) -> list[bytes]:
    """The TLVs of a CertificateList's TBSCertList, whole."""
    items = der.read_sequence(crl_der)
    tbs = der.tlv(items[0][0], items[0][1])
    body = der.read_tlv(tbs)[1]
    out, pos = [], 0
    while pos < len(body):
        start = pos
        _, _, pos = der.read_tlv(body, pos)
        out.append(body[start:pos])
    return out


def _entries_of(crl_der: bytes) -> list[tuple[int, bytes]]:
    """(serial, entry DER) of each revokedCertificates entry of a CRL."""
    for item in _tbs_items(crl_der)[4:]:
        if item[0] == der.SEQUENCE:  # revokedCertificates: the SEQUENCE after the times
            body = der.read_tlv(item)[1]
            out, pos = [], 0
            while pos < len(body):
                start = pos
                _, value, pos = der.read_tlv(body, pos)
                _, serial_raw, _ = der.read_tlv(value)
                out.append((der.read_integer(serial_raw), body[start:pos]))
            return out
    return []


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
    lines = (cache or EntryCache()).build(entries)
    # cryptography makes and signs the CRL without entries (the version, algorithm, issuer,
    # times and extensions, exactly as RFC 5280 lays them out); the entries, written as DER
    # (``entry_der``), go in after the times, and the TBSCertList is signed again. One
    # RevokedCertificate object per line would cost most of the build at 100,000 entries.
    skeleton = x509.CertificateRevocationListBuilder(
        s.issuer.subject,
        _utc(now),
        _utc(next_update),
        [x509.Extension(v.oid, v.oid in critical, v) for v in exts],
        [],
    ).sign(s.key, signature_hash(s.key))
    skeleton_der = skeleton.public_bytes(serialization.Encoding.DER)
    if not lines:
        return BuiltCRL(skeleton_der, now, next_update, refresh_at)
    items = _tbs_items(skeleton_der)
    times_end = 5  # version, signature, issuer, thisUpdate, nextUpdate
    tbs = der.tlv(
        der.SEQUENCE,
        b"".join([*items[:times_end], der.tlv(der.SEQUENCE, b"".join(lines)), *items[times_end:]]),
    )
    algorithm = der.read_sequence(skeleton_der)[1]
    signature = sign_bytes(s.key, tbs)
    crl_der = der.sequence(tbs, der.tlv(algorithm[0], algorithm[1]), der.tlv(0x03, b"\x00" + signature))
    return BuiltCRL(crl_der, now, next_update, refresh_at)


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
