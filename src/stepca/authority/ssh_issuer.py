"""The SSH certificate authority: user and host certificates signed with ca.json's
``ssh.userKey`` / ``ssh.hostKey``, their renewal, rekeying and revocation, and the read-only
pieces clients configure OpenSSH with (roots, configuration templates, known hosts).

Rules follow smallstep's step-ca: a JWK token's ``step.ssh`` claim fixes the certificate type,
key id, principals and validity; a request may only narrow them. Validity is checked against the
provisioner's user/host SSH claims, with the authority's backdate. Renew and rekey take an
SSHPOP token (proof of possession of a host certificate); revoke takes either.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import (
    SSHCertificate,
    SSHCertificateBuilder,
    SSHCertificateType,
)

from stepca._durations import format_duration
from stepca.authority.authority import normalize_serial
from stepca.authority.gotemplate import TemplateError
from stepca.authority.ssh_templates import SSHTemplates, load_ssh_templates
from stepca.authority.timeparse import check_not_too_old, parse_time_duration
from stepca.crypto.jose import JOSEError, key_from_jwk
from stepca.crypto.keys import PrivateKey, PublicKey
from stepca.crypto.sshcert import (
    SSHFormatError,
    blob_type,
    cert_type_name,
    certificate_blob,
    certificate_from_blob,
    key_blob,
    public_key_from_blob,
)
from stepca.crypto.sshcertenc import SSHCertEncoder
from stepca.db.operations import IssueOp, RevokeOp
from stepca.db.records import CertificateRecord, RevocationRecord, UsedToken
from stepca.errors import BadRequest, Forbidden, InternalError, NotImplementedByCA, Unauthorized
from stepca.messages import SSHSignRequest
from stepca.provisioner.base import ParsedToken, Provisioner, SSHPOPOptions, SSHSignOptions

if TYPE_CHECKING:
    from pathlib import Path

    from stepca.authority.claims import EffectiveClaims
    from stepca.authority.services import Services
    from stepca.config import CAConfig

#: the extensions of a user certificate, as smallstep sets them (host certificates have none)
USER_EXTENSIONS = (
    "permit-X11-forwarding",
    "permit-agent-forwarding",
    "permit-port-forwarding",
    "permit-pty",
    "permit-user-rc",
)
ADD_USER_PRINCIPAL = "provisioner"
ADD_USER_COMMAND = "sudo useradd -m <principal>; nc -q0 localhost 22"
MIN_RSA_BITS = 2048
_FOREVER = 0xFFFFFFFFFFFFFFFF
_TYPES = {"user": SSHCertificateType.USER, "host": SSHCertificateType.HOST}


@dataclass(frozen=True, slots=True)
class MadeCertificate:
    """What the CA knows of an SSH certificate it just signed (no parse of its own output)."""

    blob: bytes
    serial: int
    key_id: bytes
    valid_principals: list[bytes]  # a list, as cryptography's SSHCertificate has them
    valid_after: int
    valid_before: int


@dataclass(frozen=True, slots=True)
class SSHIssued:
    made: MadeCertificate
    provisioner: Provisioner
    add_user_blob: bytes | None = None

    @property
    def blob(self) -> bytes:
        return self.made.blob

    @property
    def serial(self) -> int:
        return self.made.serial

    @property
    def certificate(self) -> SSHCertificate:
        """The certificate parsed from its blob (made on each access: the API needs only the
        blob and the serial)."""
        return certificate_from_blob(self.blob)


@dataclass(frozen=True, slots=True)
class SSHKeyValue:
    """A CA public key as templates see it: ``.Type`` and ``.Marshal`` like Go's ssh.PublicKey."""

    blob: bytes

    @property
    def Type(self) -> str:  # Go's method name, as templates call it
        return blob_type(self.blob)

    def Marshal(self) -> bytes:
        return self.blob


@dataclass(frozen=True, slots=True)
class _CertSpec:
    public_key: PublicKey
    cert_type: str
    key_id: str
    principals: tuple[bytes, ...]
    valid_after: int
    valid_before: int
    critical_options: tuple[tuple[bytes, bytes], ...] = ()
    extensions: tuple[tuple[bytes, bytes], ...] = ()


@dataclass(frozen=True, slots=True)
class SSHSettings:
    """What ca.json adds around the two keys; read when the configuration is loaded."""

    templates: SSHTemplates
    extra_keys: tuple[tuple[str, bool, bytes], ...]  # (user|host, federated, blob)
    add_user_principal: str
    add_user_command: str


def load_ssh_settings(raw: dict[str, Any], step_path: Path) -> SSHSettings:
    """Parse ``templates`` and ``ssh.keys``/``addUser*``; ValueError names the field."""
    ssh_raw = raw.get("ssh") or {}
    return SSHSettings(
        templates=load_ssh_templates(raw.get("templates"), step_path),
        extra_keys=_configured_keys(ssh_raw.get("keys")),
        add_user_principal=str(ssh_raw.get("addUserPrincipal") or ADD_USER_PRINCIPAL),
        add_user_command=str(ssh_raw.get("addUserCommand") or ADD_USER_COMMAND),
    )


def default_principals(cert_type: str, subject: str) -> tuple[str, ...]:
    """Host: the subject. User: an email's local part and the email, else the subject."""
    if cert_type == "user" and "@" in subject:
        return (subject.split("@", 1)[0], subject)
    return (subject,)


class SSHSource(Protocol):
    """What the SSH authority needs of a loaded configuration (the server's loader provides it;
    declared here so authority/ depends on no server module)."""

    @property
    def config(self) -> CAConfig: ...
    @property
    def raw(self) -> dict[str, Any]: ...
    @property
    def ssh_host_key(self) -> PrivateKey | None: ...
    @property
    def ssh_user_key(self) -> PrivateKey | None: ...
    @property
    def step_path(self) -> Path: ...
    @property
    def ssh_settings(self) -> SSHSettings | None: ...


class SSHAuthority:
    """The SSH CA of one configuration: signs, renews, rekeys and revokes SSH certificates with
    the services the X.509 authority shares (provisioners, token context, store)."""

    def __init__(self, loaded: SSHSource, services: Services) -> None:
        self.services = services
        self.signers: dict[str, PrivateKey | None] = {
            "user": loaded.ssh_user_key,
            "host": loaded.ssh_host_key,
        }
        settings = loaded.ssh_settings or load_ssh_settings(loaded.raw, loaded.step_path)
        self.roots: dict[str, list[bytes]] = {}
        self.federation: dict[str, list[bytes]] = {}
        #: the direct encoder of each signer that has one (ECDSA and Ed25519 CA keys)
        self._encoders: dict[str, SSHCertEncoder] = {
            kind: SSHCertEncoder(signer)
            for kind, signer in self.signers.items()
            if signer is not None and SSHCertEncoder.supports(signer)
        }
        for kind, signer in self.signers.items():
            own = [key_blob(signer)] if signer is not None else []
            extra = [(blob, fed) for t, fed, blob in settings.extra_keys if t == kind]
            self.roots[kind] = own + [blob for blob, fed in extra if not fed]
            self.federation[kind] = own + [blob for blob, fed in extra if fed]
        self.templates = settings.templates
        self.add_user_principal = settings.add_user_principal
        self.add_user_command = settings.add_user_command
        self.backdate: timedelta = loaded.config.authority.backdate

    # ------------------------------------------------------------------ sign

    async def sign(self, req: SSHSignRequest) -> SSHIssued:
        public_key = _public_key(req.public_key, "publicKey")
        add_user_key = (
            _public_key(req.add_user_public_key, "addUserPublicKey") if req.add_user_public_key else None
        )
        now_ts = time.time()
        tok = ParsedToken.parse(req.ott)
        provisioner = await self.services.provisioner_for(tok)
        opts = provisioner.authorize_ssh_sign(tok, self.services.token_context("ssh/sign", now_ts))
        now = datetime.fromtimestamp(int(now_ts), UTC)
        if opts.unrestricted:
            cert_type = req.cert_type or opts.cert_type or "user"
            key_id = req.key_id or opts.key_id or opts.subject
            principals = req.principals or opts.principals or default_principals(cert_type, opts.subject)
        else:
            cert_type = opts.cert_type or req.cert_type or "user"
            key_id = opts.key_id or opts.subject
            principals = opts.principals or default_principals(cert_type, opts.subject)
            _check_request(opts, req, key_id, principals, now)
        extensions = tuple((e.encode(), b"") for e in USER_EXTENSIONS) if cert_type == "user" else ()
        critical: tuple[tuple[bytes, bytes], ...] = ()
        if provisioner.ssh_template is not None:
            made = provisioner.ssh_template.render(
                cert_type=cert_type,
                key_id=key_id,
                principals=tuple(principals),
                token=tok.claims,
                requested={"Type": req.cert_type, "KeyID": req.key_id, "Principals": list(req.principals)},
            )
            cert_type, key_id, principals = made.cert_type, made.key_id, made.principals
            extensions = tuple((k.encode(), v.encode()) for k, v in made.extensions)
            critical = tuple((k.encode(), v.encode()) for k, v in made.critical_options)
        valid_after, valid_before = self.validity(
            provisioner.claims,
            cert_type,
            now,
            opts.valid_after or req.valid_after,
            opts.valid_before or req.valid_before,
        )
        cert = self._issue(
            _CertSpec(
                public_key=public_key,
                cert_type=cert_type,
                key_id=key_id,
                principals=tuple(p.encode() for p in principals),
                valid_after=valid_after,
                valid_before=valid_before,
                critical_options=critical,
                extensions=extensions,
            )
        )
        await self.services.record(
            self._issue_op(
                cert,
                _record(cert, provisioner, "sign"),
                UsedToken(opts.token_id, provisioner.id, opts.token_expires),
            )
        )
        add_user_blob = None
        if add_user_key is not None and _valid_for_add_user(cert_type, principals):
            add_user_blob = await self._add_user(add_user_key, cert, provisioner)
        return SSHIssued(cert, provisioner, add_user_blob)

    def validity(
        self,
        claims: EffectiveClaims,
        cert_type: str,
        now: datetime,
        valid_after: str,
        valid_before: str,
    ) -> tuple[int, int]:
        """(validAfter, validBefore) in unix seconds, checked against the SSH claims.

        As smallstep: an unset start is now minus the backdate, an unset end is the start plus
        the default duration, and the maximum allows the backdate on top.
        """
        after = parse_time_duration(valid_after, now, "validAfter")
        before = parse_time_duration(valid_before, now, "validBefore")
        check_not_too_old(after, now, "validAfter")
        check_not_too_old(before, now, "validBefore")
        now_s = int(now.timestamp())
        va = int(after.timestamp()) if after else 0
        vb = int(before.timestamp()) if before else 0
        if va < 0 or vb < 0:
            raise BadRequest("ssh certificate validity cannot start or end before 1970")
        if va and vb and va > vb:
            raise BadRequest("ssh certificate validAfter cannot be greater than validBefore")
        user = cert_type == "user"
        lo = claims.min_user_ssh_dur if user else claims.min_host_ssh_dur
        hi = claims.max_user_ssh_dur if user else claims.max_host_ssh_dur
        default = claims.default_user_ssh_dur if user else claims.default_host_ssh_dur
        backdate = int(self.backdate.total_seconds())
        applied = 0
        if not va:
            va, applied = now_s, backdate
        if not vb:
            vb = va + int(default.total_seconds())
        va = max(va - applied, 0)
        if vb < now_s:
            raise BadRequest("ssh certificate validBefore cannot be in the past")
        self._check_duration(timedelta(seconds=vb - va), lo, hi)
        return va, vb

    def _check_duration(self, duration: timedelta, lo: timedelta, hi: timedelta) -> None:
        if duration < lo:
            raise Forbidden(
                f"requested duration of {format_duration(duration)} is less than minimum accepted "
                f"duration for selected provisioner of {format_duration(lo)}"
            )
        if duration > hi + self.backdate:
            raise Forbidden(
                f"requested duration of {format_duration(duration)} is greater than maximum accepted "
                f"duration for selected provisioner of {format_duration(hi + self.backdate)}"
            )

    async def _add_user(self, key: PublicKey, subject: MadeCertificate, provisioner: Provisioner) -> bytes:
        """The add-user certificate: lets ``provisioner`` run useradd for the first principal."""
        principal = subject.valid_principals[0].decode()
        command = self.add_user_command.replace("<principal>", principal)
        cert = self._issue(
            _CertSpec(
                public_key=key,
                cert_type="user",
                key_id=f"{principal}-{self.add_user_principal}",
                principals=(self.add_user_principal.encode(),),
                valid_after=subject.valid_after,
                valid_before=subject.valid_before,
                critical_options=((b"force-command", command.encode()),),
            )
        )
        await self.services.record(self._issue_op(cert, _record(cert, provisioner, "sign"), None))
        return cert.blob

    def _issue(self, spec: _CertSpec) -> MadeCertificate:
        signer = self.signers[spec.cert_type]
        if signer is None:
            raise NotImplementedByCA(f"{spec.cert_type} certificate signing is not enabled")
        serial = secrets.randbits(64) or 1
        encoder = self._encoders.get(spec.cert_type)
        if encoder is not None:
            blob = encoder.encode(
                public_key=spec.public_key,
                serial=serial,
                cert_type=_TYPES[spec.cert_type].value,
                key_id=spec.key_id.encode(),
                principals=spec.principals,
                valid_after=spec.valid_after,
                valid_before=spec.valid_before,
                critical_options=spec.critical_options,
                extensions=spec.extensions,
            )
        else:
            blob = self._build(spec, signer, serial)
        return MadeCertificate(
            blob, serial, spec.key_id.encode(), list(spec.principals), spec.valid_after, spec.valid_before
        )

    @staticmethod
    def _build(spec: _CertSpec, signer: PrivateKey, serial: int) -> bytes:
        """cryptography's builder: for CA keys the direct encoder does not sign with (RSA)."""
        builder = (
            SSHCertificateBuilder()
            .public_key(spec.public_key)
            .serial(serial)
            .type(_TYPES[spec.cert_type])
            .key_id(spec.key_id.encode())
            .valid_after(spec.valid_after)
            .valid_before(spec.valid_before)
        )
        builder = (
            builder.valid_principals(list(spec.principals))
            if spec.principals
            else builder.valid_for_all_principals()  # type: ignore[no-untyped-call]
        )
        for name, value in spec.critical_options:
            builder = builder.add_critical_option(name, value)
        for name, value in spec.extensions:
            builder = builder.add_extension(name, value)
        return certificate_blob(builder.sign(signer))

    # ------------------------------------------------------------------ renew / rekey / revoke

    async def renew(self, ott: str) -> SSHIssued:
        tok = ParsedToken.parse(ott)
        provisioner = await self.services.provisioner_for(tok)
        pop = provisioner.authorize_ssh_renew(tok, self.services.token_context("ssh/renew"))
        await self._check_renewable(pop)
        return await self._reissue(pop, pop.certificate.public_key(), "renew")

    async def rekey(self, ott: str, public_key: bytes) -> SSHIssued:
        key = _public_key(public_key, "publicKey")
        tok = ParsedToken.parse(ott)
        provisioner = await self.services.provisioner_for(tok)
        pop = provisioner.authorize_ssh_rekey(tok, self.services.token_context("ssh/rekey"))
        await self._check_renewable(pop)
        return await self._reissue(pop, key, "rekey")

    async def revoke(self, *, serial: str, ott: str, reason_code: int, reason: str) -> None:
        serial = normalize_serial(serial)
        tok = ParsedToken.parse(ott)
        provisioner = await self.services.provisioner_for(tok)
        opts = provisioner.authorize_ssh_revoke(tok, self.services.token_context("ssh/revoke"))
        if isinstance(opts, SSHPOPOptions):
            self._check_issuer(opts.certificate)
            authorized = str(opts.certificate.serial)
        else:
            authorized = serial if opts.any_serial else normalize_serial(opts.serial)
        if authorized != serial:
            raise Unauthorized("token subject does not match the serial number to revoke")
        record = await self.services.store.get_certificate(serial, "ssh")
        await self.services.record(
            RevokeOp(
                RevocationRecord(
                    serial=serial,
                    reason_code=reason_code,
                    reason=reason,
                    revoked_at=int(time.time()),
                    provisioner=provisioner.id,
                    token_id=opts.token_id,
                    not_after=record.not_after if record else 0,
                    kind="ssh",
                ),
                token=UsedToken(opts.token_id, provisioner.id, opts.token_expires),
                audit=self.services.audit(
                    "ssh-revoke",
                    "ssh",
                    serial,
                    record.subject if record else "",
                    (),
                    provisioner.name,
                    UsedToken(opts.token_id, provisioner.id, opts.token_expires),
                ),
            )
        )

    def _check_issuer(self, cert: SSHCertificate) -> None:
        """The certificate was signed by one of our keys for its type."""
        signer = key_blob(cert.signature_key())
        if signer not in self.roots[cert_type_name(cert)]:
            raise Unauthorized("could not find valid ca signer to verify sshpop certificate")
        try:
            cert.verify_cert_signature()
        except (InvalidSignature, UnsupportedAlgorithm, ValueError):
            raise Unauthorized("could not find valid ca signer to verify sshpop certificate") from None

    async def _check_renewable(self, pop: SSHPOPOptions) -> None:
        self._check_issuer(pop.certificate)
        serial = str(pop.certificate.serial)
        if await self.services.store.get_revocation(serial, "ssh") is not None:
            raise Unauthorized(f"certificate with serial number {serial} has been revoked")

    async def _reissue(self, pop: SSHPOPOptions, key: PublicKey, origin: str) -> SSHIssued:
        """The old certificate's type, key id, principals, options and lifetime, from now."""
        old = pop.certificate
        if not old.valid_after or old.valid_before in (0, _FOREVER):
            raise BadRequest(f"cannot {origin} a certificate without validity period")
        cert_type = cert_type_name(old)
        lifetime = old.valid_before - old.valid_after
        if origin == "rekey":
            claims = pop.provisioner.claims
            lo = claims.min_user_ssh_dur if cert_type == "user" else claims.min_host_ssh_dur
            hi = claims.max_user_ssh_dur if cert_type == "user" else claims.max_host_ssh_dur
            self._check_duration(timedelta(seconds=lifetime), lo, hi)
        start = int(time.time()) - int(self.backdate.total_seconds())
        cert = self._issue(
            _CertSpec(
                public_key=key,
                cert_type=cert_type,
                key_id=old.key_id.decode(errors="replace"),
                principals=tuple(old.valid_principals),
                valid_after=start,
                valid_before=start + lifetime,
                critical_options=tuple(sorted(old.critical_options.items())),
                extensions=tuple(sorted(old.extensions.items())),
            )
        )
        await self.services.record(
            self._issue_op(
                cert,
                _record(cert, pop.provisioner, origin),
                UsedToken(pop.token_id, pop.provisioner.id, pop.token_expires),
            )
        )
        return SSHIssued(cert, pop.provisioner)

    def _issue_op(self, cert: MadeCertificate, record: CertificateRecord, token: UsedToken | None) -> IssueOp:
        """The write of an SSH certificate with its audit line (the principals are its names)."""
        names = tuple(p.decode(errors="replace") for p in cert.valid_principals)
        audit = self.services.audit(
            f"ssh-{record.origin}", "ssh", record.serial, record.subject, names, record.provisioner, token
        )
        return IssueOp(cert=record, token=token, audit=audit)

    # ------------------------------------------------------------------ read-only

    def config(self, cert_type: str, user_data: dict[str, str]) -> list[dict[str, Any]]:
        """The rendered ``user`` or ``host`` templates."""
        templates = self.templates.user if cert_type == "user" else self.templates.host
        step_ssh = {
            "HostKey": _key_value(self.federation["host"][:1]),
            "UserKey": _key_value(self.federation["user"][:1]),
            "HostFederatedKeys": [SSHKeyValue(b) for b in self.federation["host"][1:]],
            "UserFederatedKeys": [SSHKeyValue(b) for b in self.federation["user"][1:]],
        }
        data = {**self.templates.data, "Step": {"SSH": step_ssh}, "User": dict(user_data)}
        try:
            return [t.output(data, user_data) for t in templates]
        except TemplateError as exc:
            raise InternalError(str(exc)) from None

    async def host_principals(self, *, valid_at: int | None) -> list[str]:
        """Principals of the host certificates issued (valid at ``valid_at`` when given)."""
        blobs = await self.services.store.ssh_certificate_blobs(valid_at=valid_at)
        names: set[str] = set()
        for blob in blobs:
            try:
                cert = certificate_from_blob(blob)
            except SSHFormatError:
                continue
            if cert.type == SSHCertificateType.HOST:
                names.update(p.decode(errors="replace") for p in cert.valid_principals)
        return sorted(names)


# ---------------------------------------------------------------------- helpers


def _public_key(blob: bytes, name: str) -> PublicKey:
    try:
        key = public_key_from_blob(blob)
    except SSHFormatError as exc:
        raise BadRequest(f"error parsing {name}: {exc}") from None
    if isinstance(key, rsa.RSAPublicKey) and key.key_size < MIN_RSA_BITS:
        raise Forbidden(
            f"ssh certificate key must be at least {MIN_RSA_BITS} bits ({MIN_RSA_BITS // 8} bytes)"
        )
    return key


def _go_list(items: tuple[str, ...]) -> str:
    return "[" + " ".join(items) + "]"


def _check_request(
    opts: SSHSignOptions, req: SSHSignRequest, key_id: str, principals: tuple[str, ...], now: datetime
) -> None:
    """What the request asks must fit what the token authorizes (smallstep's options match)."""
    if opts.cert_type and req.cert_type and opts.cert_type != req.cert_type:
        raise Forbidden(f"ssh certificate type does not match - got {req.cert_type}, want {opts.cert_type}")
    if req.key_id and req.key_id != key_id:
        raise Forbidden(f"ssh certificate key id does not match - got {req.key_id}, want {key_id}")
    allowed = {p.lower() for p in principals}
    if req.principals and not all(p.lower() in allowed for p in req.principals):
        raise Forbidden(
            f"ssh certificate principals does not match - got {_go_list(req.principals)}, "
            f"want {_go_list(principals)}"
        )
    for name, want, got in (
        ("validAfter", opts.valid_after, req.valid_after),
        ("validBefore", opts.valid_before, req.valid_before),
    ):
        if want and got and parse_time_duration(want, now, name) != parse_time_duration(got, now, name):
            raise Forbidden(f"ssh certificate {name} does not match - got {got}, want {want}")


def _valid_for_add_user(cert_type: str, principals: tuple[str, ...]) -> bool:
    """A user certificate with one principal (or a name and an email, as OIDC gives)."""
    if cert_type != "user":
        return False
    return len(principals) == 1 or (len(principals) == 2 and principals[1].find("@") > 0)


def _record(cert: MadeCertificate, provisioner: Provisioner, origin: str) -> CertificateRecord:
    return CertificateRecord(
        serial=str(cert.serial),
        der=cert.blob,
        provisioner=provisioner.name,
        subject=cert.key_id.decode(errors="replace"),
        not_before=cert.valid_after,
        not_after=cert.valid_before,
        kind="ssh",
        origin=origin,
    )


def _key_value(blobs: list[bytes]) -> SSHKeyValue | None:
    return SSHKeyValue(blobs[0]) if blobs else None


def _configured_keys(keys: object) -> tuple[tuple[str, bool, bytes], ...]:
    """ca.json ``ssh.keys``: extra public keys ({type, federated, key: JWK}) to publish."""
    out: list[tuple[str, bool, bytes]] = []
    for i, item in enumerate(keys if isinstance(keys, list) else []):
        where = f"ca.json: ssh.keys.{i}"
        if not isinstance(item, dict) or item.get("type") not in _TYPES:
            raise ValueError(f"{where}: type must be user or host")
        try:
            key = key_from_jwk(item.get("key") or {})
        except JOSEError as exc:
            raise ValueError(f"{where}.key: {exc}") from None
        if hasattr(key, "private_bytes"):
            raise ValueError(f"{where}.key: must be a public key")
        out.append((item["type"], bool(item.get("federated")), key_blob(key)))
    return tuple(out)
