"""Revocation checks a relying party makes: is this certificate on its issuer's CRL (and the
delta CRL the CRL points to), and what does the issuer's OCSP responder say. Used by
``step certificate verify --verify-crl / --verify-ocsp``.

Both fetch over HTTP or HTTPS (HTTPS verified against the roots given), check the signature
with the issuer's key (or, for OCSP, a delegated responder certificate the issuer signed for
id-kp-OCSPSigning), check the times, and return a ``Verdict``; anything that prevents a verdict
(no URL, an unreachable server, a bad signature) raises ``RevocationCheckError`` with one line
that says why.
"""

from __future__ import annotations

import secrets
import ssl
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding, rsa
from cryptography.x509 import ocsp
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID

TIMEOUT = 15.0
#: clock skew allowed on thisUpdate / nextUpdate (as OpenSSL's default -validity_period)
SKEW = timedelta(minutes=5)
#: a CRL or OCSP response is a few KiB; a CRL of a large CA some MiB
MAX_SIZE = 64 * 1024 * 1024


#: RFC 6960 4.2.1's names of the unsuccessful answers
_STATUS_NAMES = {
    ocsp.OCSPResponseStatus.MALFORMED_REQUEST: "malformedRequest",
    ocsp.OCSPResponseStatus.INTERNAL_ERROR: "internalError",
    ocsp.OCSPResponseStatus.TRY_LATER: "tryLater",
    ocsp.OCSPResponseStatus.SIG_REQUIRED: "sigRequired",
    ocsp.OCSPResponseStatus.UNAUTHORIZED: "unauthorized",
}


class RevocationCheckError(Exception):
    """No verdict could be reached (the one-line reason is the message)."""


@dataclass(frozen=True)
class Verdict:
    method: str  # "CRL" | "OCSP"
    url: str
    #: good | revoked | unknown
    status: str
    revoked_at: datetime | None = None
    reason: str | None = None

    def describe(self) -> str:
        if self.status == "revoked":
            when = self.revoked_at.strftime("%Y-%m-%dT%H:%M:%SZ") if self.revoked_at else "unknown time"
            why = f", reason {self.reason}" if self.reason else ""
            return f"{self.method} {self.url}: revoked at {when}{why}"
        if self.status == "unknown":
            return f"{self.method} {self.url}: unknown (the responder does not know this certificate)"
        return f"{self.method} {self.url}: not revoked"


def _context(roots: list[x509.Certificate]) -> ssl.SSLContext:
    pems = "".join(c.public_bytes(serialization.Encoding.PEM).decode() for c in roots)
    ctx = ssl.create_default_context()
    if pems:
        ctx.load_verify_locations(cadata=pems)
    return ctx


def fetch(
    url: str, roots: list[x509.Certificate], *, body: bytes | None = None, content_type: str = ""
) -> bytes:
    if not url.lower().startswith(("http://", "https://")):
        raise RevocationCheckError(f"{url}: only http:// and https:// URLs can be fetched")
    headers = {"User-Agent": "stepca-cli"}
    if content_type:
        headers["Content-Type"] = content_type
    method = "POST" if body is not None else "GET"
    req = urllib.request.Request(url, data=body, headers=headers, method=method)  # noqa: S310
    try:
        with urllib.request.urlopen(req, context=_context(roots), timeout=TIMEOUT) as resp:  # noqa: S310 - checked above
            data: bytes = resp.read(MAX_SIZE + 1)
    except urllib.error.HTTPError as exc:
        raise RevocationCheckError(f"{url}: the server answered {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise RevocationCheckError(f"{url}: {reason}") from None
    if len(data) > MAX_SIZE:
        raise RevocationCheckError(f"{url}: the answer is larger than {MAX_SIZE} bytes")
    return data


def _verify_signature(
    key: object, signature: bytes, data: bytes, algorithm: hashes.HashAlgorithm | None
) -> bool:
    try:
        if isinstance(key, ec.EllipticCurvePublicKey) and algorithm is not None:
            key.verify(signature, data, ec.ECDSA(algorithm))
        elif isinstance(key, rsa.RSAPublicKey) and algorithm is not None:
            key.verify(signature, data, padding.PKCS1v15(), algorithm)
        elif isinstance(key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
            key.verify(signature, data)
        else:
            return False
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


def _uris(values: list[x509.GeneralName] | None) -> list[str]:
    return [n.value for n in values or [] if isinstance(n, x509.UniformResourceIdentifier)]


# ------------------------------------------------------------------------------------ CRL


def crl_urls(cert: x509.Certificate) -> list[str]:
    try:
        ext = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    except x509.ExtensionNotFound:
        return []
    return [u for point in ext for u in _uris(point.full_name)]


def _load_crl(url: str, data: bytes) -> x509.CertificateRevocationList:
    try:
        if data.lstrip().startswith(b"-----BEGIN"):
            return x509.load_pem_x509_crl(data)
        return x509.load_der_x509_crl(data)
    except ValueError:
        raise RevocationCheckError(f"{url}: the answer is not a CRL") from None


def _checked_crl(
    url: str, data: bytes, issuer: x509.Certificate, now: datetime
) -> x509.CertificateRevocationList:
    crl = _load_crl(url, data)
    if crl.issuer != issuer.subject:
        raise RevocationCheckError(
            f"{url}: the CRL was issued by {crl.issuer.rfc4514_string()}, not by the issuer"
        )
    if not crl.is_signature_valid(issuer.public_key()):  # type: ignore[arg-type]
        raise RevocationCheckError(f"{url}: the CRL's signature is not the issuer's")
    if crl.last_update_utc > now + SKEW:
        raise RevocationCheckError(f"{url}: the CRL is not valid yet")
    if crl.next_update_utc is not None and crl.next_update_utc < now - SKEW:
        raise RevocationCheckError(f"{url}: the CRL expired at {crl.next_update_utc:%Y-%m-%dT%H:%M:%SZ}")
    return crl


def _reason(entry: x509.RevokedCertificate) -> str | None:
    try:
        return str(entry.extensions.get_extension_for_class(x509.CRLReason).value.reason.value)
    except x509.ExtensionNotFound:
        return None


def check_crl(
    cert: x509.Certificate,
    issuer: x509.Certificate,
    roots: list[x509.Certificate],
    url: str | None = None,
    *,
    now: datetime | None = None,
) -> Verdict:
    """The certificate's status on the CRL at ``url`` (default: its CRL Distribution Point), and
    on the delta CRL that CRL names in its Freshest CRL extension, if any."""
    now = now or datetime.now(UTC)
    if url is None:
        urls = crl_urls(cert)
        if not urls:
            raise RevocationCheckError("the certificate has no CRL Distribution Point: use --crl-endpoint")
        url = urls[0]
    crl = _checked_crl(url, fetch(url, roots), issuer, now)
    lists = [crl]
    try:
        freshest = crl.extensions.get_extension_for_class(x509.FreshestCRL).value
    except x509.ExtensionNotFound:
        freshest = None
    if freshest is not None:
        for delta_url in [u for point in freshest for u in _uris(point.full_name)][:1]:
            delta = _checked_crl(delta_url, fetch(delta_url, roots), issuer, now)
            try:
                delta.extensions.get_extension_for_class(x509.DeltaCRLIndicator)
            except x509.ExtensionNotFound:
                raise RevocationCheckError(f"{delta_url}: the Freshest CRL is not a delta CRL") from None
            lists.append(delta)
    for found in lists:
        entry = found.get_revoked_certificate_by_serial_number(cert.serial_number)
        if entry is not None:
            return Verdict("CRL", url, "revoked", entry.revocation_date_utc, _reason(entry))
    return Verdict("CRL", url, "good")


# ------------------------------------------------------------------------------------ OCSP


def ocsp_urls(cert: x509.Certificate) -> list[str]:
    try:
        ext = cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    except x509.ExtensionNotFound:
        return []
    return [
        d.access_location.value
        for d in ext
        if d.access_method == AuthorityInformationAccessOID.OCSP
        and isinstance(d.access_location, x509.UniformResourceIdentifier)
    ]


def _responder(
    resp: ocsp.OCSPResponse, issuer: x509.Certificate, url: str, now: datetime
) -> x509.Certificate:
    """The certificate whose key signed ``resp``: the issuer, or a delegated responder
    certificate that the issuer signed for OCSP signing (RFC 6960 4.2.2.2)."""
    ski = x509.SubjectKeyIdentifier.from_public_key(issuer.public_key()).digest
    if resp.responder_name == issuer.subject or resp.responder_key_hash == ski:
        return issuer
    for cand in resp.certificates:
        matches = (resp.responder_name is not None and cand.subject == resp.responder_name) or (
            resp.responder_key_hash is not None
            and x509.SubjectKeyIdentifier.from_public_key(cand.public_key()).digest == resp.responder_key_hash
        )
        if not matches:
            continue
        try:
            cand.verify_directly_issued_by(issuer)
        except (ValueError, TypeError, InvalidSignature):
            raise RevocationCheckError(
                f"{url}: the responder certificate was not issued by the issuer"
            ) from None
        try:
            eku = cand.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        except x509.ExtensionNotFound:
            eku = None
        if eku is None or ExtendedKeyUsageOID.OCSP_SIGNING not in eku:
            raise RevocationCheckError(f"{url}: the responder certificate is not for OCSP signing")
        if not cand.not_valid_before_utc - SKEW <= now <= cand.not_valid_after_utc + SKEW:
            raise RevocationCheckError(f"{url}: the responder certificate is not valid now")
        return cand
    raise RevocationCheckError(
        f"{url}: the response is not signed by the issuer or a responder it authorized"
    )


def check_ocsp(
    cert: x509.Certificate,
    issuer: x509.Certificate,
    roots: list[x509.Certificate],
    url: str | None = None,
    *,
    now: datetime | None = None,
) -> Verdict:
    """Ask the OCSP responder at ``url`` (default: the certificate's AIA) with a nonce."""
    now = now or datetime.now(UTC)
    if url is None:
        urls = ocsp_urls(cert)
        if not urls:
            raise RevocationCheckError("the certificate has no OCSP responder URL (AIA): use --ocsp-endpoint")
        url = urls[0]
    nonce = secrets.token_bytes(16)
    request = (
        ocsp.OCSPRequestBuilder()
        .add_certificate(cert, issuer, hashes.SHA1())  # noqa: S303 - the CertID every responder knows
        .add_extension(x509.OCSPNonce(nonce), critical=False)
        .build()
    )
    data = fetch(
        url,
        roots,
        body=request.public_bytes(serialization.Encoding.DER),
        content_type="application/ocsp-request",
    )
    try:
        resp = ocsp.load_der_ocsp_response(data)
    except ValueError:
        raise RevocationCheckError(f"{url}: the answer is not an OCSP response") from None
    if resp.response_status != ocsp.OCSPResponseStatus.SUCCESSFUL:
        name = _STATUS_NAMES.get(resp.response_status, str(resp.response_status.value))
        raise RevocationCheckError(f"{url}: the responder answered {name}")
    signer = _responder(resp, issuer, url, now)
    if not _verify_signature(
        signer.public_key(), resp.signature, resp.tbs_response_bytes, resp.signature_hash_algorithm
    ):
        raise RevocationCheckError(f"{url}: the response's signature is not valid")
    if resp.serial_number != cert.serial_number:
        raise RevocationCheckError(f"{url}: the response is about another certificate")
    for ext in resp.extensions:
        if isinstance(ext.value, x509.OCSPNonce) and ext.value.nonce != nonce:
            raise RevocationCheckError(f"{url}: the response does not echo our nonce (a replay?)")
    if resp.this_update_utc > now + SKEW:
        raise RevocationCheckError(f"{url}: the response is not valid yet")
    if resp.next_update_utc is not None and resp.next_update_utc < now - SKEW:
        raise RevocationCheckError(
            f"{url}: the response expired at {resp.next_update_utc:%Y-%m-%dT%H:%M:%SZ}"
        )
    status = resp.certificate_status
    if status == ocsp.OCSPCertStatus.REVOKED:
        reason = str(resp.revocation_reason.value) if resp.revocation_reason is not None else None
        return Verdict("OCSP", url, "revoked", resp.revocation_time_utc, reason)
    if status == ocsp.OCSPCertStatus.UNKNOWN:
        return Verdict("OCSP", url, "unknown")
    return Verdict("OCSP", url, "good")


__all__ = ["RevocationCheckError", "Verdict", "check_crl", "check_ocsp", "crl_urls", "fetch", "ocsp_urls"]
