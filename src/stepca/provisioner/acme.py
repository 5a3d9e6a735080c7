"""The ACME provisioner: its ca.json settings (smallstep's fields, plus profiles and CAA).

The provisioner authorizes nothing by token: ACME requests are authorized by the account key
and the order's challenges (``stepca.acme.service``), and finalize calls the issuance service
with this provisioner, so certificates carry the provisioner extension of type ACME (6).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from stepca.config import ACME_CHALLENGE_TYPES, ACMEProvisionerConfig
from stepca.provisioner.base import Provisioner

if TYPE_CHECKING:
    from pathlib import Path

    from cryptography import x509

    from stepca.authority.cert_templates import X509Template
    from stepca.authority.claims import EffectiveClaims
    from stepca.config import ProvisionerBase

log = logging.getLogger("stepca.provisioner")

DEFAULT_PROFILE = "default"


@dataclass(frozen=True, slots=True)
class Profile:
    name: str
    description: str
    claims: EffectiveClaims
    #: the certificate's usages (None: the default ones)
    key_usage: x509.KeyUsage | None = None
    ext_key_usage: x509.ExtendedKeyUsage | None = None
    #: ``template`` as a provisioner's options.x509 (loaded by ``load_profile_templates``)
    template_options: dict[str, Any] | None = None
    template: X509Template | None = None


class ACMEProvisioner(Provisioner):
    type_name = "ACME"

    def __init__(self, config: ProvisionerBase, claims: EffectiveClaims) -> None:
        super().__init__(config, claims)
        assert isinstance(config, ACMEProvisionerConfig)
        self.acme_config = config
        self.force_cn = config.force_cn
        self.require_eab = config.require_eab
        wanted = [c.lower() for c in config.challenges or ACME_CHALLENGE_TYPES]
        if "device-attest-01" in wanted:
            log.warning("provisioner %r: the device-attest-01 challenge is not supported: ignored", self.name)
        self.challenges: tuple[str, ...] = tuple(c for c in wanted if c in ACME_CHALLENGE_TYPES)
        if config.attestation_formats:
            log.warning("provisioner %r: attestationFormats is not supported: ignored", self.name)
        self.terms_of_service = config.terms_of_service
        self.website = config.website
        self.caa_identities: tuple[str, ...] = ()
        if config.caa is not None and config.caa.enabled:
            self.caa_identities = tuple(i.lower() for i in config.caa.identities) or ("stepca",)
        self.profiles: dict[str, Profile] = {
            DEFAULT_PROFILE: Profile(DEFAULT_PROFILE, "the provisioner's own claims", claims)
        }
        for p in config.profiles:
            profile_claims = claims
            if p.validity is not None:
                if p.validity <= timedelta(0):
                    raise ValueError(
                        f"provisioner {self.name!r}: profile {p.name!r}: validity must be positive"
                    )
                profile_claims = replace(
                    claims,
                    default_tls_dur=p.validity,
                    max_tls_dur=max(claims.max_tls_dur, p.validity),
                    min_tls_dur=min(claims.min_tls_dur, p.validity),
                )
            from stepca.authority.cert_templates import _ext_key_usage, _key_usage

            try:
                ku, eku = _key_usage(p.key_usage), _ext_key_usage(p.ext_key_usage)
            except ValueError as exc:
                raise ValueError(f"provisioner {self.name!r}: profile {p.name!r}: {exc}") from None
            self.profiles[p.name] = Profile(
                p.name, p.description or p.name, profile_claims, ku, eku, template_options=p.template
            )

    def load_profile_templates(self, base: Path | None) -> None:
        """Load the profiles' certificate templates (relative files are under ``base``)."""
        from stepca.authority.cert_templates import load_templates

        for name, prof in list(self.profiles.items()):
            if prof.template_options:
                template, _ = load_templates(
                    f"{self.name} profile {name}", {"x509": prof.template_options}, base
                )
                self.profiles[name] = replace(prof, template=template)

    @property
    def id(self) -> str:
        return f"acme/{self.name}"
