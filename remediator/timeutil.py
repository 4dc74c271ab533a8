"""Dates as AWS returns them (datetimes from boto3, ISO strings from plan files), in one UTC form."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any


def iso(value: Any) -> str | None:
    """A datetime (or ISO string) as an ISO 8601 string in UTC; None stays None."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        value = parse_time(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat()


def parse_time(value: str) -> datetime:
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
