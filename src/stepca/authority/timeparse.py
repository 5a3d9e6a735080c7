"""Request times: RFC 3339 or a Go duration relative to now (smallstep's TimeDuration).

A time that cannot be represented (``99999999999h``) is a 400. A time more than
``MAX_BACKDATE`` before now is refused with 403 by ``check_not_too_old``: certificates dated
decades back (year 1 was once issued) serve no purpose but to confuse validators and audits.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from stepca._durations import parse_duration
from stepca.errors import BadRequest


def parse_time_duration(value: object, now: datetime, field: str) -> datetime | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise BadRequest(f"{field} must be an RFC 3339 time or a duration")
    try:
        delta = parse_duration(value)
    except ValueError:
        pass
    except OverflowError:
        raise BadRequest(f"{field} is out of range") from None
    else:
        try:
            return now + delta
        except OverflowError:
            raise BadRequest(f"{field} is out of range") from None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise BadRequest(f"{field} must be an RFC 3339 time or a duration, got {value!r}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


#: how far before now a requested notBefore / validAfter may lie
MAX_BACKDATE = timedelta(days=1)


def check_not_too_old(when: datetime | None, now: datetime, field: str) -> None:
    from stepca.errors import Forbidden

    if when is not None and when < now - MAX_BACKDATE:
        raise Forbidden(f"{field} cannot be more than 24h in the past")
