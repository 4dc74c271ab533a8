"""iam_access_keys: key hygiene judged per key, never per user.

Planning costs at most one call per user holding a candidate key, plus a constant, never one per user:

1. the credential report (one bulk read, shared) names the CANDIDATE users: a row with an active key not
   used (or, never used, not created) within `unused_days`, an active key older than `max_age_days`, or
   more active keys than `max_active_per_user`. AWS may serve a report up to four hours old, and its
   dates only ever lag (a key looks older or less used than it is), so it finds candidates and plans,
   and never decides alone what is written (step 4);
2. in `deactivate`/`delete` mode, GetAccountAuthorizationDetails (one bulk read, shared) gives the users
   carrying `remediator:deactivated:<AccessKeyId>` tags: keys remediator deactivated. Only a user with a
   key due for deletion (`delete_after_days`) is a candidate for that: a key remediator deactivated and not
   yet due breaks no rule, and nothing is read for it;
3. ListAccessKeys for the candidate users only (a few at a time, `keys.concurrently`). Each key takes its
   last use from its credential-report slot (matched by creation time); only a key without one is read
   live (GetAccessKeyLastUsed), and so is a key whose rotation is enforced (what switching it off breaks
   is named from a live read). A key younger than every window is not read at all;
4. a change decided on the report's dates says so ("to confirm at apply"): its before-image holds that last
   use, and the applier's re-read confirms it live just before writing, key by key (`resource_state`, through
   the `keys.LiveKeys` that `read` puts in `current`). A key used since is stale: skipped, never changed.

`read` returns the moment of reading (`now`), the run's own access key ids (the signing key, and the key
that assumed the run's role) and the candidate users as `keys.KeyHolder` facts (their keys `keys.AccessKey`),
so `plan` is pure; `load_current` builds the same from a plan case's JSON. Each key
is one change or one finding with its evidence. A key is only ever changed for what it matches itself
(Cloud Custodian's #5583 disabled users' other keys); the key the run signs with is never changed but
reported with the reason.

A deactivation is two writes, the dated tag first (`keys.deactivate_calls`): a run killed between them leaves
an active key carrying the tag, and the next run completes the change (the tag is not written again when it
already holds today's date). An inactive key without the tag is not dated, whatever the rules say of it: no
run of remediator leaves one, so it was switched off by someone else (or by a remediator that wrote the tag
second), and dating it now would start `delete_after_days`' clock on a key that remediator never deactivated
and whose owner may keep it switched off on purpose. Such keys are left alone, as before.

Age alone is only reported by default: switching off a key in use breaks whoever uses it. `enforce_rotation`
lets an organisation that must rotate act anyway, on keys older than `max_age_days` + `rotation_grace_days`;
such a key's last use is always read live, the change names what breaks, and its before-image leaves the
last use out (a key in use is used again between plan and apply, and the decision never depended on it).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from remediator import changecheck, controls, selection, timeutil
from remediator.aws.context import ReadContext
from remediator.aws.reads import authorization_details
from remediator.changes import ChangeBuilder
from remediator.credreport import KeyRow, UserRow, credential_report
from remediator.errors import ArgError, AwsError, RemediatorError
from remediator.identity import run_identity
from remediator.keys import (
    DEACTIVATED_TAG_PREFIX,
    AccessKey,
    KeyHolder,
    LiveKeys,
    concurrently,
    deactivate_calls,
    deactivated_keys,
    delete_calls,
    last_used,
    list_keys,
)
from remediator.model import Change, Finding
from remediator.registry import Module, PlanResult, literal, register
from remediator.timeutil import iso, parse_time

UNUSED_CONTROLS = controls.of("unused_credentials")
ONE_KEY_CONTROLS = controls.of("one_active_key")
ROTATION_CONTROLS = controls.of("key_rotation")
ACTIONS = ("report", "deactivate", "delete")
RULE_OPTIONS = ("unused_days", "max_age_days", "max_active_per_user", "delete_after_days")
DEFAULT_GRACE_DAYS = 14
# A sweep that deactivates or deletes stops above this many changes unless the task sets max_changes.
LIVE, REPORT = "GetAccessKeyLastUsed", "credential report"
# What a change decided on the credential report's dates says (in its reason, so in plan files too).
TO_CONFIRM = (
    "Last use from the credential report, to confirm at apply: GetAccessKeyLastUsed is read just before the"
    " change is written, and a key used since is skipped as stale"
)
# resource_state's LastUsedDate for a key whose live last use could not be read: never equal to a before-image.
UNCONFIRMED = "not confirmed: "

log = logging.getLogger("remediator.iam_access_keys")


def selected(user: str, args: dict[str, Any]) -> bool:
    """include/exclude: user name globs."""
    return selection.picks(args, user)


def _day(value: str | None) -> date | None:
    """A deactivation tag's ISO date (a full timestamp is accepted too); None when unreadable."""
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        return None


def _time(value: str | None) -> datetime | None:
    return parse_time(value) if value else None


@dataclass(frozen=True)
class Rules:
    """The task's rules at one moment: shared by read (what to read live) and plan (what to do)."""

    now: datetime
    action: str
    unused_days: int | None
    max_age_days: int | None
    max_active: int | None
    delete_after_days: int | None
    enforce_rotation: bool = False
    grace_days: int = DEFAULT_GRACE_DAYS

    @classmethod
    def of(cls, args: dict[str, Any], now: datetime) -> Rules:
        return cls(
            now,
            args.get("action", "report"),
            args.get("unused_days"),
            args.get("max_age_days"),
            args.get("max_active_per_user"),
            args.get("delete_after_days"),
            args.get("enforce_rotation") is True,
            args.get("rotation_grace_days", DEFAULT_GRACE_DAYS),
        )

    @property
    def destructive(self) -> bool:
        return self.action != "report"

    def _cutoff(self, days: int | None) -> datetime | None:
        return None if days is None else self.now - timedelta(days=days)

    @property
    def unused_cutoff(self) -> datetime | None:
        return self._cutoff(self.unused_days)

    @property
    def rotation_cutoff(self) -> datetime | None:
        return self._cutoff(self.max_age_days)

    def older_than(self, created: datetime | None, cutoff: datetime | None) -> bool:
        # A key whose creation date is unknown is treated as old: it is then read live, never assumed young.
        return cutoff is not None and (created is None or created < cutoff)

    def row_is_candidate(self, row: UserRow) -> bool:
        """Could this credential-report row hold a key that breaks a rule? (The report only ever lags.)"""
        active = row.active_keys
        if self.max_active is not None and len(active) > self.max_active:
            return True
        for key in active:
            last = key.last_used or key.last_rotated
            if self.older_than(last, self.unused_cutoff):
                return True
            if self.older_than(key.last_rotated, self.rotation_cutoff):
                return True
        return False

    def enforced_from(self, created: datetime | None) -> datetime | None:
        """When a key created then is rotated by force; None when rotation is not enforced (or age unknown)."""
        if not (self.enforce_rotation and self.destructive) or self.max_age_days is None or created is None:
            return None
        return created + timedelta(days=self.max_age_days + self.grace_days)

    def enforced(self, created: datetime | None) -> bool:
        due = self.enforced_from(created)
        return due is not None and due < self.now

    def deletable_mark(self, day: date | None) -> bool:
        if self.delete_after_days is None or not self.destructive or day is None:
            return False
        return day <= (self.now - timedelta(days=self.delete_after_days)).date()


def _slot(row: UserRow | None, created: datetime | None) -> KeyRow | None:
    """The report's slot for a live key: the one whose last_rotated is the key's creation (to the second).
    Two keys made within the same second match two slots: either serves when they report the same last use
    (the same evidence, whichever key is which); when they differ, no slot is given (the key is read live)."""
    if row is None or created is None:
        return None
    found = [k for k in row.keys if k.last_rotated is not None and abs((k.last_rotated - created).total_seconds()) < 1]
    if not found:
        return None
    uses = {(k.last_used, k.last_used_region, k.last_used_service) for k in found}
    return found[0] if len(uses) == 1 else None


def _last_use_source(rules: Rules, key: AccessKey, crowded: bool, marks: dict[str, str], slot: Any) -> str | None:
    """Where a key's last use comes from while planning: REPORT (its report slot), LIVE (no slot, or enforced
    rotation), or None (no rule can match it: not read). A change decided on REPORT is confirmed live at apply."""
    created = _time(key.create_date)
    from_report = REPORT if slot is not None else LIVE
    if key.active:
        if rules.enforced(created):
            return LIVE  # acted on even if in use: what breaks is named from a live read
        if crowded or rules.older_than(created, rules.unused_cutoff):
            return from_report
        if rules.older_than(created, rules.rotation_cutoff):
            return from_report  # evidence only: rotation is judged on creation
        return None
    if key.key_id in marks and rules.deletable_mark(_day(marks[key.key_id])):
        return from_report
    return None


def _with_last_use(key: AccessKey, source: str | None, live: dict[str, Any] | None, slot: Any) -> AccessKey:
    """The listed key with its last use from `source`: GetAccessKeyLastUsed's answer, or the report's slot."""
    if source == LIVE and live is not None:
        when, service, region = live["LastUsedDate"], live["ServiceName"], live["Region"]
    elif source == REPORT and slot is not None:
        when, service, region = iso(slot.last_used), slot.last_used_service, slot.last_used_region
    else:
        when = service = region = None
    return replace(
        key, last_used_date=when, last_used_service=service, last_used_region=region, last_used_source=source
    )


def to_the_minute(value: str | None) -> str | None:
    """A last-use date as staleness compares it: to the minute. AWS records a key's first use in any 15
    minutes, the same moment in the credential report and in GetAccessKeyLastUsed, but the two may print it
    with different precision (the emulator: seconds in the report, microseconds live)."""
    if value is None or value.startswith(UNCONFIRMED):
        return value
    return iso(parse_time(value).replace(second=0, microsecond=0))


def state(key: AccessKey, marks: dict[str, str], *, last_use: bool = True) -> dict[str, Any]:
    """What a change to one key depends on (JSON-friendly): compared with before-images for staleness.
    Without `last_use` for a change decided on age alone, which a later use of the key must not make stale."""
    fields = ("Status", "CreateDate", "LastUsedDate") if last_use else ("Status", "CreateDate")
    image = key.image(*fields)
    if last_use:
        image["LastUsedDate"] = to_the_minute(image["LastUsedDate"])
    return {**image, "DeactivatedOn": marks.get(key.key_id)}


def evidence(user: str, key: AccessKey, now: datetime) -> str:
    """user, key id, created, last used (days, service, region)."""
    created = _time(key.create_date)
    parts = [
        f"user {user}",
        f"key {key.key_id}",
        f"created {timeutil.ago(created, now)}" if created else "created ?",
    ]
    source = key.last_used_source
    used = _time(key.last_used_date)
    if source is None:
        parts.append("last use not read")
    elif used is None:
        parts.append("never used" + (" (credential report)" if source == REPORT else ""))
    else:
        service, region = key.last_used_service, key.last_used_region
        via = (f" via {service}" if service else "") + (f" in {region}" if region else "")
        parts.append(f"last used {timeutil.ago(used, now)}{via}" + (" (credential report)" if source == REPORT else ""))
    return ", ".join(parts)


def _to_confirm(key: AccessKey) -> str:
    """The note a change decided on the report's last use carries (its before-image holds that last use)."""
    return f". {TO_CONFIRM}" if key.last_used_source == REPORT else ""


def breaks(key: AccessKey, now: datetime) -> str:
    """What switching the key off breaks, from its last use: when, by which service, in which region."""
    if key.last_used_source is None:
        return "whatever still signs with it (its last use was not read)"
    used = _time(key.last_used_date)
    if used is None:
        return "nothing on record (never used)"
    service, region = key.last_used_service, key.last_used_region
    by = (f" by {service}" if service else "") + (f" in {region}" if region else "")
    return f"whatever still signs with it, last used {timeutil.ago(used, now)}{by}"


def until(moment: datetime, now: datetime) -> str:
    """A coming date as evidence: '2026-06-15 (in 14 days)'."""
    days = (moment.date() - now.date()).days
    when = "today" if days <= 0 else "tomorrow" if days == 1 else f"in {days} days"
    return f"{moment.date().isoformat()} ({when})"


@register
class AccessKeys(Module):
    name = "iam_access_keys"
    destructive_actions = ("deactivate", "delete")
    summary = (
        "Sweep access keys, judged per key: report (or deactivate, or delete) keys unused for N days, report keys"
        " due for rotation (or enforce it), keep at most N active keys per user, delete keys remediator"
        " deactivated long ago."
    )
    args_schema = {
        "properties": {
            "unused_days": {
                "type": "integer",
                "minimum": 1,
                "description": "an active key not used within this many days (never used: counted from its creation)",
            },
            "max_age_days": {
                "type": "integer",
                "minimum": 1,
                "description": "rotation due: active keys older than this are reported (AWS cannot rotate for you);"
                " acted on only with enforce_rotation",
            },
            "max_active_per_user": {
                "type": "integer",
                "minimum": 1,
                "maximum": 2,
                "description": "active keys a user may hold; with deactivate/delete the least recently used extra"
                " keys are deactivated",
            },
            "action": {
                "enum": list(ACTIONS),
                "description": "report (default: findings only), deactivate (reversible), or delete unused keys and,"
                " with enforce_rotation, keys past rotation (cannot be undone)",
            },
            "delete_after_days": {
                "type": "integer",
                "minimum": 1,
                "description": "delete keys remediator deactivated at least this long ago, still inactive and"
                " unused since",
            },
            "enforce_rotation": {
                "type": "boolean",
                "default": False,
                "description": "default false: age alone is only reported. true (needs max_age_days and action"
                " deactivate or delete): keys older than max_age_days + rotation_grace_days are deactivated or"
                " deleted even if in use; the change names what breaks (last use, service, region)",
            },
            "rotation_grace_days": {
                "type": "integer",
                "minimum": 0,
                "default": DEFAULT_GRACE_DAYS,
                "description": f"with enforce_rotation: days past max_age_days a key is only reported, with the"
                f" date enforcement starts (default {DEFAULT_GRACE_DAYS})",
            },
            **selection.options("user name"),
        },
    }
    permissions = {
        "read": [
            "iam:GenerateCredentialReport",
            "iam:GetCredentialReport",
            "iam:ListAccessKeys",
            "iam:GetAccessKeyLastUsed",
            "iam:GetAccountAuthorizationDetails",
            "sts:GetCallerIdentity",
        ],
        "write": ["iam:UpdateAccessKey", "iam:TagUser", "iam:UntagUser", "iam:DeleteAccessKey"],
    }
    example = """\
- name: Access keys (CIS 1.12-1.14) - unused 45 days, rotation 90 days, one active key per user
  iam_access_keys:
    unused_days: 45
    max_age_days: 90
    max_active_per_user: 1
    action: report            # deactivate: reversible (rollback re-activates); delete: cannot be undone
    # delete_after_days: 30   # with deactivate: delete keys remediator deactivated 30 days ago, unused since
    # enforce_rotation: true  # with deactivate/delete: act on keys older than max_age_days + 14, even in use
    # rotation_grace_days: 14 # with enforce_rotation: report only, and say when enforcement starts
    exclude: [break-glass-*]
"""

    def write_permissions(self, args: dict[str, Any]) -> list[str]:
        action = literal(args, "action", "report")
        deletes = ["iam:DeleteAccessKey", "iam:UntagUser"]  # a key remediator deactivated loses its tag too
        if action == "report":
            return []
        deactivates = ["iam:UpdateAccessKey", "iam:TagUser"]
        if action == "deactivate":
            return deactivates + (deletes if "delete_after_days" in args else [])
        if action == "delete":  # extra keys above max_active_per_user are deactivated, never deleted
            return deletes + (deactivates if "max_active_per_user" in args else [])
        return super().write_permissions(args)

    def validate(self, args: dict[str, Any]) -> None:
        action = args.get("action", "report")
        self._validate_enforcement(args, action)
        if not any(option in args for option in RULE_OPTIONS):
            raise ArgError(None, "name a rule: unused_days, max_age_days, max_active_per_user or delete_after_days")
        if "delete_after_days" in args and action == "report":
            raise ArgError(
                "delete_after_days", "deletes keys remediator deactivated: give action: deactivate (or delete)"
            )
        acting = ("unused_days", "max_active_per_user", "delete_after_days")
        if action != "report" and not any(o in args for o in acting) and args.get("enforce_rotation") is not True:
            raise ArgError(
                "action",
                f"action: {action} acts on unused_days, max_active_per_user or delete_after_days; max_age_days"
                " alone is only reported (AWS cannot rotate a key for you) unless enforce_rotation: true",
            )

    @staticmethod
    def _validate_enforcement(args: dict[str, Any], action: str) -> None:
        """enforce_rotation acts on age, so it needs an age and an action; a grace period alone does nothing."""
        if args.get("enforce_rotation") is True:
            if "max_age_days" not in args:
                raise ArgError(
                    "enforce_rotation",
                    "needs max_age_days: the age past which (plus rotation_grace_days) keys are rotated by force",
                )
            if action not in ("deactivate", "delete"):
                raise ArgError(
                    "enforce_rotation",
                    f"acts on keys, which action: {action} never does: give action: deactivate (reversible) or"
                    " delete (keys due for rotation are already reported)",
                )
        elif "rotation_grace_days" in args:
            raise ArgError(
                "rotation_grace_days", "does nothing without enforce_rotation: true (age alone is only reported)"
            )

    def read(self, ctx: ReadContext, args: dict[str, Any]) -> dict[str, Any]:
        now = timeutil.now()
        rules = Rules.of(args, now)
        marks: dict[str, dict[str, str]] = {}
        own: list[str] = []
        if rules.destructive:
            own = sorted(run_identity(ctx).key_ids)
            for detail in authorization_details(ctx)["UserDetailList"]:
                found = deactivated_keys(detail.get("Tags"))
                if found and selected(detail["UserName"], args):
                    marks[detail["UserName"]] = found
        rows = {r.user: r for r in credential_report(ctx) if not r.is_root and selected(r.user, args)}
        # A key remediator deactivated is a candidate only once it is due for deletion: until then it breaks
        # no rule, and nothing is read for it (a re-activated one is in the report like any active key).
        due = {name for name, found in marks.items() if any(rules.deletable_mark(_day(d)) for d in found.values())}
        names = sorted({name for name, row in rows.items() if rules.row_is_candidate(row)} | due)

        def holder(name: str) -> KeyHolder | None:
            return self._holder(ctx, rules, name, rows.get(name), marks.get(name, {}))

        users = [user for user in concurrently(holder, names) if user is not None]
        return {"now": now.isoformat(), "own_keys": own, "users": users, "live": LiveKeys(ctx, marks)}

    @staticmethod
    def _holder(
        ctx: ReadContext, rules: Rules, name: str, row: UserRow | None, user_marks: dict[str, str]
    ) -> KeyHolder | None:
        """One candidate user's keys: ListAccessKeys, and each key's last use from its report slot, or read live
        where there is none (None: the user was deleted since the report was made)."""
        try:
            listed = list_keys(ctx, name)
        except AwsError as exc:
            if exc.code == "NoSuchEntity":
                return None
            raise
        listed_keys = [AccessKey.listed(entry) for entry in listed]
        active = sum(1 for k in listed_keys if k.active)
        crowded = rules.max_active is not None and active > rules.max_active
        keys: list[AccessKey] = []
        for key in listed_keys:
            slot = _slot(row, _time(key.create_date))
            source = _last_use_source(rules, key, crowded, user_marks, slot)
            live = None
            if source == LIVE:
                try:
                    live = last_used(ctx, key.key_id)
                except AwsError as exc:
                    if exc.code == "NoSuchEntity":
                        continue  # deleted since it was listed
                    raise
            keys.append(_with_last_use(key, source, live, slot))
        return KeyHolder(name=name, deactivated_keys=user_marks, keys=tuple(keys))

    def load_current(self, data: dict[str, Any]) -> dict[str, Any]:
        return {**data, "users": [KeyHolder.from_json(u) for u in data["users"]]}

    def resource_state(self, current: dict[str, Any], resource: str) -> dict[str, Any] | None:
        """The key's state now, its last use confirmed live: the applier calls this just before it writes a
        change to the key, so a change planned on the credential report's dates (or on a live read made a
        while ago) is checked against GetAccessKeyLastUsed at that moment. One call per change; none for a
        key whose last use this read already took live."""
        user_name, _, key_id = resource.partition("/")
        live: LiveKeys | None = current.get("live")
        holder = next((u for u in current["users"] if u.name == user_name), None)
        if (holder is None or holder.find(key_id) is None) and live is not None:
            # Not among this read's candidates: a key remediator deactivated (a rollback), or one the report
            # no longer flags (used since?). Read it now rather than call it gone.
            try:
                holder = live.holder(user_name)
            except RemediatorError as exc:
                log.warning(
                    "access key %s of user %s: could not be read to confirm a change: %s", key_id, user_name, exc
                )
                return {"Status": f"{UNCONFIRMED}{exc}"}
        key = holder.find(key_id) if holder is not None else None
        if key is None or holder is None:
            return None
        if key.last_used_source != LIVE:
            key = self._confirmed(live, user_name, key)
            if key is None:
                return None
        return state(key, holder.deactivated_keys)

    @staticmethod
    def _confirmed(live: LiveKeys | None, user: str, key: AccessKey) -> AccessKey | None:
        """The key with its last use read live now (None: deleted since). Without a live reader (a plan case)
        the last use is marked unconfirmed, so a change that depends on it is stale, never applied unread."""
        if live is None:
            return replace(key, last_used_date=f"{UNCONFIRMED}no live reader", last_used_source=None)
        try:
            used = live.last_used(key.key_id)
        except RemediatorError as exc:
            log.warning(
                "access key %s of user %s: last use could not be read to confirm a change: %s", key.key_id, user, exc
            )
            return replace(key, last_used_date=f"{UNCONFIRMED}{exc}", last_used_source=None)
        if used is None:
            return None
        confirmed = _with_last_use(key, LIVE, used, None)
        planned, now_used = to_the_minute(key.last_used_date), to_the_minute(confirmed.last_used_date)
        if key.last_used_source == REPORT and planned != now_used:
            log.warning(
                "access key %s of user %s was used %s (GetAccessKeyLastUsed), after the credential report's %s that"
                " the plan relied on: a change planned on the report is stale and is not made",
                key.key_id,
                user,
                now_used,
                planned or "never used",
            )
        return confirmed

    def check_change(self, args: dict[str, Any], change: Change) -> str | None:
        """A plan file's change acts on the one key its resource names (`<user>/<key id>`): every call names
        that user and that key, and a tag it writes or removes is that key's deactivation date, so an edited
        call cannot switch off or delete another user's key."""
        return changecheck.key_problem(change, DEACTIVATED_TAG_PREFIX)

    def plan(self, args: dict[str, Any], current: dict[str, Any], scope: str) -> PlanResult:
        now = parse_time(current["now"])
        rules = Rules.of(args, now)
        # the signing key and, when the run assumed a role, the key that assumed it
        own = set(current.get("own_keys") or []) | ({current["own_key"]} if current.get("own_key") else set())
        build = ChangeBuilder(scope, self.name)
        changes: list[Change] = []
        findings: list[Finding] = []
        checked = users = 0
        for user in current["users"]:
            name = user.name
            if not selected(name, args):
                continue
            users += 1
            marks = user.deactivated_keys
            keys = sorted(user.keys, key=lambda k: (k.create_date or "", k.key_id))
            extras = self._extras(rules, keys, own, now)
            for key in keys:
                checked += 1
                change, finding = self._judge(rules, build, name, key, marks, extras, own, now)
                changes += [change] if change else []
                findings += [finding] if finding else []
        if changes:
            return PlanResult(changes, findings)
        told = f"{len(findings)} key(s) reported" if findings else "nothing to report"
        if not users:
            return PlanResult(findings=findings, noop_reason=f"no candidate key in the credential report: {told}")
        return PlanResult(
            findings=findings,
            noop_reason=f"{checked} candidate key(s) of {users} user(s) read live: none to change, {told}",
        )

    # -- per-key judgement ----------------------------------------------------------------------------

    @staticmethod
    def _extras(rules: Rules, keys: list[AccessKey], own: set[str], now: datetime) -> dict[str, int]:
        """Active keys above max_active_per_user, least recently used first (a never-used key counts from its
        creation; the key signing this run is in use now). AccessKeyId → the user's active key count."""
        active = [k for k in keys if k.active]
        if rules.max_active is None or len(active) <= rules.max_active:
            return {}
        if any(k.last_used_source not in (LIVE, REPORT) for k in active):
            return {}  # never choose on partial evidence

        def recency(key: AccessKey) -> tuple[datetime, str]:
            if key.key_id in own:
                return now, key.key_id
            moment = _time(key.last_used_date) or _time(key.create_date) or datetime.min.replace(tzinfo=UTC)
            return moment, key.key_id

        ordered = sorted(active, key=recency)
        return {k.key_id: len(active) for k in ordered[: len(active) - rules.max_active]}

    def _judge(
        self,
        rules: Rules,
        build: ChangeBuilder,
        user: str,
        key: AccessKey,
        marks: dict[str, str],
        extras: dict[str, int],
        own: set[str],
        now: datetime,
    ) -> tuple[Change | None, Finding | None]:
        key_id = key.key_id
        resource = f"{user}/{key_id}"
        proof = evidence(user, key, now)
        created = _time(key.create_date)
        used = _time(key.last_used_date)
        is_own = key_id in own

        if not key.active:
            day = _day(marks.get(key_id))
            if not (key_id in marks and rules.deletable_mark(day) and key.last_used_source in (LIVE, REPORT)):
                return None, None
            assert day is not None
            if used is not None and used.date() > day:
                return None, None  # used after remediator deactivated it: someone re-enabled it; leave it
            if is_own:
                return None, build.finding(
                    resource, "low", f"{self._what(user, key_id)}: due for deletion. {self._own()}. Evidence: {proof}"
                )
            reason = (
                f"deactivated by remediator on {timeutil.ago(day, now)}, delete after {rules.delete_after_days}"
                f" days; inactive and unused since. Evidence: {proof}{_to_confirm(key)}"
            )
            return self._delete(build, resource, user, key_id, state(key, marks), marks, reason), None

        rules_hit: list[tuple[str, tuple[str, ...], str]] = []  # (rule, controls, severity)
        unused = None
        # Unused is judged on live dates, or, in report mode, on the credential report's (read() decides).
        if rules.unused_days is not None and key.last_used_source in (LIVE, REPORT):
            cutoff = rules.unused_cutoff
            assert cutoff is not None
            if (used is not None and used < cutoff) or (used is None and rules.older_than(created, cutoff)):
                unused = f"unused: not used within {rules.unused_days} days"
                rules_hit.append((unused, UNUSED_CONTROLS, "medium"))
        extra = None
        if key_id in extras:
            extra = (
                f"one of {extras[key_id]} active keys of user {user}, above max_active_per_user"
                f" {rules.max_active}, and the least recently used"
            )
            rules_hit.append((extra, ONE_KEY_CONTROLS, "low"))
        rotation = self._rotation(rules, created, now)
        if rotation:
            rules_hit.append((rotation, ROTATION_CONTROLS, "medium"))
        if not rules_hit:
            return None, None

        text = "; ".join(r for r, _, _ in rules_hit)
        controls = tuple(c for _, cs, _ in rules_hit for c in cs)
        severity = "medium" if any(s == "medium" for _, _, s in rules_hit) else "low"
        enforced = rules.enforced(created)
        pending = rules.enforced_from(created) is not None and rotation is not None and not enforced
        acts = rules.destructive and (unused or extra or enforced)
        if not acts:
            then = f" What breaks then: {breaks(key, now)}." if pending else ""
            return None, build.finding(
                resource, severity, f"{self._what(user, key_id)}: {text}.{then} Evidence: {proof}", controls
            )
        if is_own:
            return None, build.finding(
                resource, "low", f"{self._what(user, key_id)}: {text}. {self._own()}. Evidence: {proof}", controls
            )
        reason = f"{text}. Evidence: {proof}{_to_confirm(key) if unused or extra else ''}"
        why, what_breaks = ("enforced rotation; ", f". What breaks: {breaks(key, now)}") if enforced else ("", "")
        # Age alone decided it: a use of the key between plan and apply must not make the change stale.
        before = state(key, marks, last_use=bool(unused or extra))
        if (unused or enforced) and rules.action == "delete":
            return self._delete(build, resource, user, key_id, before, marks, reason, why, what_breaks), None
        day = now.date().isoformat()
        calls, undo = deactivate_calls(user, key_id, day, tagged_on=marks.get(key_id))
        change = build.change(
            "disable",
            resource,
            before=before,
            after={"Status": "Inactive", "DeactivatedOn": day},
            calls=calls,
            undo=undo,
            summary=f"deactivate access key {key_id} of user {user} ({why}rollback re-activates it); its user's"
            f" other keys are left alone{what_breaks}",
            reason=reason,
        )
        return change, None

    @staticmethod
    def _rotation(rules: Rules, created: datetime | None, now: datetime) -> str | None:
        """The rotation rule's words for a key: due (reported), due with enforcement to come, or enforced."""
        if created is None or not rules.older_than(created, rules.rotation_cutoff):
            return None
        due = f"rotation due: older than {rules.max_age_days} days"
        start = rules.enforced_from(created)
        if start is None:
            return due
        if start < now:
            return (
                f"rotation enforced: older than {rules.max_age_days} days plus {rules.grace_days} days' grace"
                f" (enforced since {timeutil.ago(start, now)})"
            )
        act = "deleted" if rules.action == "delete" else "deactivated"
        return f"{due}; enforced rotation starts {until(start, now)}: it is then {act} even if in use"

    @staticmethod
    def _delete(
        build: ChangeBuilder,
        resource: str,
        user: str,
        key_id: str,
        before: dict[str, Any],
        marks: dict[str, str],
        reason: str,
        why: str = "",
        what_breaks: str = "",
    ) -> Change:
        return build.delete(
            resource,
            before=before,
            calls=delete_calls(user, key_id, tagged=key_id in marks),
            undo=None,
            summary=f"delete access key {key_id} of user {user} ({why}cannot be undone: a deleted key is gone for"
            f" good){what_breaks}",
            reason=reason,
        )

    @staticmethod
    def _what(user: str, key_id: str) -> str:
        return f"access key {key_id} of user {user}"

    @staticmethod
    def _own() -> str:
        return "Left alone: it is the key this run signs with (the run's own credentials are never changed)"
