"""Aggregation, source-blind: events → per principal, what it did, from where, and what it was denied.

`actions` count successful events by IAM action (`s3:ListAllMyBuckets` for a `ListBuckets` event), never
by event name; a denied call is counted under `failures` with the action its message names, never as a
use. Other errors (`NoSuchEntity`, `TrailNotFoundException`) are neither uses nor denials.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from remediator.events import actions
from remediator.events.record import Event


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


@dataclass
class Failure:
    error_code: str
    action: str
    count: int = 0
    last: datetime | None = None


@dataclass
class Principal:
    arn: str
    type: str
    first_seen: datetime
    last_seen: datetime
    events: int = 0
    services: Counter[str] = field(default_factory=Counter)
    actions: Counter[str] = field(default_factory=Counter)
    source_ips: set[str] = field(default_factory=set)
    sessions: set[str] = field(default_factory=set)
    source_identities: set[str] = field(default_factory=set)
    failures: dict[tuple[str, str], Failure] = field(default_factory=dict)

    def add(self, what: Shown, count: int, first: datetime, last: datetime) -> None:
        """`count` events alike in everything the summary shows (`what`), from `first` to `last`."""
        _, _, session, source_identity, source, name, source_ip, error_code, error_message = what
        self.events += count
        self.first_seen = min(self.first_seen, first)
        self.last_seen = max(self.last_seen, last)
        action = actions.action_of(source, name)
        self.services[actions.service_of(action) if action else source.split(".", 1)[0]] += count
        if source_ip:
            self.source_ips.add(source_ip)
        if session:
            self.sessions.add(session)
        if source_identity:
            self.source_identities.add(source_identity)
        if actions.is_denial(error_code):
            needed = actions.denied_action(error_message, action) or f"{source}:{name}"
            failure = self.failures.setdefault((str(error_code), needed), Failure(str(error_code), needed))
            failure.count += count
            failure.last = last if failure.last is None else max(failure.last, last)
        elif error_code is None and action is not None:
            self.actions[action] += count

    def to_dict(self) -> dict[str, Any]:
        failures = sorted(self.failures.values(), key=lambda f: (-f.count, f.action))
        data: dict[str, Any] = {
            "arn": self.arn,
            "type": self.type,
            "first_seen": _iso(self.first_seen),
            "last_seen": _iso(self.last_seen),
            "events": self.events,
            "services": dict(sorted(self.services.items())),
            "actions": dict(sorted(self.actions.items())),
            "source_ips": sorted(self.source_ips),
            "failures": [
                {
                    "error_code": f.error_code,
                    "action": f.action,
                    "count": f.count,
                    "last": _iso(f.last) if f.last else None,
                }
                for f in failures
            ],
        }
        if self.sessions:
            data["sessions"] = sorted(self.sessions)
        if self.source_identities:
            data["source_identities"] = sorted(self.source_identities)
        if failures:
            # Advice only, never applied: the statement that would have allowed the denied calls.
            data["suggested_statement"] = {
                "Effect": "Allow",
                "Action": sorted({f.action for f in failures}),
                "Resource": "*",
            }
        return data


# Everything the summary shows of an event: principal, type, session, sourceIdentity, eventSource, eventName,
# source address, errorCode, errorMessage. Not its id, time or region.
Shown = tuple[str, str, str | None, str | None, str, str, str | None, str | None, str | None]


class Summariser:
    """Events → per-principal summaries, in two steps: events are first counted by what the summary shows
    of them (a few thousand distinct groups for millions of events: a tuple and a dict look-up an event),
    and each group is mapped to its IAM action and folded into its principal once, at the end. Groups of
    disjoint event sets (other processes, other sub-windows) merge by adding counts."""

    def __init__(self) -> None:
        self.groups: dict[Shown, list[Any]] = {}  # → [count, first time, last time]

    def add(self, event: Event, count: int = 1, first: datetime | None = None, last: datetime | None = None) -> None:
        """One event, or `count` events alike in everything but id and time, from `first` to `last`."""
        key = (
            event.principal, event.principal_type, event.session, event.source_identity,
            event.source, event.name, event.source_ip, event.error_code, event.error_message,
        )  # fmt: skip
        first = first or event.time
        last = last or event.time
        group = self.groups.get(key)
        if group is None:
            self.groups[key] = [count, first, last]
            return
        group[0] += count
        if first < group[1]:
            group[1] = first
        if last > group[2]:
            group[2] = last

    def merge(self, groups: dict[Shown, list[Any]]) -> None:
        for key, (count, first, last) in groups.items():
            group = self.groups.get(key)
            if group is None:
                self.groups[key] = [count, first, last]
            else:
                group[0] += count
                group[1] = min(group[1], first)
                group[2] = max(group[2], last)

    def events(self) -> int:
        return sum(group[0] for group in self.groups.values())

    def principals(self) -> list[Principal]:
        """Per principal, in order of activity (most events first)."""
        found: dict[str, Principal] = {}
        for key, (count, first, last) in self.groups.items():
            principal = found.get(key[0])
            if principal is None:
                principal = found[key[0]] = Principal(key[0], key[1], first, last)
            principal.add(key, count, first, last)
        return sorted(found.values(), key=lambda p: (-p.events, p.arn))


def summarise(events: Iterable[Event]) -> list[Principal]:
    """Per principal, in order of activity (most events first)."""
    summariser = Summariser()
    for event in events:
        summariser.add(event)
    return summariser.principals()
