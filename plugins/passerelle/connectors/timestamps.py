"""Parsing of the timestamp formats vendors use for cursors (ISO-8601 variants, epoch milliseconds)."""

from __future__ import annotations

from datetime import datetime, timezone


def parse_timestamp(value: object) -> datetime:
    """Return an aware UTC datetime from an ISO-8601 string or epoch milliseconds (int or digits).

    Called twice per record of a load (window filter, then the record's cursor): the common case, an
    ISO string, is tested first."""
    if type(value) is str and value and not value.isdigit():
        parsed = datetime.fromisoformat(value)
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return datetime.fromtimestamp(value / 1000, tz=timezone.utc)
    if isinstance(value, str) and value:
        if value.isdigit():
            return datetime.fromtimestamp(int(value) / 1000, tz=timezone.utc)
        parsed = datetime.fromisoformat(value)
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)
    raise ValueError(f"not a timestamp: {value!r}")


def epoch_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def soql_datetime(moment: datetime) -> str:
    """SOQL datetime literal (unquoted, UTC, with milliseconds)."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
