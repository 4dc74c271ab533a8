"""Who asked for long role sessions: the AssumeRole callers a lower MaxSessionDuration would refuse.

A role's MaxSessionDuration caps the `DurationSeconds` a caller may ask of AssumeRole; a request above the
cap fails. Before `iam_role` or `iam_roles` lowers a role's cap, their `read` looks up the account's
AssumeRole events of the last 90 days (SPEC: "Lowering a role's MaxSessionDuration") and `plan` names
each caller that asked for more than the new cap (`impacted`).

Where the events are: AssumeRole is an STS event. Requests to STS's global endpoint (sts.amazonaws.com)
are recorded in us-east-1; requests to a regional STS endpoint (sts.<region>.amazonaws.com) are recorded
in that region. So the look-up reads us-east-1 and the account's own region (the inventory's `region`)
and no other region: a caller that uses a third region's STS endpoint is not seen.

How: one LookupEvents query per region (paged, 50 events a page) with the one lookup attribute
EventName=AssumeRole, and the roles matched locally: never one query per role. The events are cached per
account for the run (`ctx.settled_fact`), so the `iam_role` and `iam_roles` tasks of one run share one look-up.

What counts: a successful AssumeRole request (a failed one got no session, so a lower cap takes nothing
from it) whose `durationSeconds` is above the new cap; an absent `durationSeconds` is AWS's default,
3600 seconds. AssumeRoleWithSAML and AssumeRoleWithWebIdentity requests are not looked up.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from remediator import timeutil
from remediator.aws.context import ReadContext
from remediator.errors import AwsError, TaskFailed
from remediator.events.lookup import GLOBAL_REGION, WINDOW_DAYS, Coverage, lookup_events
from remediator.events.record import Event, parse_time
from remediator.facts import Fact, key

DEFAULT_DURATION = 3600  # what AssumeRole grants when durationSeconds is absent
ASSUME_ROLE = {"AttributeKey": "EventName", "AttributeValue": "AssumeRole"}
SKIP_HINT = "check_callers: false skips the look-up"


@dataclass(frozen=True)
class AssumeRoleCall(Fact):
    """One AssumeRole request as a module's `current["callers"]` holds it (a plan case gives these)."""

    principal: str = field(metadata=key("Principal"))  # as `record.attribute` names the caller
    role_arn: str = field(metadata=key("RoleArn"))  # the role asked for
    duration: int | None = field(metadata=key("DurationSeconds"))  # None: absent, which means 3600
    time: str = field(metadata=key("EventTime"))  # ISO 8601, UTC

    @classmethod
    def of(cls, event: Event) -> AssumeRoleCall:
        return cls(event.principal, event.role_arn or "", event.duration, timeutil.iso(event.time) or "")


@dataclass(frozen=True)
class Impact:
    """One caller of one role that asked for more than the new cap: its largest request and the last one."""

    principal: str
    role_arn: str
    requested: int  # the most seconds it asked for
    last: datetime  # its last request above the cap

    def describe(self) -> str:
        when = self.last.isoformat().replace("+00:00", "Z")
        return f"{self.principal} asked {self.role_arn} for {self.requested} seconds (last {when})"


@dataclass(frozen=True)
class _Lookup:
    events: tuple[Event, ...] = ()
    error: str = ""  # why the look-up failed; cached too, so a second task does not ask again


def assume_role_callers(ctx: ReadContext, *, days: int = WINDOW_DAYS) -> list[Event]:
    """The account's successful AssumeRole events of the last `days` days (at most 90, LookupEvents' reach),
    from us-east-1 and the account's region, oldest first; one look-up per account and phase.

    Raises TaskFailed when LookupEvents fails, saying why and that `check_callers: false` skips it."""
    found = ctx.settled_fact(f"assume_role_callers:{days}", lambda c: _look_up(c, days))
    if found.error:
        raise TaskFailed(found.error)
    return list(found.events)


def current_callers(ctx: ReadContext, roles: Iterable[str], cap: int) -> dict[str, Any]:
    """What a module's `read` adds to `current` before lowering these roles (ARNs) to `cap`:
    `{"callers": [AssumeRoleCall, ...]}`, or `{"callers_error": why}` when the look-up failed. `plan`
    raises the error (TaskFailed), so a re-read that only checks staleness (the applier's, rollback's)
    is never stopped by LookupEvents."""
    try:
        return {"callers": requests_above(assume_role_callers(ctx), roles, cap)}
    except TaskFailed as exc:
        return {"callers_error": str(exc)}


def regions(ctx: ReadContext) -> list[str]:
    """Where AssumeRole events are recorded: us-east-1 (STS's global endpoint) and the account's region
    (its regional STS endpoint)."""
    return sorted({GLOBAL_REGION, ctx.account.region or GLOBAL_REGION})


def _look_up(ctx: ReadContext, days: int) -> _Lookup:
    end = timeutil.now()
    start = end - timedelta(days=min(days, WINDOW_DAYS))
    where = regions(ctx)
    try:
        events = lookup_events(ctx, start, end, Coverage(), attribute=ASSUME_ROLE, regions=where)
    except AwsError as exc:
        if exc.code.startswith("AccessDenied"):
            return _Lookup(
                error=f"cannot name the callers that asked for longer role sessions: cloudtrail:LookupEvents is"
                f" denied to the runner ({exc.code}: {exc.aws_message}); grant it cloudtrail:LookupEvents in"
                f" {' and '.join(where)}, or set check_callers: false to lower MaxSessionDuration without the"
                " look-up"
            )
        return _Lookup(error=f"cannot name the callers that asked for longer role sessions: {exc} ({SKIP_HINT})")
    return _Lookup(tuple(e for e in events if e.name == "AssumeRole" and not e.error_code and e.role_arn))


def requests_above(events: Iterable[Event], roles: Iterable[str], cap: int) -> list[AssumeRoleCall]:
    """What `read` puts in `current["callers"]`: the requests for these roles (ARNs) above `cap`, the
    last one of each principal, role and duration only (all `impacted` needs, and small)."""
    targets = {_role_key(arn) for arn in roles}
    latest: dict[tuple[str, str, int | None], Event] = {}
    for event in events:
        if _requested(event.duration) <= cap or _role_key(event.role_arn or "") not in targets:
            continue
        slot = (event.principal, event.role_arn or "", event.duration)
        if slot not in latest or latest[slot].time < event.time:
            latest[slot] = event
    ordered = sorted(latest.values(), key=lambda e: (e.role_arn or "", e.principal, e.time))
    return [AssumeRoleCall.of(e) for e in ordered]


def impacted(events: Iterable[Any], role_arn_or_name: str, cap: int) -> list[Impact]:
    """The callers of one role (its ARN, or its name for any account) that asked for more than `cap`
    seconds: one per principal and role, with its largest request and its last time. Pure.

    `events` are `record.Event`s or `AssumeRoleCall`s; failed requests (an `error_code`) are left out."""
    found: dict[tuple[str, str], Impact] = {}
    for event in events:
        if getattr(event, "error_code", None) or getattr(event, "name", "AssumeRole") != "AssumeRole":
            continue
        requested = _requested(event.duration)
        if requested <= cap or not _same_role(event.role_arn, role_arn_or_name):
            continue
        when = parse_time(event.time)
        slot = (event.principal, event.role_arn)
        seen = found.get(slot)
        if seen is None:
            found[slot] = Impact(event.principal, event.role_arn, requested, when)
        else:
            found[slot] = Impact(seen.principal, seen.role_arn, max(seen.requested, requested), max(seen.last, when))
    return sorted(found.values(), key=lambda i: (i.role_arn, i.principal))


def _requested(duration: int | None) -> int:
    return DEFAULT_DURATION if duration is None else int(duration)


def _role_key(arn_or_name: str) -> tuple[str | None, str]:
    """(account or None, name casefolded): `arn:aws:iam::ACCOUNT:role/PATH/NAME` or a bare name."""
    if not arn_or_name.startswith("arn:"):
        return None, arn_or_name.casefold()
    parts = arn_or_name.split(":", 5)
    if len(parts) < 6 or not parts[5].startswith("role/"):
        return "", ""  # not a role's ARN: matches nothing
    return parts[4], parts[5].rsplit("/", 1)[-1].casefold()


def _same_role(requested: str | None, target: str) -> bool:
    """Whether an AssumeRole roleArn names the target role (names are case-insensitive; a name alone
    matches that name in any account, an ARN only in its own)."""
    if not requested:
        return False
    account, name = _role_key(requested)
    want_account, want_name = _role_key(target)
    if not name or name != want_name:
        return False
    return want_account is None or account == want_account
