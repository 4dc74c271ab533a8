"""Dates as AWS returns them (datetimes from boto3, ISO strings from plan files), in one UTC form."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any


def now() -> datetime:
    """The current moment, in UTC. Modules read time only through this, so tests can pin the clock."""
    return datetime.now(UTC)


def ago(moment: datetime | date, reference: datetime) -> str:
    """Evidence in one date format for every module: '2026-06-01 (182 days ago)'."""
    day = moment.date() if isinstance(moment, datetime) else moment
    days = (reference.date() - day).days if not isinstance(moment, datetime) else (reference - moment).days
    return f"{day.isoformat()} ({'today' if days == 0 else '1 day ago' if days == 1 else f'{days} days ago'})"


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
