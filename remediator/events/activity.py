"""`remediator activity`: per account, who did what, from where, and what failed, over a window.

Reaches each account once, reads the window's events from the source, summarises them per principal,
and lists the IAM users and roles with no event at all (`inactive`). Sources: `lookup` (LookupEvents,
the last 90 days); `s3` (the trail's log files in its bucket, any window the bucket keeps: `archive.py`);
`auto` takes lookup when the window fits in 90 days, else s3.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from remediator import timeutil
from remediator.aws.context import ReadContext
from remediator.aws.reads import authorization_details
from remediator.aws.session import AccountSession
from remediator.errors import ConfigError, RemediatorError
from remediator.events.archive import archive_activity
from remediator.events.lookup import WINDOW_DAYS, Coverage, lookup_events
from remediator.events.summary import Principal, summarise
from remediator.model import Account
from remediator.planner import reach
from remediator.roles import SERVICE_ROLE_PATH

SOURCES = ("auto", "lookup", "s3")
_DAYS = re.compile(r"([0-9]{1,5})d", re.ASCII)


@dataclass(frozen=True)
class Window:
    start: datetime
    end: datetime

    @classmethod
    def parse(cls, since: str | None, until: str | None, now: datetime | None = None) -> Window:
        """`--since 30d` (days before now) or a date/time; `--until` a date/time (default now)."""
        now = now or timeutil.now()
        end = _moment(until, "--until") if until else now
        if since is None:
            start = end - timedelta(days=30)
        elif match := _DAYS.fullmatch(since):
            start = now - timedelta(days=int(match.group(1)))
        else:
            start = _moment(since, "--since")
        if start >= end:
            raise ConfigError(f"--since {since!r} is not before --until: the window is empty")
        return cls(start, end)

    def to_dict(self) -> dict[str, str]:
        return {"start": _iso(self.start), "end": _iso(self.end)}


def _moment(value: str, option: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(f"{option} {value!r}: give a date (2026-11-01), a time (2026-11-01T12:00:00Z) or Nd")
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def choose_source(source: str, window: Window, now: datetime | None = None) -> str:
    """auto → lookup when the window fits in LookupEvents' 90 days, else the trail's S3 archive."""
    now = now or timeutil.now()
    reachable = window.start >= now - timedelta(days=WINDOW_DAYS)
    chosen = ("lookup" if reachable else "s3") if source == "auto" else source
    if chosen == "lookup" and not reachable:
        raise ConfigError(
            f"--source lookup reaches back {WINDOW_DAYS} days only, and the window starts {_iso(window.start)}:"
            " shorten --since, or read the trail's archive (--source s3)"
        )
    return chosen


@dataclass
class AccountActivity:
    account: Account
    source: str
    window: Window
    coverage: Coverage = field(default_factory=Coverage)
    principals: list[Principal] = field(default_factory=list)
    inactive: list[str] = field(default_factory=list)
    error: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.account.name,
            "account_id": self.account.account_id,
            "source": self.source,
            "window": self.window.to_dict(),
            "coverage": {
                "regions": self.coverage.regions,
                "complete": self.coverage.complete and not self.error,
                "notes": self.coverage.notes,
                "calls": self.coverage.calls,
            },
            "principals": [p.to_dict() for p in self.principals],
            "inactive": self.inactive,
            **({"error": self.error} if self.error else {}),
        }


def account_activity(
    account: Account,
    window: Window,
    source: str,
    principals: set[str] | None = None,
    progress: Callable[[str], None] | None = None,
) -> AccountActivity:
    result = AccountActivity(account, source, window)
    result.coverage.progress = progress
    result.coverage.say(f"{account.name}: reading {source} events, {window.start:%Y-%m-%d} to {window.end:%Y-%m-%d}")
    try:
        ctx = ReadContext(reach(AccountSession(account, read_only=True)))
        if result.account.account_id is None:
            result.account = replace(account, account_id=ctx.session.identity().get("Account"))
        everyone = read_activity(ctx, window, source, result.coverage)
        result.principals = [p for p in everyone if not principals or p.arn in principals]
        result.inactive = _inactive(ctx, {p.arn for p in everyone}, principals)
        events = sum(p.events for p in everyone)
        result.coverage.say(f"{account.name}: {events} event(s), {len(everyone)} principal(s)")
    except RemediatorError as exc:
        result.error = str(exc)
        result.coverage.complete = False
    result.coverage.notes.append(
        "the trail's archive holds what its event selectors log: data events (S3 objects, ...) only if it logs them"
        if source == "s3"
        else "LookupEvents shows management events only: data events (S3 objects, ...) are not here"
    )
    return result


def read_activity(ctx: ReadContext, window: Window, source: str, coverage: Coverage) -> list[Principal]:
    """Per principal, the window's events from the chosen source (`choose_source` picked it), deduplicated.
    Both sources normalise into `record.Event` and summarise with `summary.Summariser`: everything after
    reading is source-blind."""
    if source == "lookup":
        return summarise(lookup_events(ctx, window.start, window.end, coverage))
    if source == "s3":
        return archive_activity(ctx, window, coverage)
    raise ConfigError(f"unknown event source {source!r}")


def _inactive(ctx: ReadContext, seen: set[str], only: set[str] | None) -> list[str]:
    """IAM users and roles with no event in the window (service-linked roles act through their service)."""
    details = authorization_details(ctx)
    arns = [u["Arn"] for u in details["UserDetailList"]]
    arns += [r["Arn"] for r in details["RoleDetailList"] if not str(r.get("Path", "")).startswith(SERVICE_ROLE_PATH)]
    return sorted(a for a in arns if a not in seen and (not only or a in only))


def activity(
    accounts: list[Account],
    window: Window,
    source: str,
    principals: list[str],
    forks: int = 5,
    progress: Callable[[str], None] | None = None,
) -> list[AccountActivity]:
    """Every account's activity; `progress` hears how a long run is going (one line at a time)."""
    only = set(principals) or None
    with ThreadPoolExecutor(max_workers=max(1, forks)) as pool:
        return list(pool.map(lambda a: account_activity(a, window, source, only, progress), accounts))
