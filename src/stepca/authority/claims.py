"""Effective claims: step's defaults < authority ``claims`` < provisioner ``claims``; and the
validity rules they impose on requested certificates."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime, timedelta

from stepca._durations import format_duration
from stepca.config import Claims
from stepca.errors import BadRequest, Forbidden

_M = timedelta(minutes=1)
_H = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class EffectiveClaims:
    min_tls_dur: timedelta = 5 * _M
    max_tls_dur: timedelta = 24 * _H
    default_tls_dur: timedelta = 24 * _H
    disable_renewal: bool = False
    allow_renewal_after_expiry: bool = False
    disable_issued_at_check: bool = False
    enable_ssh_ca: bool = False
    min_user_ssh_dur: timedelta = 5 * _M
    max_user_ssh_dur: timedelta = 24 * _H
    default_user_ssh_dur: timedelta = 16 * _H
    min_host_ssh_dur: timedelta = 5 * _M
    max_host_ssh_dur: timedelta = 30 * 24 * _H
    default_host_ssh_dur: timedelta = 30 * 24 * _H

    def merged(self, override: Claims | None) -> EffectiveClaims:
        if override is None:
            return self
        values = {f.name: getattr(override, f.name) for f in fields(self)}
        changes = {k: v for k, v in values.items() if v is not None}
        return _replace(self, changes) if changes else self

    def check_consistent(self, where: str) -> None:
        """min <= default <= max for each family, as smallstep validates claims at load."""
        for fam in ("tls", "user_ssh", "host_ssh"):
            lo = getattr(self, f"min_{fam}_dur")
            de = getattr(self, f"default_{fam}_dur")
            hi = getattr(self, f"max_{fam}_dur")
            if lo <= timedelta(0) or not lo <= de <= hi:
                raise ValueError(
                    f"{where}: claims for {fam.replace('_', ' ')} certificates must satisfy "
                    f"0 < min ({format_duration(lo)}) <= default ({format_duration(de)}) <= max ({format_duration(hi)})"
                )


def _replace(base: EffectiveClaims, changes: dict[str, object]) -> EffectiveClaims:
    from dataclasses import replace

    return replace(base, **changes)  # type: ignore[arg-type]


def x509_validity(
    claims: EffectiveClaims,
    now: datetime,
    requested_not_before: datetime | None,
    requested_not_after: datetime | None,
    backdate: timedelta,
) -> tuple[datetime, datetime]:
    """The (not_before, not_after) of a new certificate, checked against the claims.

    Like smallstep: an unspecified start is backdated, and the backdate is added to the limits,
    so the default 24h certificate is valid from now-1m to now+24h and the maximum reads 24h1m0s.
    """
    applied_backdate = timedelta(0)
    if requested_not_before is None:
        not_before = now - backdate
        applied_backdate = backdate
    else:
        not_before = requested_not_before
    if requested_not_after is None:
        not_after = not_before + applied_backdate + claims.default_tls_dur
    else:
        not_after = requested_not_after
    if not_after <= not_before:
        raise BadRequest("notAfter must be after notBefore")
    duration = not_after - not_before
    lo = claims.min_tls_dur + applied_backdate
    hi = claims.max_tls_dur + applied_backdate
    if duration < lo:
        raise Forbidden(
            f"requested duration of {format_duration(duration)} is less than the authorized "
            f"minimum certificate duration of {format_duration(lo)}"
        )
    if duration > hi:
        raise Forbidden(
            f"requested duration of {format_duration(duration)} is more than the authorized "
            f"maximum certificate duration of {format_duration(hi)}"
        )
    return not_before, not_after
