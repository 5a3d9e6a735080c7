"""The OCSP responder (RFC 6960): one per worker, answers from memory.

- **Signer**: a delegated responder certificate (``ocsp.signer: delegated``, the default) that
  the intermediate issues to a key this worker makes (id-kp-OCSPSigning, id-pkix-ocsp-nocheck,
  ``responderCertDuration``, replaced at 2/3 of its life by a worker job), or the intermediate's
  own key (``signer: intermediate``). Each worker has its own delegated certificate: nothing
  secret is shared between processes, and a client checks each response on its own.
- **Hot path**: a request is parsed with cryptography's ``ocsp`` module and its CertID checked
  against the intermediate (name and key hashes, for the hash the client chose); a request
  without a nonce is answered with the response signed earlier for the same (hash, serial): no
  signing, no SQL. The first request for a serial reads its status (two indexed reads) and signs
  once; so does every request that carries a nonce (it must be echoed, RFC 6960 4.4.1 / RFC 8954).
- **Freshness**: responses are valid ``responseValidity`` (nextUpdate) and re-signed in the
  background at half of it (``refresh``, a worker job) while clients still ask for them; unused
  ones are dropped instead. The cache holds at most ``MAX_ENTRIES`` serials.
- **Revocations**: a revocation this worker records replaces its response at once (the store's
  after-commit hook); revocations recorded by other workers or instances are read every
  ``POLL_INTERVAL`` (one indexed query on ``revocations(kind, revoked_at)``) and replace theirs,
  so every instance answers ``revoked`` within a second.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, NameOID

from stepca.crypto.der import read_sequence
from stepca.crypto.keys import PrivateKey, generate_private_key, signature_hash
from stepca.revocation.crl import _aki, _host

if TYPE_CHECKING:
    from stepca.config import CAConfig
    from stepca.db.operations import RevokeOp
    from stepca.db.store import Store

log = logging.getLogger("stepca.revocation")

#: serials whose responses a worker keeps (about 1 KiB each with a delegated certificate)
MAX_ENTRIES = 200_000
#: seconds between two reads of the revocations other workers and instances recorded
POLL_INTERVAL = 0.25
#: revocations are timed before they commit: each poll reads back this far before the last one
POLL_OVERLAP = 30
#: an ``unknown`` answer is re-checked this often (a serial may be issued later; it never is in
#: practice, serials are random, but the answer must not outlive the truth by much)
UNKNOWN_VALIDITY = 60
#: the hashes a CertID may use (RFC 6960 names SHA-1; clients also send SHA-256 and others)
CERT_ID_HASHES: tuple[hashes.HashAlgorithm, ...] = (
    hashes.SHA1(),  # noqa: S303 - names a certificate, as RFC 6960 4.1.1 says; nothing is signed with it
    hashes.SHA224(),
    hashes.SHA256(),
    hashes.SHA384(),
    hashes.SHA512(),
)
_HASHES = {alg.name: alg for alg in CERT_ID_HASHES}

_REASONS = {
    1: x509.ReasonFlags.key_compromise,
    2: x509.ReasonFlags.ca_compromise,
    3: x509.ReasonFlags.affiliation_changed,
    4: x509.ReasonFlags.superseded,
    5: x509.ReasonFlags.cessation_of_operation,
    6: x509.ReasonFlags.certificate_hold,
    9: x509.ReasonFlags.privilege_withdrawn,
    10: x509.ReasonFlags.aa_compromise,
}  # 0 (unspecified) is left out, as in the CRL (RFC 5280 5.3.1)

#: what ``stats`` counts (and ``summary`` reports): answers by status, and signatures made
STAT_NAMES = ("good", "revoked", "unknown", "malformed", "unauthorized", "signed")

_EPOCH = datetime(1970, 1, 1)  # naive UTC, as the builders take times


def _utc(ts: int) -> datetime:
    return _EPOCH + timedelta(seconds=ts)


def _unsigned(status: ocsp.OCSPResponseStatus) -> bytes:
    return ocsp.OCSPResponseBuilder.build_unsuccessful(status).public_bytes(serialization.Encoding.DER)


#: the unsigned answers (RFC 6960 4.2.1): the same bytes every time
MALFORMED = _unsigned(ocsp.OCSPResponseStatus.MALFORMED_REQUEST)
UNAUTHORIZED = _unsigned(ocsp.OCSPResponseStatus.UNAUTHORIZED)
TRY_LATER = _unsigned(ocsp.OCSPResponseStatus.TRY_LATER)
INTERNAL_ERROR = _unsigned(ocsp.OCSPResponseStatus.INTERNAL_ERROR)
#: their RFC 6960 names, for the log
UNSUCCESSFUL = {
    MALFORMED: "malformedRequest",
    UNAUTHORIZED: "unauthorized",
    TRY_LATER: "tryLater",
    INTERNAL_ERROR: "internalError",
}


def ocsp_url(config: CAConfig) -> str:
    """``ocsp.url``; else ``http://<first dnsName>[:port]/ocsp`` on ``insecureAddress`` when
    it is set (OCSP is checked over plain HTTP: a TLS client checking the CA's own certificate
    must not need the CA's TLS first), else ``https://<first dnsName>[:port]/ocsp``."""
    if config.ocsp is not None and config.ocsp.url:
        return config.ocsp.url
    host = _host(config.dns_names[0])
    if config.insecure_address:
        port = config.insecure_address.rpartition(":")[2]
        return f"http://{host}{'' if port in ('', '80') else ':' + port}/ocsp"
    port = config.address.rpartition(":")[2]
    return f"https://{host}{'' if port in ('', '443') else ':' + port}/ocsp"


def ocsp_extensions(config: CAConfig) -> tuple[x509.Extension[x509.ExtensionType], ...]:
    """The Authority Information Access issued certificates carry when the responder is on."""
    if config.ocsp is None or not config.ocsp.enabled:
        return ()
    value = x509.AuthorityInformationAccess(
        [
            x509.AccessDescription(
                AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier(ocsp_url(config))
            )
        ]
    )
    return (x509.Extension(value.oid, False, value),)


@dataclass(frozen=True)
class OCSPSettings:
    """Everything the responder depends on besides the revocations; per configuration load."""

    issuer: x509.Certificate
    issuer_key: PrivateKey
    delegated: bool
    response_validity: timedelta
    responder_cert_duration: timedelta
    common_name: str

    @property
    def tag(self) -> tuple[bytes, bool, int, int]:
        return (
            self.issuer.fingerprint(hashes.SHA256()),
            self.delegated,
            int(self.response_validity.total_seconds()),
            int(self.responder_cert_duration.total_seconds()),
        )


def ocsp_settings(config: CAConfig, issuer: x509.Certificate, key: PrivateKey) -> OCSPSettings | None:
    o = config.ocsp
    if o is None or not o.enabled:
        return None
    return OCSPSettings(
        issuer=issuer,
        issuer_key=key,
        delegated=o.signer == "delegated",
        response_validity=o.response_validity,
        responder_cert_duration=o.responder_cert_duration,
        common_name=config.common_name,
    )


def issuer_hashes(issuer: x509.Certificate) -> dict[str, tuple[bytes, bytes]]:
    """(issuerNameHash, issuerKeyHash) of ``issuer`` for every CertID hash, by hash name
    (RFC 6960 4.1.1: the hash of the issuer's DN and of its subjectPublicKey bits)."""
    spki = issuer.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    key_bits = read_sequence(spki)[1][1][1:]  # BIT STRING value without its unused-bits octet
    name = issuer.subject.public_bytes()
    out = {}
    for alg in CERT_ID_HASHES:
        h1, h2 = hashes.Hash(alg), hashes.Hash(alg)
        h1.update(name)
        h2.update(key_bits)
        out[alg.name] = (h1.finalize(), h2.finalize())
    return out


@dataclass(frozen=True)
class Signer:
    """What signs responses: the key, and the certificate named by the responder id."""

    key: PrivateKey
    cert: x509.Certificate
    #: certificates sent with each response (the delegated certificate; none for the intermediate)
    chain: tuple[x509.Certificate, ...]
    #: when a new delegated certificate is due (2/3 of its life), and when it expires
    renew_at: int
    not_after: int


def make_signer(s: OCSPSettings, now: int | None = None) -> Signer:
    if not s.delegated:
        return Signer(s.issuer_key, s.issuer, (), 1 << 62, int(s.issuer.not_valid_after_utc.timestamp()))
    now = int(time.time()) if now is None else now
    key = generate_private_key("EC", "P-256")
    life = int(s.responder_cert_duration.total_seconds())
    not_before, not_after = now - 60, now + life
    not_after = min(not_after, int(s.issuer.not_valid_after_utc.timestamp()))
    public = key.public_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{s.common_name} OCSP Responder")]))
        .issuer_name(s.issuer.subject)
        .public_key(public)
        .serial_number(int.from_bytes(secrets.token_bytes(16), "big") >> 1 | 1 << 64)
        .not_valid_before(_utc(not_before))
        .not_valid_after(_utc(not_after))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.OCSP_SIGNING]), critical=False)
        .add_extension(x509.OCSPNoCheck(), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(_aki(s.issuer), critical=False)
        .sign(s.issuer_key, signature_hash(s.issuer_key))
    )
    return Signer(key, cert, (cert,), now + life * 2 // 3, not_after)


@dataclass(frozen=True, slots=True)
class Status:
    """A serial's status as the database tells it."""

    state: ocsp.OCSPCertStatus
    revoked_at: int = 0
    reason_code: int = 0


class _Entry:
    __slots__ = ("der", "refresh_at", "signed_at", "stale_at", "status", "used")

    def __init__(self, status: Status, signed_at: int, refresh_at: int, stale_at: int) -> None:
        self.der: bytes | None = None  # the response without a nonce, once one was asked for
        self.status = status
        self.signed_at = signed_at  # its thisUpdate
        self.refresh_at = refresh_at  # re-signed in the background from then on
        self.stale_at = stale_at  # never served from then on (a minute before nextUpdate)
        self.used = False  # asked for since it was signed: worth re-signing


class OCSPResponder:
    """One per worker: outlives reloads (``configure`` swaps the settings)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.settings: OCSPSettings | None = None
        self._signer: Signer | None = None
        self._hashes: dict[str, tuple[bytes, bytes]] = {}
        self._cache: dict[tuple[str, int], _Entry] = {}
        self._pending: dict[tuple[str, int], asyncio.Future[Status]] = {}
        self._polled_to = int(time.time())
        self.stats = dict.fromkeys(STAT_NAMES, 0)
        self._reported = dict(self.stats)

    # ------------------------------------------------------------------ configuration

    @property
    def enabled(self) -> bool:
        return self.settings is not None

    def configure(self, settings: OCSPSettings | None) -> None:
        """Use these settings from now on (a new signer and an empty cache if they changed)."""
        if settings is not None and self.settings is not None and settings.tag == self.settings.tag:
            self.settings = settings
            return
        self.settings = settings
        self._cache.clear()
        self._signer = None
        self._hashes = issuer_hashes(settings.issuer) if settings is not None else {}
        if settings is not None:
            self._signer = make_signer(settings)

    @property
    def signer(self) -> Signer | None:
        return self._signer

    @property
    def cached(self) -> int:
        """How many pre-signed answers this worker holds (the dashboard shows it)."""
        return len(self._cache)

    async def served_status(self, serial: int) -> ocsp.OCSPCertStatus | None:
        """What a request for ``serial`` is answered now (a cached answer while fresh, else the
        database), without signing or counting an answer: the dashboard shows it. None: off."""
        if self.settings is None or self._signer is None:
            return None
        now = int(time.time())
        for alg in self._hashes:
            entry = self._cache.get((alg, serial))
            if entry is not None and now < entry.stale_at:
                return entry.status.state
        return (await self._read_status(serial)).state

    # ------------------------------------------------------------------ answering

    async def respond(self, body: bytes) -> bytes:
        """The DER OCSPResponse for the DER OCSPRequest ``body``; never raises."""
        s, signer = self.settings, self._signer
        if s is None or signer is None:
            return UNAUTHORIZED  # not configured: no responder for any issuer
        try:
            req = ocsp.load_der_ocsp_request(body)
            alg = req.hash_algorithm
            name_hash, key_hash, serial = req.issuer_name_hash, req.issuer_key_hash, req.serial_number
            nonce = _nonce(req)
        except Exception:  # garbage, several requests in one, an unknown hash, a bad extension
            self.stats["malformed"] += 1
            return MALFORMED
        ours = self._hashes.get(alg.name)
        if ours is None or ours != (name_hash, key_hash):
            self.stats["unauthorized"] += 1
            return UNAUTHORIZED  # RFC 6960 2.3: not a certificate this responder answers for
        key = (alg.name, serial)
        now = int(time.time())
        entry = self._cache.get(key)
        if entry is not None and now < entry.stale_at:
            entry.used = True
            self.stats[entry.status.state.name.lower()] += 1
            if nonce is None and entry.der is not None:
                return entry.der  # the hot path: signed before
        else:
            try:
                status = await self._status(key)
            except Exception as exc:
                log.warning("OCSP: could not read the status of serial %d: %s", serial, exc)
                return TRY_LATER
            self.stats[status.state.name.lower()] += 1
            entry = self._new_entry(key, status, now, signer, s)
        try:
            der = self._sign(
                signer, s, alg, name_hash, key_hash, serial, entry.status, entry.signed_at, nonce
            )
        except Exception as exc:
            log.error("OCSP: could not sign a response for serial %d: %s", serial, exc)
            return INTERNAL_ERROR
        if nonce is None:
            entry.der = der
        return der

    async def _status(self, key: tuple[str, int]) -> Status:
        """The status of a serial from the database; concurrent asks for one serial share a read."""
        fut = self._pending.get(key)
        if fut is not None:
            return await asyncio.shield(fut)
        fut = asyncio.get_running_loop().create_future()
        self._pending[key] = fut
        try:
            status = await self._read_status(key[1])
        except Exception as exc:
            fut.set_exception(exc)
            fut.exception()
            raise
        else:
            fut.set_result(status)
            return status
        finally:
            del self._pending[key]

    async def _read_status(self, serial: int) -> Status:
        revoked = await self.store.get_revocation(str(serial))
        if revoked is not None:
            return Status(ocsp.OCSPCertStatus.REVOKED, revoked.revoked_at, revoked.reason_code)
        if await self.store.get_certificate(str(serial)) is not None:
            return Status(ocsp.OCSPCertStatus.GOOD)
        return Status(ocsp.OCSPCertStatus.UNKNOWN)

    def _validity(self, s: OCSPSettings, signer: Signer, status: Status, now: int) -> tuple[int, int]:
        """(nextUpdate, refresh time) of a response signed ``now``."""
        life = (
            UNKNOWN_VALIDITY
            if status.state is ocsp.OCSPCertStatus.UNKNOWN
            else int(s.response_validity.total_seconds())
        )
        next_update = min(now + life, signer.not_after)
        return next_update, now + max(1, (next_update - now) // 2)

    def _sign(
        self,
        signer: Signer,
        s: OCSPSettings,
        alg: hashes.HashAlgorithm,
        name_hash: bytes,
        key_hash: bytes,
        serial: int,
        status: Status,
        now: int,
        nonce: bytes | None,
    ) -> bytes:
        next_update, _ = self._validity(s, signer, status, now)
        revoked = status.state is ocsp.OCSPCertStatus.REVOKED
        builder = ocsp.OCSPResponseBuilder().add_response_by_hash(
            issuer_name_hash=name_hash,
            issuer_key_hash=key_hash,
            serial_number=serial,
            algorithm=alg,
            cert_status=status.state,
            this_update=_utc(now),
            next_update=_utc(next_update),
            revocation_time=_utc(status.revoked_at) if revoked else None,
            revocation_reason=_REASONS.get(status.reason_code) if revoked else None,
        )
        builder = builder.responder_id(ocsp.OCSPResponderEncoding.HASH, signer.cert)
        if signer.chain:
            builder = builder.certificates(list(signer.chain))
        if nonce is not None:
            builder = builder.add_extension(x509.OCSPNonce(nonce), critical=False)
        response = builder.sign(signer.key, signature_hash(signer.key))
        self.stats["signed"] += 1
        return response.public_bytes(serialization.Encoding.DER)

    def _new_entry(
        self, key: tuple[str, int], status: Status, now: int, signer: Signer, s: OCSPSettings
    ) -> _Entry:
        """Cache ``status`` for ``key`` as of ``now``; its response is signed by the first
        request without a nonce (a request with one is signed for itself)."""
        next_update, refresh_at = self._validity(s, signer, status, now)
        entry = _Entry(status, now, refresh_at, next_update - min(60, (next_update - now) // 4))
        if key not in self._cache and len(self._cache) >= MAX_ENTRIES:
            self._cache.pop(next(iter(self._cache)))  # the oldest signed
        self._cache[key] = entry
        return entry

    # ------------------------------------------------------------------ background

    def forget(self, serial: int) -> None:
        """Drop what is cached for ``serial`` (under every CertID hash)."""
        for alg in CERT_ID_HASHES:
            self._cache.pop((alg.name, serial), None)

    async def on_revocation(self, op: RevokeOp) -> None:
        """The store's after-commit hook: the next request reads the new status."""
        if op.revocation.kind != "x509":
            return
        with contextlib.suppress(ValueError):
            self.forget(int(op.revocation.serial))

    async def poll(self) -> None:
        """Read the revocations recorded since the last poll (by any worker or instance) and
        drop their cached responses. The window overlaps the last one by ``POLL_OVERLAP``: a
        revocation is timed before it commits."""
        if self.settings is None or not self._cache:
            self._polled_to = int(time.time())
            return
        started = int(time.time())
        entries = await self.store.revoked_entries("x509", active_at=0, since=self._polled_to - POLL_OVERLAP)
        for e in entries:
            try:
                serial = int(e.serial)
            except ValueError:
                continue
            for alg in CERT_ID_HASHES:
                entry = self._cache.get((alg.name, serial))
                if entry is not None and entry.status.state is not ocsp.OCSPCertStatus.REVOKED:
                    del self._cache[(alg.name, serial)]
        self._polled_to = started

    async def refresh(self) -> None:
        """The worker job: a new delegated certificate when due, then re-sign the responses past
        half their validity that clients still ask for, and drop the others."""
        s, signer = self.settings, self._signer
        if s is None or signer is None:
            return
        now = int(time.time())
        if now >= signer.renew_at:
            loop = asyncio.get_running_loop()
            signer = await loop.run_in_executor(None, make_signer, s)
            if self.settings is not s:
                return  # reconfigured meanwhile
            self._signer = signer
            log.info("OCSP: new responder certificate, serial %d", signer.cert.serial_number)
        due = [(k, e) for k, e in self._cache.items() if e.refresh_at <= now]
        for i, (key, entry) in enumerate(due):
            if self._cache.get(key) is not entry:
                continue
            del self._cache[key]
            if not entry.used:
                continue  # nobody asked since it was signed: forgotten
            fresh = self._new_entry(key, entry.status, int(time.time()), signer, s)
            if entry.der is not None:
                name_hash, key_hash = self._hashes[key[0]]
                alg = _HASHES[key[0]]
                fresh.der = self._sign(
                    signer, s, alg, name_hash, key_hash, key[1], fresh.status, fresh.signed_at, None
                )
            if i % 200 == 199:
                await asyncio.sleep(0)  # let requests through

    def summary(self) -> dict[str, int] | None:
        """What was answered since the last call (None if nothing was): the worker logs it once
        a minute instead of one line per response."""
        delta = {k: v - self._reported[k] for k, v in self.stats.items()}
        self._reported = dict(self.stats)
        if not any(delta.values()):
            return None
        delta["cached"] = len(self._cache)
        return delta

    def __len__(self) -> int:
        return len(self._cache)


def _nonce(req: ocsp.OCSPRequest) -> bytes | None:
    for ext in req.extensions:
        if isinstance(ext.value, x509.OCSPNonce):
            return ext.value.nonce
    return None


__all__ = [
    "INTERNAL_ERROR",
    "MALFORMED",
    "TRY_LATER",
    "UNAUTHORIZED",
    "OCSPResponder",
    "OCSPSettings",
    "make_signer",
    "ocsp_extensions",
    "ocsp_settings",
    "ocsp_url",
]
