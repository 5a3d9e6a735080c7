"""The Authority: one configuration's CA, with its keys, provisioners, issuer and store.

Built once per configuration load (start-up and each SIGHUP); requests hold a reference to the
instance they started with, so a reload swaps one reference and drops nothing.
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding

from stepca.authority.claims import EffectiveClaims, x509_validity
from stepca.authority.issuance import Issuance, Issued
from stepca.authority.names import authorize_names, request_names
from stepca.authority.services import Services
from stepca.authority.timeparse import check_not_too_old, parse_time_duration
from stepca.authority.x509_issuer import LeafRequest, X509Issuer
from stepca.config import CAConfig
from stepca.crypto.keys import PrivateKey, key_kind
from stepca.crypto.pem import sha256_fingerprint
from stepca.db.operations import RevokeOp, UseTokenOp
from stepca.db.records import RevocationRecord, TokenReusedError, UsedToken
from stepca.errors import BadRequest, Forbidden, NotFound, NotImplementedByCA, Unauthorized
from stepca.provisioner.base import ParsedToken, Provisioner
from stepca.provisioner.registry import ProvisionerRegistry
from stepca.reasons import check_reason_code
from stepca.revocation.crl import revocation_extensions
from stepca.revocation.ocsp import ocsp_extensions

if TYPE_CHECKING:
    from pathlib import Path

    from stepca.authority.ssh_issuer import SSHAuthority, SSHSource
    from stepca.db.store import Store

log = logging.getLogger("stepca.authority")

ENDPOINTS = ("sign", "renew", "rekey", "revoke", "ssh/sign", "ssh/renew", "ssh/rekey", "ssh/revoke")


def build_audiences(dns_names: list[str]) -> dict[str, frozenset[str]]:
    """Token audiences the CA accepts per endpoint, as ``audience_key`` forms: every dnsName,
    any port (like smallstep, so a CA behind a load balancer on another port accepts its tokens),
    with or without the /1.0 prefix."""
    hosts = {(f"[{n}]" if ":" in n and not n.startswith("[") else n).lower() for n in dns_names}
    return {ep: frozenset(f"{h}{prefix}{ep}" for h in hosts for prefix in ("/1.0/", "/")) for ep in ENDPOINTS}


def serial_str(serial: int) -> str:
    return str(serial)


class Authority:
    def __init__(
        self,
        *,
        config: CAConfig,
        raw_config: dict[str, Any],
        roots: list[x509.Certificate],
        federated_roots: list[x509.Certificate],
        intermediate: x509.Certificate,
        intermediate_key: PrivateKey,
        store: Store | None,
        start_time: float,
        ssh_source: SSHSource | None = None,
        step_path: Path | None = None,
    ) -> None:
        self.config = config
        self.raw_config = raw_config
        self.start_time = start_time
        self.roots = roots
        self.root_pems = [r.public_bytes(serialization.Encoding.PEM).decode() for r in roots]
        self.federated_pems = self.root_pems + [
            r.public_bytes(serialization.Encoding.PEM).decode() for r in federated_roots
        ]
        self.root_by_sha = {
            sha256_fingerprint(r.public_bytes(serialization.Encoding.DER)): pem
            for r, pem in zip(roots, self.root_pems, strict=True)
        }
        base_claims = EffectiveClaims().merged(config.authority.claims)
        if config.authority.disable_issued_at_check:
            base_claims = replace(base_claims, disable_issued_at_check=True)
        base_claims.check_consistent("authority")
        self.claims = base_claims
        raw_provs = list((raw_config.get("authority") or {}).get("provisioners") or [])
        self.provisioners = ProvisionerRegistry(
            config.authority.provisioners, raw_provs, base_claims, base=step_path
        )
        self.audiences = build_audiences(config.dns_names)
        self.backdate = config.authority.backdate
        self.tls_options = _tls_options(raw_config)
        self.services = Services(
            provisioners=self.provisioners, audiences=self.audiences, start_time=start_time, store=store
        )
        issuer = X509Issuer(
            intermediate,
            intermediate_key,
            config.authority.template,
            # the CRL Distribution Point and the OCSP responder's Authority Information Access
            extra_extensions=revocation_extensions(config) + ocsp_extensions(config),
        )
        self.issuance = Issuance(issuer, self.services)
        self.issuer = self.issuance.issuer
        self.chain_pems: tuple[str, ...] = self.issuance.chain_pems
        self.token_context = self.services.token_context
        self.provisioner_for = self.services.provisioner_for
        self.record = self.services.record
        self.ssh: SSHAuthority | None = None
        if ssh_source is not None:
            from stepca.authority.ssh_issuer import SSHAuthority

            self.ssh = SSHAuthority(ssh_source, self.services)

    @property
    def store(self) -> Store:
        return self.services.store

    # ------------------------------------------------------------------ sign

    async def sign(
        self, csr_pem: object, ott: str, not_before: object = None, not_after: object = None
    ) -> Issued:
        csr, csr_key = load_csr(csr_pem)
        now_ts = time.time()
        tok = ParsedToken.parse(ott)
        provisioner = await self.provisioner_for(tok)
        opts = provisioner.authorize_sign(tok, self.token_context("sign", now_ts))
        now = datetime.fromtimestamp(int(now_ts), UTC)
        if opts.names == "request":
            common_name, sans = request_names(csr, opts.subject)
        else:
            common_name = opts.subject
            sans = authorize_names(csr, opts.subject, opts.sans, fixed=opts.names == "fixed")
        nb, na = x509_validity(
            provisioner.claims,
            now,
            _requested(not_before, now, "notBefore"),
            _requested(not_after, now, "notAfter"),
            self.backdate,
        )
        leaf = LeafRequest(
            public_key=check_key_policy(csr_key),
            common_name=common_name,
            sans=sans,
            not_before=nb,
            not_after=na,
            provisioner_extension=provisioner.extension_der(),
        )
        if provisioner.x509_template is not None:
            made = provisioner.x509_template.render(
                subject=opts.subject, sans=opts.sans, token=tok.claims, csr=csr, csr_key=csr_key
            )
            leaf = replace(
                leaf,
                common_name="",
                subject=made.subject,
                sans=made.sans,
                templated=True,
                key_usage=made.key_usage,
                ext_key_usage=made.ext_key_usage,
            )
        return await self.issuance.issue(
            leaf,
            provisioner=provisioner,
            subject=opts.subject,
            origin="sign",
            token=UsedToken(opts.token_id, provisioner.id, opts.token_expires),
        )

    # ------------------------------------------------------------------ renew / rekey

    async def _check_renewable(self, cert: x509.Certificate, *, allow_expired: bool = False) -> Provisioner:
        serial = serial_str(cert.serial_number)
        if not _issued_by(cert, self.issuer.cert):
            raise Unauthorized("the certificate was not issued by this certificate authority")
        known, revoked = await self.store.get_certificate_status(serial)
        if known is None:
            raise Unauthorized(
                f"certificate with serial number {serial} is unknown to this certificate authority"
            )
        if revoked:
            raise Unauthorized(f"certificate with serial number {serial} has been revoked")
        provisioner = self.provisioners.for_certificate(cert)
        if provisioner is None:
            raise Unauthorized("the provisioner of the certificate no longer exists")
        now = datetime.now(UTC)
        expired = now > cert.not_valid_after_utc
        if expired and not (allow_expired and provisioner.claims.allow_renewal_after_expiry):
            raise Unauthorized("the certificate has expired")
        if now < cert.not_valid_before_utc - self.backdate:
            raise Unauthorized("the certificate is not yet valid")
        provisioner.authorize_renew(cert)
        return provisioner

    async def renew(self, cert: x509.Certificate, *, allow_expired: bool = False) -> Issued:
        provisioner = await self._check_renewable(cert, allow_expired=allow_expired)
        return await self._reissue(cert, provisioner, cert.public_key(), "renew")

    async def rekey(self, cert: x509.Certificate, csr_pem: object) -> Issued:
        _, csr_key = load_csr(csr_pem)
        provisioner = await self._check_renewable(cert)
        return await self._reissue(cert, provisioner, csr_key, "rekey")

    async def _reissue(
        self, old: x509.Certificate, provisioner: Provisioner, public_key: Any, origin: str
    ) -> Issued:
        lifetime = old.not_valid_after_utc - old.not_valid_before_utc
        nb = datetime.fromtimestamp(int(time.time()), UTC) - self.backdate
        return await self.issuance.issue(
            LeafRequest(
                public_key=check_key_policy(public_key),
                common_name="",
                subject=old.subject,
                sans=None,
                not_before=nb,
                not_after=nb + lifetime,
                provisioner_extension=provisioner.extension_der(),
                copied_extensions=tuple(old.extensions),
            ),
            provisioner=provisioner,
            subject=_cn(old),
            origin=origin,
            credential=f"cert:{serial_str(old.serial_number)}",
            names=_san_names(old),
        )

    async def renew_with_token(self, ott: str) -> Issued:
        """Renew through an x5c token (``Authorization: Bearer``): works after expiry when the
        provisioner allows it (Python's TLS refuses expired client certificates)."""
        from stepca.authority.renew_token import verify_renew_token

        tok = ParsedToken.parse(ott)
        cert = verify_renew_token(tok, self.issuer.cert, self.token_context("renew"))
        provisioner = await self._check_renewable(cert, allow_expired=True)
        outcome = await self.store.apply(UseTokenOp(UsedToken(tok.token_id, provisioner.id, tok.expires_at)))
        if isinstance(outcome, TokenReusedError):
            raise Unauthorized("token already used")
        return await self._reissue(cert, provisioner, cert.public_key(), "renew")

    # ------------------------------------------------------------------ revoke

    async def revoke(
        self,
        *,
        serial: str,
        ott: str,
        mtls_cert: x509.Certificate | None,
        reason_code: int,
        reason: str,
        passive: bool,
        invalidity_date: int = 0,
        admin: str = "",
    ) -> None:
        """``admin``: the subject of an admin the caller already authorized (the dashboard's
        session, ``stepca.web``): no token or client certificate; recorded (revocation and
        audit line) with provisioner ``admin:<subject>``, credential ``dashboard``. Every other
        check applies."""
        if not passive:
            raise NotImplementedByCA("revoke: active revocation is not implemented; use passive revocation")
        reason_code = int(check_reason_code(reason_code))
        serial = normalize_serial(serial)
        now = int(time.time())
        if invalidity_date > now + 60:
            raise BadRequest("invalidityDate cannot be in the future")
        token: UsedToken | None = None
        provisioner_id = provisioner_name = ""
        if ott:
            tok = ParsedToken.parse(ott)
            provisioner = await self.provisioner_for(tok)
            opts = provisioner.authorize_revoke(tok, self.token_context("revoke"))
            if not opts.any_serial and normalize_serial(opts.serial) != serial:
                raise Unauthorized("token subject does not match the serial number to revoke")
            token = UsedToken(opts.token_id, provisioner.id, opts.token_expires)
            provisioner_id, provisioner_name = provisioner.id, provisioner.name
        elif admin:
            provisioner_id = provisioner_name = f"admin:{admin}"[:255]
        elif mtls_cert is not None:
            if serial_str(mtls_cert.serial_number) != serial:
                raise Unauthorized(
                    "the client certificate serial number does not match the serial number to revoke"
                )
            if not _issued_by(mtls_cert, self.issuer.cert):
                raise Unauthorized("the client certificate was not issued by this certificate authority")
            p = self.provisioners.for_certificate(mtls_cert)
            provisioner_id, provisioner_name = (p.id, p.name) if p else ("", "")
        else:
            raise Unauthorized("revoke requires a token or a client certificate")
        record = await self.store.get_certificate(serial)
        await self.record(
            RevokeOp(
                RevocationRecord(
                    serial=serial,
                    reason_code=reason_code,
                    reason=reason,
                    revoked_at=now,
                    provisioner=provisioner_id,
                    token_id=token.token_id if token else "",
                    mtls=mtls_cert is not None and not ott,
                    not_after=record.not_after if record else 0,
                    invalidity_date=max(0, invalidity_date),
                ),
                token=token,
                audit=self.services.audit(
                    "revoke",
                    "x509",
                    serial,
                    record.subject if record else "",
                    (),
                    provisioner_name,
                    token,
                    f"cert:{serial}" if mtls_cert is not None and not ott else ("dashboard" if admin else ""),
                ),
            )
        )

    # ------------------------------------------------------------------ read-only

    def root(self, sha: str) -> str:
        pem = self.root_by_sha.get(sha.lower().replace(":", ""))
        if pem is None:
            raise NotFound(f"root with fingerprint {sha} was not found")
        return pem

    def encrypted_key(self, kid: str) -> str:
        p = self.provisioners.by_kid(kid)
        key = getattr(getattr(p, "jwk_config", None), "encrypted_key", None)
        if not key:
            raise NotFound(f"encrypted key for provisioner {kid} was not found")
        return str(key)


def _requested(value: object, now: datetime, field: str) -> datetime | None:
    """A requested validity bound: representable (400) and not far in the past (403)."""
    if value is None or value == "":  # not asked for: the provisioner's default (most requests)
        return None
    when = parse_time_duration(value, now, field)
    check_not_too_old(when, now, field)
    return when


def load_csr(csr_pem: object) -> tuple[x509.CertificateSigningRequest, Any]:
    """Parse a PEM CSR and check its signature; returns the CSR and its public key.

    The signature is checked with the key loaded once (``csr.is_signature_valid`` would load it
    a second time, which costs as much as the verification itself).
    """
    if not isinstance(csr_pem, str) or "CERTIFICATE REQUEST" not in csr_pem:
        raise BadRequest("invalid certificate request: not a PEM CERTIFICATE REQUEST")
    try:
        csr = x509.load_pem_x509_csr(csr_pem.encode())
        public_key = csr.public_key()
    except ValueError:
        raise BadRequest("invalid certificate request: cannot be parsed") from None
    except Exception:
        raise BadRequest("invalid certificate request: unsupported public key") from None
    if not _csr_signature_valid(csr, public_key):
        raise BadRequest("invalid certificate request: signature is not valid")
    return csr, public_key


def _csr_signature_valid(csr: x509.CertificateSigningRequest, key: Any) -> bool:
    kind = key_kind(key)
    try:
        params = csr.signature_algorithm_parameters
        if kind == "ec" and type(params) is ec.ECDSA:
            key.verify(csr.signature, csr.tbs_certrequest_bytes, params)
        elif kind == "rsa" and isinstance(params, padding.PKCS1v15 | padding.PSS):
            key.verify(csr.signature, csr.tbs_certrequest_bytes, params, csr.signature_hash_algorithm)
        elif kind == "ed25519" and params is None:
            key.verify(csr.signature, csr.tbs_certrequest_bytes)
        else:
            return False
    except (InvalidSignature, ValueError, TypeError):
        return False
    except Exception:
        return False
    return True


def check_key_policy(key: Any) -> Any:
    """Keys a certificate may carry: EC P-256/P-384/P-521, RSA of at least 2048 bits, Ed25519."""
    kind = key_kind(key)
    if kind == "ec":
        if key.curve.name not in ("secp256r1", "secp384r1", "secp521r1"):
            raise Forbidden(f"unsupported elliptic curve {key.curve.name}")
        return key
    if kind == "rsa":
        if key.key_size < 2048:
            raise Forbidden(f"RSA keys must be at least 2048 bits, got {key.key_size}")
        return key
    if kind == "ed25519":
        return key
    raise Forbidden(f"unsupported public key type {type(key).__name__}")


def normalize_serial(serial: str) -> str:
    """Serials are decimal; step also accepts hex with a 0x prefix or colon-separated hex."""
    s = str(serial).strip()
    try:
        if s.lower().startswith("0x"):
            return str(int(s[2:], 16))
        if ":" in s:
            return str(int(s.replace(":", ""), 16))
        return str(int(s, 10))
    except ValueError:
        raise BadRequest("invalid serial number: expected decimal, 0x hex or colon-separated hex") from None


def _cn(cert: x509.Certificate) -> str:
    from cryptography.x509.oid import NameOID

    attrs = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(attrs[0].value) if attrs else ""


def _issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    if cert.issuer != issuer.subject:
        return False
    try:
        cert.verify_directly_issued_by(issuer)
    except Exception:
        return False
    return True


def _tls_options(raw: dict[str, Any]) -> dict[str, Any] | None:
    tls = raw.get("tls")
    return dict(tls) if isinstance(tls, dict) else None


__all__ = ["Authority", "Forbidden", "Issued", "build_audiences", "load_csr", "normalize_serial"]


def _san_names(cert: x509.Certificate) -> tuple[str, ...]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return ()
    return tuple(str(n.value) for n in san)
