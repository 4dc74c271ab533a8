"""Aggregation, source-blind: events → per principal, what it did, from where, and what it was denied.

`actions` count successful events by IAM action (`s3:ListAllMyBuckets` for a `ListBuckets` event), never
by event name; a denied call is counted under `failures` with the action its message names, never as a
use. Other errors (`NoSuchEntity`, `TrailNotFoundException`) are neither uses nor denials.
"""

from __future__ import annotations

from collections import Counter
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

    def add(self, event: Event) -> None:
        self.events += 1
        self.first_seen = min(self.first_seen, event.time)
        self.last_seen = max(self.last_seen, event.time)
        action = actions.action_of(event.source, event.name)
        self.services[actions.service_of(action) if action else event.source.split(".", 1)[0]] += 1
        if event.source_ip:
            self.source_ips.add(event.source_ip)
        if event.session:
            self.sessions.add(event.session)
        if event.source_identity:
            self.source_identities.add(event.source_identity)
        if actions.is_denial(event.error_code):
            needed = actions.denied_action(event.error_message, action) or f"{event.source}:{event.name}"
            failure = self.failures.setdefault((str(event.error_code), needed), Failure(str(event.error_code), needed))
            failure.count += 1
            failure.last = event.time if failure.last is None else max(failure.last, event.time)
        elif event.error_code is None and action is not None:
            self.actions[action] += 1

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


def summarise(events: list[Event]) -> list[Principal]:
    """Per principal, in order of activity (most events first)."""
    found: dict[str, Principal] = {}
    for event in events:
        principal = found.get(event.principal)
        if principal is None:
            principal = found[event.principal] = Principal(
                event.principal, event.principal_type, event.time, event.time
            )
        principal.add(event)
    return sorted(found.values(), key=lambda p: (-p.events, p.arn))
