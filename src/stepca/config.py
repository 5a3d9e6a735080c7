"""ca.json and defaults.json as typed, frozen models.

Field names follow smallstep's files exactly (camelCase in ca.json, kebab-case in defaults.json).
Unknown fields are kept (``extra="allow"``) so a smallstep-written file loads and round-trips.
Errors name the file and the field: ``ca.json: authority.provisioners.0.key: Field required``.
"""

from __future__ import annotations

import json
import os
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AliasChoices,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    PlainSerializer,
    Tag,
    ValidationError,
    field_validator,
    model_validator,
)

from stepca._durations import format_duration, parse_duration
from stepca._fs import step_path
from stepca.errors import ConfigError


def _to_timedelta(value: Any) -> Any:
    if isinstance(value, str):
        return parse_duration(value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        # a bare number in ca.json is nanoseconds, as Go's encoding of time.Duration
        return timedelta(microseconds=value / 1000)
    return value


Duration = Annotated[
    timedelta,
    BeforeValidator(_to_timedelta),
    PlainSerializer(format_duration, return_type=str),
]


class _Model(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True, populate_by_name=True)


class Claims(_Model):
    """Validation and default values for requested certificates (authority- or provisioner-level)."""

    min_tls_dur: Duration | None = Field(None, alias="minTLSCertDuration")
    max_tls_dur: Duration | None = Field(None, alias="maxTLSCertDuration")
    default_tls_dur: Duration | None = Field(None, alias="defaultTLSCertDuration")
    disable_renewal: bool | None = Field(None, alias="disableRenewal")
    allow_renewal_after_expiry: bool | None = Field(None, alias="allowRenewalAfterExpiry")
    disable_issued_at_check: bool | None = Field(None, alias="disableIssuedAtCheck")
    enable_ssh_ca: bool | None = Field(None, alias="enableSSHCA")
    min_user_ssh_dur: Duration | None = Field(
        None, validation_alias=AliasChoices("minUserSSHCertDuration", "minUserSSHDuration")
    )
    max_user_ssh_dur: Duration | None = Field(
        None, validation_alias=AliasChoices("maxUserSSHCertDuration", "maxUserSSHDuration")
    )
    default_user_ssh_dur: Duration | None = Field(
        None, validation_alias=AliasChoices("defaultUserSSHCertDuration", "defaultUserSSHDuration")
    )
    min_host_ssh_dur: Duration | None = Field(
        None, validation_alias=AliasChoices("minHostSSHCertDuration", "minHostSSHDuration")
    )
    max_host_ssh_dur: Duration | None = Field(
        None, validation_alias=AliasChoices("maxHostSSHCertDuration", "maxHostSSHDuration")
    )
    default_host_ssh_dur: Duration | None = Field(
        None, validation_alias=AliasChoices("defaultHostSSHCertDuration", "defaultHostSSHDuration")
    )


class ProvisionerBase(_Model):
    type: str
    name: str = Field(min_length=1)
    claims: Claims | None = None
    options: dict[str, Any] | None = None

    @property
    def type_upper(self) -> str:
        return self.type.upper()


class JWKProvisionerConfig(ProvisionerBase):
    key: dict[str, Any]
    encrypted_key: str | None = Field(None, alias="encryptedKey")

    @field_validator("key")
    @classmethod
    def _key_is_public_jwk(cls, value: dict[str, Any]) -> dict[str, Any]:
        if "kty" not in value:
            raise ValueError("must be a JWK with a 'kty' member")
        if "d" in value:
            raise ValueError("must be a public JWK (it contains the private member 'd')")
        return value


class OIDCProvisionerConfig(ProvisionerBase):
    client_id: str = Field(alias="clientID")
    client_secret: str = Field("", alias="clientSecret")
    configuration_endpoint: str = Field(alias="configurationEndpoint")
    admins: list[str] | None = None
    domains: list[str] | None = None
    groups: list[str] | None = None
    listen_address: str | None = Field(None, alias="listenAddress")
    tenant_id: str | None = Field(None, alias="tenantID")


class ACMEProfileConfig(_Model):
    """An ACME profile (draft-ietf-acme-profiles) of an ACME provisioner (docs/acme.md)."""

    name: str = Field(min_length=1, max_length=64)
    description: str = ""
    validity: Duration | None = None
    key_usage: list[str] | None = Field(None, alias="keyUsage")
    ext_key_usage: list[str] | None = Field(None, alias="extKeyUsage")
    #: a certificate template for this profile, as a provisioner's ``options.x509``
    #: (``template``, ``templateFile``, ``templateData``)
    template: dict[str, Any] | None = None


class ACMECAAConfig(_Model):
    """RFC 8659 CAA checking at finalize: the issuer domain names this CA answers to."""

    enabled: bool = False
    identities: list[str] = Field(default_factory=list)


ACME_CHALLENGE_TYPES = ("http-01", "dns-01", "tls-alpn-01")


class ACMEProvisionerConfig(ProvisionerBase):
    force_cn: bool = Field(False, alias="forceCN")
    challenges: list[str] | None = None
    require_eab: bool = Field(False, alias="requireEAB")
    attestation_formats: list[str] | None = Field(None, alias="attestationFormats")
    terms_of_service: str = Field("", alias="termsOfService")
    website: str = ""
    profiles: list[ACMEProfileConfig] = Field(default_factory=list)
    caa: ACMECAAConfig | None = None

    @field_validator("challenges")
    @classmethod
    def _known_challenges(cls, value: list[str] | None) -> list[str] | None:
        for c in value or []:
            if c.lower() not in ACME_CHALLENGE_TYPES and c.lower() != "device-attest-01":
                raise ValueError(f"unknown ACME challenge type {c!r} (use {', '.join(ACME_CHALLENGE_TYPES)})")
        return value

    @field_validator("profiles")
    @classmethod
    def _unique_profiles(cls, value: list[ACMEProfileConfig]) -> list[ACMEProfileConfig]:
        names = [p.name for p in value]
        if len(set(names)) != len(names):
            raise ValueError("profile names must be unique")
        return value


class X5CProvisionerConfig(ProvisionerBase):
    roots: str = ""


class SSHPOPProvisionerConfig(ProvisionerBase):
    pass


class OtherProvisionerConfig(ProvisionerBase):
    """A provisioner type stepca does not implement (AWS, GCP, ...): listed, never authorizes."""


_PROVISIONER_TAGS = frozenset({"JWK", "OIDC", "ACME", "X5C", "SSHPOP", "OTHER"})


def _provisioner_tag(value: Any) -> str:
    kind = value.get("type") if isinstance(value, dict) else getattr(value, "type", None)
    kind = str(kind or "").upper()
    return kind if kind in _PROVISIONER_TAGS else "OTHER"


ProvisionerConfig = Annotated[
    Annotated[JWKProvisionerConfig, Tag("JWK")]
    | Annotated[OIDCProvisionerConfig, Tag("OIDC")]
    | Annotated[ACMEProvisionerConfig, Tag("ACME")]
    | Annotated[X5CProvisionerConfig, Tag("X5C")]
    | Annotated[SSHPOPProvisionerConfig, Tag("SSHPOP")]
    | Annotated[OtherProvisionerConfig, Tag("OTHER")],
    Discriminator(_provisioner_tag),
]


class ASN1DN(_Model):
    country: str | None = None
    organization: str | None = None
    organizational_unit: str | None = Field(None, alias="organizationalUnit")
    locality: str | None = None
    province: str | None = None
    street_address: str | None = Field(None, alias="streetAddress")
    serial_number: str | None = Field(None, alias="serialNumber")
    common_name: str | None = Field(None, alias="commonName")


class AuthorityConfig(_Model):
    provisioners: list[ProvisionerConfig] = Field(default_factory=list)
    claims: Claims | None = None
    template: ASN1DN | None = None
    backdate: Duration = timedelta(minutes=1)
    disable_issued_at_check: bool = Field(False, alias="disableIssuedAtCheck")
    #: remote administration (docs/admin.md): provisioners and admins live in the database
    enable_admin: bool = Field(False, alias="enableAdmin")
    #: the first super-admin's subject (``step ca init --admin-subject``; smallstep: ``step``)
    admin_subject: str = Field("step", alias="adminSubject", min_length=1)
    #: with remote administration off: certificates issued by these provisioners may read the
    #: certificate inventory (stepca's own field; docs/inventory.md)
    admin_provisioners: list[str] = Field(default_factory=list, alias="adminProvisioners")

    @field_validator("provisioners", mode="before")
    @classmethod
    def _none_is_empty(cls, value: Any) -> Any:
        return [] if value is None else value


class DBConfig(_Model):
    type: str = "sqlite"
    data_source: str = Field("", alias="dataSource")
    database: str | None = None


class LoggerConfig(_Model):
    format: Literal["text", "json"] = "text"


class TLSConfig(_Model):
    cipher_suites: list[str] | None = Field(None, alias="cipherSuites")
    min_version: float | None = Field(None, alias="minVersion")
    max_version: float | None = Field(None, alias="maxVersion")
    renegotiation: bool = False


class SSHConfig(_Model):
    host_key: str | None = Field(None, alias="hostKey")
    user_key: str | None = Field(None, alias="userKey")


def http_url(value: str) -> str:
    """An optional ``http://`` or ``https://`` URL field (the CRL, OCSP and webhook URLs)."""
    if value and not value.lower().startswith(("http://", "https://")):
        raise ValueError("must be an http:// or https:// URL")
    return value


class CRLConfig(_Model):
    """ca.json ``crl``, named as smallstep names it (docs/revocation.md).

    ``cacheDuration`` is each CRL's validity (nextUpdate - thisUpdate, default 24h);
    ``renewPeriod`` how long after thisUpdate a new one is made (default 2/3 of cacheDuration);
    ``idpURL`` the URL in certificates' CRL Distribution Point and in the CRL's Issuing
    Distribution Point (default: https://<first dnsName>[:port]/1.0/crl, and no IDP).
    """

    enabled: bool = False
    generate_on_revoke: bool = Field(False, alias="generateOnRevoke")
    cache_duration: Duration = Field(timedelta(hours=24), alias="cacheDuration")
    renew_period: Duration | None = Field(None, alias="renewPeriod")
    idp_url: str = Field("", alias="idpURL")

    @field_validator("cache_duration", "renew_period")
    @classmethod
    def _positive(cls, value: timedelta | None) -> timedelta | None:
        if value is not None and value <= timedelta(0):
            raise ValueError("must be a duration greater than 0")
        return value

    @field_validator("idp_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        return http_url(value)

    @model_validator(mode="after")
    def _renew_before_expiry(self) -> CRLConfig:
        if self.renew_period is not None and self.renew_period > self.cache_duration:
            raise ValueError("renewPeriod must not be longer than cacheDuration")
        return self

    @property
    def renew_after(self) -> timedelta:
        """When a CRL is replaced: renewPeriod, else 2/3 of cacheDuration (as smallstep)."""
        return self.renew_period if self.renew_period is not None else self.cache_duration * 2 / 3


class OCSPConfig(_Model):
    """ca.json ``ocsp``: the OCSP responder (RFC 6960; docs/revocation.md). smallstep has no
    such block; the names follow ``crl``'s.

    ``signer`` is ``delegated`` (default: a short-lived responder certificate the intermediate
    issues, with id-kp-OCSPSigning and id-pkix-ocsp-nocheck, rotated before it expires) or
    ``intermediate`` (responses signed by the intermediate's own key). ``responseValidity`` is
    each response's nextUpdate - thisUpdate (default 1h; responses are re-signed at half of it);
    ``responderCertDuration`` the delegated certificate's life (default 24h, replaced at 2/3);
    ``url`` the URL issued certificates carry in their Authority Information Access (default:
    ``http://<first dnsName>:<port>/ocsp`` on ``insecureAddress`` when set, else the HTTPS
    address).
    """

    enabled: bool = False
    signer: Literal["delegated", "intermediate"] = "delegated"
    response_validity: Duration = Field(timedelta(hours=1), alias="responseValidity")
    responder_cert_duration: Duration = Field(timedelta(hours=24), alias="responderCertDuration")
    url: str = ""

    @field_validator("response_validity")
    @classmethod
    def _validity(cls, value: timedelta) -> timedelta:
        if not timedelta(minutes=1) <= value <= timedelta(days=7):
            raise ValueError("must be between 1m and 168h")
        return value

    @field_validator("responder_cert_duration")
    @classmethod
    def _cert_duration(cls, value: timedelta) -> timedelta:
        if not timedelta(minutes=5) <= value <= timedelta(days=30):
            raise ValueError("must be between 5m and 720h")
        return value

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        return http_url(value)

    @model_validator(mode="after")
    def _responses_fit_the_certificate(self) -> OCSPConfig:
        if self.signer == "delegated" and self.response_validity * 3 > self.responder_cert_duration:
            raise ValueError("responderCertDuration must be at least 3 times responseValidity")
        return self


class ExpiryWarningsConfig(_Model):
    """ca.json ``expiryWarnings`` (stepca's own block; docs/inventory.md): report certificates
    that near their end without having been renewed, once each, as a log line and optionally a
    webhook. ``within``: how close to its end (default 24h; a certificate is also only reported
    past two thirds of its life, when its client should have renewed it); ``checkEvery``
    (default 5m); ``webhookURL`` and ``webhookSecret`` (HMAC-SHA256 of the body in
    ``X-Stepca-Signature``)."""

    within: Duration = timedelta(hours=24)
    check_every: Duration = Field(timedelta(minutes=5), alias="checkEvery")
    webhook_url: str = Field("", alias="webhookURL")
    webhook_secret: str = Field("", alias="webhookSecret")

    @field_validator("within", "check_every")
    @classmethod
    def _positive(cls, value: timedelta) -> timedelta:
        if value <= timedelta(0):
            raise ValueError("must be a duration greater than 0")
        return value

    @field_validator("webhook_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        return http_url(value)


class CAConfig(_Model):
    root: str | list[str]
    federated_roots: list[str] | None = Field(None, alias="federatedRoots")
    crt: str
    key: str
    password: str | None = None
    address: str
    insecure_address: str = Field("", alias="insecureAddress")
    #: Prometheus /metrics on its own plain-HTTP listener (docs/metrics.md); "" = off
    metrics_address: str = Field("", alias="metricsAddress")
    dns_names: list[str] = Field(alias="dnsNames", min_length=1)
    ssh: SSHConfig | None = None
    logger: LoggerConfig = Field(default_factory=LoggerConfig)
    db: DBConfig | None = None
    authority: AuthorityConfig = Field(default_factory=lambda: AuthorityConfig.model_validate({}))
    tls: TLSConfig | None = None
    templates: dict[str, Any] | None = None
    common_name: str = Field("Step Online CA", alias="commonName")
    crl: CRLConfig | None = None
    ocsp: OCSPConfig | None = None
    expiry_warnings: ExpiryWarningsConfig | None = Field(None, alias="expiryWarnings")

    @field_validator("logger", mode="before")
    @classmethod
    def _logger_default(cls, value: Any) -> Any:
        if value is None:
            return {}
        if isinstance(value, dict) and not value.get("format"):
            return {**value, "format": "text"}
        return value

    @property
    def root_paths(self) -> list[str]:
        return [self.root] if isinstance(self.root, str) else list(self.root)


class Defaults(_Model):
    """defaults.json: what ``step`` uses when flags are not given."""

    ca_url: str | None = Field(None, alias="ca-url")
    ca_config: str | None = Field(None, alias="ca-config")
    fingerprint: str | None = None
    root: str | None = None


def resolve_path(value: str, base: Path | None = None) -> Path:
    """Resolve a path from ca.json: absolute stays, ``~`` expands, relative is under STEPPATH."""
    p = Path(os.path.expanduser(value))
    if p.is_absolute():
        return p
    return (base or step_path()) / p


def _format_validation_error(filename: str, exc: ValidationError) -> str:
    first = exc.errors()[0]
    # drop the discriminator tags pydantic inserts into the location (JWK, OIDC, ...)
    loc = ".".join(str(p) for p in first["loc"] if p not in _PROVISIONER_TAGS)
    msg = first["msg"]
    extra = f" (and {exc.error_count() - 1} more problems)" if exc.error_count() > 1 else ""
    return f"{filename}: {loc or '(root)'}: {msg}{extra}"


def read_json_file(path: Path | str) -> dict[str, Any]:
    return read_json_document(path)[0]


def read_json_document(path: Path | str) -> tuple[dict[str, Any], str]:
    """A JSON object file and its text; errors are one line naming the file."""
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ConfigError(f"{path}: file does not exist") from None
    except (PermissionError, IsADirectoryError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot be read: {exc.__class__.__name__}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"{path}: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: must contain a JSON object")
    return data, text


def parse_ca_config(data: dict[str, Any], filename: str = "ca.json") -> CAConfig:
    try:
        return CAConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_format_validation_error(filename, exc)) from None


def load_ca_config(path: Path | str) -> CAConfig:
    return parse_ca_config(read_json_file(path), str(path))


def load_defaults(path: Path | str | None = None) -> Defaults:
    """defaults.json (``$STEPPATH/config/defaults.json``); a missing file means empty defaults."""
    p = Path(path) if path else step_path() / "config" / "defaults.json"
    if not p.exists():
        return Defaults.model_validate({})
    try:
        return Defaults.model_validate(read_json_file(p))
    except ValidationError as exc:
        raise ConfigError(_format_validation_error(str(p), exc)) from None


def dump_json(data: Any) -> str:
    """JSON as step writes config files: tab-indented, keys in insertion order, trailing newline."""
    return json.dumps(data, indent="\t", ensure_ascii=False) + "\n"
