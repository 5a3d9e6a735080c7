"""Request times: RFC 3339 or a Go duration relative to now (smallstep's TimeDuration)."""

from __future__ import annotations

from datetime import UTC, datetime

from stepca._durations import parse_duration
from stepca.errors import BadRequest


def parse_time_duration(value: object, now: datetime, field: str) -> datetime | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise BadRequest(f"{field} must be an RFC 3339 time or a duration")
    try:
        return now + parse_duration(value)
    except ValueError:
        pass
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise BadRequest(f"{field} must be an RFC 3339 time or a duration, got {value!r}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
