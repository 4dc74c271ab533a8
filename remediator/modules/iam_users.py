"""iam_users: a sweep over every IAM user — unused users, console users without MFA, policies on users.

Reading follows the credential report's rule: the report (up to four hours old) finds CANDIDATES, live
per-user reads confirm them. Only users the report shows as unused (or that carry the quarantine tag, for
`delete_after_days`) get ListAccessKeys, GetAccessKeyLastUsed per key, and GetUser (live PasswordLastUsed),
and only when the task may change them (`action: report` reports from the report's evidence alone);
only users that will be deleted get the dependents' list calls (login profile, signing certificates, SSH
keys, service-specific credentials, MFA devices). The candidates are read a few at a time
(`keys.concurrently`), in a deterministic order. Everything else comes from the report and the shared
GetAccountAuthorizationDetails read.

`read` returns `now`, so `plan` stays pure and plan cases fix time. Each user in `current["users"]` is a
`users.User` fact (its keys `users.ReportedKey`, its dependents `users.Dependents`), built by the reader in
`remediator/users.py`; `load_current` builds the same from a plan case's JSON, whose form is:

    UserName, Arn, Path, CreateDate (ISO), Tags {key: value}, Groups [names], InlinePolicies [names],
    ManagedPolicies [ARNs], QuarantinePolicy (the deny-all inline policy is there), Console (has a
    password), MfaActive, PasswordLastUsed (ISO or None),
    Keys [{AccessKeyId (None when only the report was read), Status, CreateDate, LastUsedDate,
           LastUsedService}],
    Live (confirmed with live reads), Dependents (None, or the lists a deletion removes)

`disable` is reversible: the user's active keys are deactivated (each recorded in a
`remediator:deactivated:<AccessKeyId>` tag), an inline deny-all policy `remediator-quarantine` is put on
the user, and the tag `remediator:quarantined-at` = ISO date is set; undo re-activates exactly those keys
and removes the policy and the tag. Removing the console password (`remove_console_access`) is a change
of its own (address `.../<user>/console`) that cannot be undone, so the rest stays reversible.
"""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from typing import Any

from remediator import changecheck, controls, selection, timeutil
from remediator import userpolicies as user_policies
from remediator.aws.context import ReadContext
from remediator.changes import ChangeBuilder
from remediator.errors import ArgError, TaskFailed
from remediator.identity import run_identity
from remediator.keys import QUARANTINE_POLICY, QUARANTINE_TAG, concurrently, deactivate_calls
from remediator.model import ApiCall, Change, Finding
from remediator.registry import Module, PlanResult, literal, register
from remediator.timeutil import iso, parse_time
from remediator.users import (
    DELETE_WRITES,
    DEPENDENT_LISTS,
    Dependents,
    ReportedKey,
    User,
    confirm,
    delete_user_calls,
    dependents_text,
    plural,
    read_console,
    read_dependents,
    read_users,
)

QUARANTINE_DOCUMENT = {
    "Version": "2012-10-17",
    "Statement": [{"Sid": "RemediatorQuarantine", "Effect": "Deny", "Action": "*", "Resource": "*"}],
}
UNUSED_CONTROLS = controls.of("unused_credentials")
MFA_CONTROLS = controls.of("console_mfa")
CONSOLE_SUFFIX = "/console"
# What `disable` writes (undone by DeleteUserPolicy, UntagUser and UpdateAccessKey); a deletion's are DELETE_WRITES.
DISABLE_WRITES = ("iam:PutUserPolicy", "iam:UpdateAccessKey", "iam:TagUser")


# --- pure judgement -------------------------------------------------------------------------------------


def selected(user: User, args: dict[str, Any]) -> bool:
    """include/exclude: globs on the user's name, path, or path + name."""
    return selection.picks(args, user.name, user.path or "/")


def _when(value: str | None) -> datetime | None:
    return parse_time(value) if value else None


def last_activity(user: User) -> str | None:
    """The latest console sign-in or key use, as ISO, or None when there was none."""
    moments = [_when(user.password_last_used)] + [_when(k.last_used_date) for k in user.keys]
    known = [m for m in moments if m is not None]
    return iso(max(known)) if known else None


def _key_label(key: ReportedKey, index: int) -> str:
    return f"key {key.key_id}" if key.key_id else f"key {index + 1}"


def unused_evidence(user: User, now: datetime, days: int) -> str | None:
    """Why the user counts as unused for `days`, or None when it signed in, used a key, got a new key, or
    was created within the window."""
    cutoff = now - timedelta(days=days)
    created = _when(user.create_date)
    if created is None or created >= cutoff:
        return None
    parts = [f"created {timeutil.ago(created, now)}"]
    signed_in = _when(user.password_last_used)
    if signed_in is not None and signed_in >= cutoff:
        return None
    if signed_in is not None:
        parts.append(f"last console sign-in {timeutil.ago(signed_in, now)}")
    elif user.console:
        parts.append("console password never used")
    else:
        parts.append("no console sign-in")
    for index, key in enumerate(user.keys):
        used = _when(key.last_used_date)
        key_created = _when(key.create_date)
        label = _key_label(key, index)
        if used is not None:
            if used >= cutoff:
                return None
            service = f" via {key.last_used_service}" if key.last_used_service else ""
            parts.append(f"{label} last used {timeutil.ago(used, now)}{service}")
        else:
            if key_created is not None and key_created >= cutoff:
                return None  # a key made within the window, not used yet: someone means to use it
            parts.append(f"{label} never used")
    if not user.keys:
        parts.append("no access keys")
    return "; ".join(parts)


def quarantine_date(user: User) -> date | None:
    return _tag_date(user.quarantined_at)


def _tag_date(value: Any) -> date | None:
    """The date a quarantine tag's value holds (the ISO date `disable` wrote), or None."""
    if not value:
        return None
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        return None


def quarantine_status(user: User, now: datetime, days: int) -> tuple[str, str] | None:
    """For a quarantined user: ("due", why) when deletion is due, ("active", why) when it was used since
    its quarantine, ("waiting", why) otherwise; None when the user is not quarantined."""
    since = quarantine_date(user)
    if since is None:
        return None
    age = (now.date() - since).days
    activity = _when(last_activity(user))
    if activity is not None and activity.date() >= since:
        return "active", f"quarantined {since.isoformat()} but used since (last activity {timeutil.ago(activity, now)})"
    if age < days:
        return "waiting", f"quarantined {timeutil.ago(since, now)}, deletion after {days} days"
    quiet = "no activity since" if activity is None else f"no activity since (last {timeutil.ago(activity, now)})"
    return "due", f"quarantined {timeutil.ago(since, now)}, {quiet}"


def will_delete(user: User, args: dict[str, Any], now: datetime) -> bool:
    """Whether the plan deletes this (selected, not own) user: read() asks this before reading dependents."""
    action = args.get("action", "report")
    if action == "report":
        return False
    after = args.get("delete_after_days")
    status = quarantine_status(user, now, after) if after is not None else None
    if status is not None and status[0] == "due":
        return True
    days = args.get("unused_days")
    if status is not None and status[0] == "active":
        return False
    return action == "delete" and days is not None and unused_evidence(user, now, days) is not None


def active_key_ids(user: User) -> list[Any]:
    return [k.key_id for k in user.keys if k.active]


def state(user: User) -> dict[str, Any]:
    """The live fields a change to one user depends on (compared with its before-image for staleness)."""
    dependents = user.dependents.to_json() if user.dependents is not None else {}
    return {
        **user.image("UserName", "CreateDate"),
        "LastActivity": last_activity(user),
        "QuarantinePolicy": bool(user.quarantine_policy),
        "QuarantinedAt": user.quarantined_at,
        "ActiveKeys": active_key_ids(user),
        "Keys": [k.key_id for k in user.keys],
        "LoginProfile": bool(user.console),
        "Groups": sorted(user.groups),
        "InlinePolicies": sorted(user.inline_policies),
        "ManagedPolicies": sorted(user.managed_policies),
        **{name: dependents.get(name) for name in DEPENDENT_LISTS},
    }


def _disable_image(user: User) -> dict[str, Any]:
    full = state(user)
    return {k: full[k] for k in ("LastActivity", "QuarantinePolicy", "QuarantinedAt", "ActiveKeys")}


# --- the module -----------------------------------------------------------------------------------------


@register
class Users(Module):
    name = "iam_users"
    destructive_actions = ("disable", "delete")
    summary = (
        "Sweep every IAM user: report, disable (reversibly) or delete unused users; report console users"
        " without MFA and policies attached straight to users."
    )
    args_schema = {
        "properties": {
            "unused_days": {
                "type": "integer",
                "minimum": 1,
                "description": "unused = no console sign-in and no key use within this many days, created before",
            },
            "action": {
                "enum": ["report", "disable", "delete"],
                "description": "for unused users; default report. disable is reversible, delete is not",
            },
            "delete_after_days": {
                "type": "integer",
                "minimum": 1,
                "description": "delete users quarantined (by disable) at least this long ago with no activity since",
            },
            "remove_console_access": {
                "type": "boolean",
                "description": "with action disable: also delete the login profile (the password cannot be restored)",
            },
            "require_mfa_for_console": {
                "type": "boolean",
                "description": "report each user with a console password and no MFA device (CIS 1.10)",
            },
            "forbid_user_policies": {
                "type": "boolean",
                "description": "report each user with inline or attached policies (CIS 1.15)",
            },
            **selection.options("name/path"),
        },
    }
    permissions = {
        "read": [
            "iam:GenerateCredentialReport",
            "iam:GetCredentialReport",
            "iam:GetAccountAuthorizationDetails",
            "iam:GetUser",
            "iam:ListAccessKeys",
            "iam:GetAccessKeyLastUsed",
            "iam:GetLoginProfile",
            "iam:ListSigningCertificates",
            "iam:ListSSHPublicKeys",
            "iam:ListServiceSpecificCredentials",
            "iam:ListMFADevices",
            "sts:GetCallerIdentity",
        ],
        "write": [*DISABLE_WRITES, "iam:UntagUser", *DELETE_WRITES],  # DELETE_WRITES has DeleteUserPolicy
    }
    example = """\
- name: Quarantine users unused for 45 days (CIS 1.12); delete them 30 days later
  iam_users:
    unused_days: 45
    action: disable            # report (default) | disable | delete
    delete_after_days: 30
    require_mfa_for_console: true
    forbid_user_policies: true
    exclude: [break-glass]
"""

    def write_permissions(self, args: dict[str, Any]) -> list[str]:
        action = literal(args, "action", "report")
        if action == "report":
            return []
        if action == "disable":
            writes = list(DISABLE_WRITES)
            if "remove_console_access" in args:
                writes.append("iam:DeleteLoginProfile")
            return writes + (list(DELETE_WRITES) if "delete_after_days" in args else [])
        return list(DELETE_WRITES) if action == "delete" else super().write_permissions(args)

    def validate(self, args: dict[str, Any]) -> None:
        rules = ("unused_days", "delete_after_days", "require_mfa_for_console", "forbid_user_policies")
        if not any(args.get(r) for r in rules):
            raise ArgError(None, f"name a rule: {', '.join(rules)}")
        action = args.get("action", "report")
        if action != "report" and "unused_days" not in args and "delete_after_days" not in args:
            raise ArgError("action", f"action: {action} acts on unused users: give unused_days (or delete_after_days)")
        if args.get("remove_console_access") and action != "disable":
            raise ArgError(
                "remove_console_access", "goes with action: disable (delete removes the login profile anyway)"
            )

    def read(self, ctx: ReadContext, args: dict[str, Any]) -> dict[str, Any]:
        now = timeutil.now()
        own = run_identity(ctx).user_name
        users = read_users(ctx)
        # The candidates' live reads are independent: a few users at a time, each result back in its place.
        todo = [i for i, user in enumerate(users) if self._needs_live(args, user, now, own)]
        confirmed = concurrently(lambda i: self._confirmed(ctx, args, users[i], now), todo)
        for i, user in zip(todo, confirmed, strict=True):
            users[i] = user
        return {"now": now.isoformat(), "own_user": own, "users": users}

    @staticmethod
    def _needs_live(args: dict[str, Any], user: User, now: datetime, own: str | None) -> bool:
        """A candidate the task may change (not the run's own user): the report's evidence is confirmed live.
        In report mode nothing is: findings only, and the report's evidence (hours old at most) is enough."""
        days, after = args.get("unused_days"), args.get("delete_after_days")
        if args.get("action", "report") == "report":
            return False
        if not selected(user, args) or (own and user.name.casefold() == own.casefold()):
            return False
        return (days is not None and unused_evidence(user, now, days) is not None) or (
            after is not None and quarantine_date(user) is not None
        )

    def _confirmed(self, ctx: ReadContext, args: dict[str, Any], user: User, now: datetime) -> User:
        """A candidate as the plan needs it: confirmed live, with its dependents when it will be deleted."""
        days = args.get("unused_days")
        user = confirm(ctx, user)
        if will_delete(user, args, now):
            return read_dependents(ctx, user)
        if args.get("remove_console_access") and days is not None and unused_evidence(user, now, days):
            return read_console(ctx, user)
        return user

    def load_current(self, data: dict[str, Any]) -> dict[str, Any]:
        return {**data, "users": [User.from_json(u) for u in data["users"]]}

    def check_change(self, args: dict[str, Any], change: Change) -> str | None:
        """A sweep's change follows from the args, the before-image and the day its tags carry: a disable is
        exactly the quarantine of the image on that day, a delete exactly the calls that remove the user and
        the dependents the image lists, a console removal exactly one DeleteLoginProfile, each naming the
        change's user and each only with the action that makes it. Selection by path, the run's own user and
        activity relative to now are not in the change: a user used since the plan was made is stale."""
        build = ChangeBuilder(changecheck.scope_of(change, self.name), self.name)
        if change.resource.endswith(CONSOLE_SUFFIX) and change.action == "delete":
            return check_console(args, change, build)
        if change.action == "disable":
            return check_disable(args, change, build)
        if change.action == "delete":
            return check_delete(args, change, build)
        return f"action {change.action!r}: the sweep disables, deletes, or removes a console password"

    def resource_state(self, current: dict[str, Any], resource: str) -> dict[str, Any] | None:
        console = resource.endswith(CONSOLE_SUFFIX)
        name = resource[: -len(CONSOLE_SUFFIX)] if console else resource
        user = _find(current["users"], name)
        if user is None:
            return None
        return {"LoginProfile": bool(user.console)} if console else state(user)

    def plan(self, args: dict[str, Any], current: dict[str, Any], scope: str) -> PlanResult:
        now = parse_time(current["now"])
        own = (current.get("own_user") or "").casefold()
        days, after = args.get("unused_days"), args.get("delete_after_days")
        action = args.get("action", "report")
        build = ChangeBuilder(scope, self.name)
        changes: list[Change] = []
        findings: list[Finding] = []
        counts = {"swept": 0, "unused": 0, "quarantined": 0, "waiting": 0}
        for user in current["users"]:
            if not selected(user, args):
                continue
            counts["swept"] += 1
            name = user.name
            evidence = unused_evidence(user, now, days) if days is not None else None
            status = quarantine_status(user, now, after) if after is not None else None
            due = status is not None and status[0] == "due"
            if own and name.casefold() == own:
                if evidence or due:
                    why = f"is unused ({evidence})" if evidence else f"is due for deletion ({status and status[1]})"
                    findings.append(
                        build.finding(
                            name,
                            "low",
                            f"user {name} {why} but was left alone: the run's own credentials (user {name})"
                            " are never changed",
                        )
                    )
            elif status is not None and due:
                if action == "report":
                    findings.append(
                        build.finding(name, "medium", f"user {name} is due for deletion: {status[1]}", UNUSED_CONTROLS)
                    )
                else:
                    changes.append(self._delete(build, user, f"{status[1]}; deletion after {after} days"))
            elif status is not None and status[0] == "active":
                findings.append(build.finding(name, "medium", f"user {name} was not deleted: {status[1]}; review it"))
            elif evidence:
                counts["unused"] += 1
                reason = f"not used within {days} days: {evidence}"
                if action == "report":
                    findings.append(build.finding(name, "medium", f"user {name} is unused: {reason}", UNUSED_CONTROLS))
                elif action == "delete":
                    changes.append(self._delete(build, user, reason))
                else:
                    disable = self._disable(build, user, now, reason)
                    if disable is None:
                        counts["quarantined"] += 1
                    else:
                        changes.append(disable)
                    if args.get("remove_console_access") and user.console:
                        changes.append(self._remove_console(build, user, reason))
            if status is not None and status[0] == "waiting":
                counts["waiting"] += 1
            if args.get("require_mfa_for_console") and user.console and not user.mfa_active:
                findings.append(
                    build.finding(name, "medium", f"user {name} has a console password and no MFA device", MFA_CONTROLS)
                )
            if args.get("forbid_user_policies"):
                policies = user_policies.own_policies(user.managed_policies, user.inline_policies)
                found = user_policies.finding(build.address(name), name, name, policies)
                if found:
                    findings.append(found)
        if changes:
            return PlanResult(changes, findings)
        return PlanResult(findings=findings, noop_reason=self._noop(args, counts))

    def _noop(self, args: dict[str, Any], counts: dict[str, int]) -> str:
        parts = []
        days = args.get("unused_days")
        if days is not None:
            if args.get("action", "report") == "disable":
                parts.append(
                    f"{counts['quarantined']} unused for {days} days, already quarantined"
                    if counts["quarantined"]
                    else f"none unused for {days} days to quarantine"
                )
            elif counts["unused"]:
                parts.append(f"{counts['unused']} unused for {days} days, reported")
            else:
                parts.append(f"none unused for {days} days")
        if args.get("delete_after_days") is not None:
            parts.append(f"{counts['waiting']} quarantined, not yet due for deletion")
        if args.get("require_mfa_for_console"):
            parts.append("MFA for console users checked")
        if args.get("forbid_user_policies"):
            parts.append("policies on users checked")
        return f"{counts['swept']} user(s) swept: {', '.join(parts)}"

    def _disable(self, build: ChangeBuilder, user: User, now: datetime, reason: str) -> Change | None:
        if active_key_ids(user) and not user.live:
            raise TaskFailed(f"user {user.name}: its access keys were not read live; cannot plan to deactivate them")
        return _disable_change(build, user.name, _disable_image(user), now.date().isoformat(), reason)

    def _remove_console(self, build: ChangeBuilder, user: User, reason: str) -> Change:
        return _remove_console_change(build, user.name, reason)

    def _delete(self, build: ChangeBuilder, user: User, reason: str) -> Change:
        if user.dependents is None or not user.live:
            raise TaskFailed(f"user {user.name}: its dependents were not read; cannot plan its deletion")
        return _delete_change(build, user, reason)


def _disable_change(build: ChangeBuilder, name: str, before: dict[str, Any], day: str, reason: str) -> Change | None:
    """Quarantine one user from its disable image (`_disable_image`) on `day`: the deny-all policy, its
    active keys deactivated (each tagged with `day`), the quarantine tag; None when all of it is there."""
    calls: list[ApiCall] = []
    undo: list[ApiCall] = []
    done: list[str] = []
    if not before["QuarantinePolicy"]:
        document = json.dumps(QUARANTINE_DOCUMENT, separators=(",", ":"))
        calls.append(
            ApiCall(
                "iam", "put_user_policy",
                {"UserName": name, "PolicyName": QUARANTINE_POLICY, "PolicyDocument": document},
            )
        )  # fmt: skip
        undo.append(ApiCall("iam", "delete_user_policy", {"UserName": name, "PolicyName": QUARANTINE_POLICY}))
        done.append(f"attach deny-all inline policy {QUARANTINE_POLICY}")
    active = list(before["ActiveKeys"])
    for key_id in active:
        key_calls, key_undo = deactivate_calls(name, key_id, day)
        calls += key_calls
        undo = list(key_undo) + undo
    if active:
        done.append(f"deactivate {plural(len(active), 'key')} ({', '.join(active)})")
    tagged = before["QuarantinedAt"]
    if not tagged:
        calls.append(ApiCall("iam", "tag_user", {"UserName": name, "Tags": [{"Key": QUARANTINE_TAG, "Value": day}]}))
        undo.append(ApiCall("iam", "untag_user", {"UserName": name, "TagKeys": [QUARANTINE_TAG]}))
        done.append(f"tag {QUARANTINE_TAG}={day}")
    if not calls:
        return None
    after = {**before, "QuarantinePolicy": True, "QuarantinedAt": tagged or day, "ActiveKeys": []}
    return build.change(
        "disable",
        name,
        before=before,
        after=after,
        calls=tuple(calls),
        undo=tuple(undo),
        summary=f"disable unused user {name}: {'; '.join(done)} (reversible: rollback re-activates the keys"
        " and removes the policy and the tag)",
        reason=reason,
    )


def _remove_console_change(build: ChangeBuilder, name: str, reason: str) -> Change:
    return build.delete(
        name + CONSOLE_SUFFIX,
        before={"LoginProfile": True},
        after={"LoginProfile": False},
        calls=(ApiCall("iam", "delete_login_profile", {"UserName": name}),),
        undo=None,
        summary=f"remove console access of unused user {name}: delete its login profile (cannot be undone:"
        " the password cannot be restored)",
        reason=reason,
    )


def _delete_change(build: ChangeBuilder, user: User, reason: str) -> Change:
    name = user.name
    return build.delete(
        name,
        before=state(user),
        calls=delete_user_calls(user),
        undo=None,
        summary=f"delete user {name} with {dependents_text(user)} (cannot be undone: a new user gets a new"
        " id, new keys and no password)",
        reason=reason,
    )


# --- plan files -----------------------------------------------------------------------------------------

_STRS, _MOMENT = changecheck.is_strs, changecheck.is_moment
DISABLE_IMAGE = {
    "LastActivity": _MOMENT,
    "QuarantinePolicy": changecheck.is_bool,
    "QuarantinedAt": changecheck.or_none(changecheck.is_str),
    "ActiveKeys": _STRS,
}
DELETE_IMAGE = {
    "UserName": changecheck.is_str,
    "CreateDate": _MOMENT,
    **DISABLE_IMAGE,
    "Keys": _STRS,
    "LoginProfile": changecheck.is_bool,
    "Groups": _STRS,
    "InlinePolicies": _STRS,
    "ManagedPolicies": _STRS,
    **dict.fromkeys(DEPENDENT_LISTS, _STRS),
}
KEYS_AND_SUMMARY = (*changecheck.KEYS, "summary")


def check_disable(args: dict[str, Any], change: Change, build: ChangeBuilder) -> str | None:
    """A disable is exactly the quarantine of its before-image on the day its tags carry (an ISO date, the
    same in every tag), planned by action: disable for a user unused for unused_days before that day."""
    if args.get("action") != "disable" or args.get("unused_days") is None:
        return "the task's args disable no user (that takes action: disable with unused_days)"
    problem = changecheck.shape_problem(change.before, DISABLE_IMAGE, "before")
    if problem:
        return problem
    before: dict[str, Any] = change.before  # type: ignore[assignment]
    values = [tag.get("Value") if isinstance(tag, dict) else tag for tag in _tags_written(change)]
    day = values[0] if values else ""
    if values:
        problem = changecheck.day_problem(day)
        if problem:
            return f"a tag's value {problem}: the sweep writes the day it quarantines a user"
        problem = _activity_problem(before, day, args["unused_days"])
        if problem:
            return problem
    problem = _used_since_quarantine(args, before)
    if problem:
        return problem
    expected = _disable_change(build, change.resource, before, day, "")
    if expected is None:
        return "the user is quarantined already in its before-image: the task's args plan no change"
    return changecheck.difference(expected, change, keys=KEYS_AND_SUMMARY)


def check_console(args: dict[str, Any], change: Change, build: ChangeBuilder) -> str | None:
    """Removing a console password is planned only with action: disable and remove_console_access."""
    if args.get("action") != "disable" or not args.get("remove_console_access") or args.get("unused_days") is None:
        return "the task's args remove no console password (that takes action: disable with remove_console_access)"
    name = change.resource.removesuffix(CONSOLE_SUFFIX)
    return changecheck.difference(_remove_console_change(build, name, ""), change, keys=KEYS_AND_SUMMARY)


def check_delete(args: dict[str, Any], change: Change, build: ChangeBuilder) -> str | None:
    """A delete removes the user its before-image names with exactly the calls its dependents need; only
    action: delete (an unused user) or delete_after_days (a quarantined one, unused since) deletes."""
    action = args.get("action", "report")
    if action == "report" or (action == "disable" and args.get("delete_after_days") is None):
        return "the task's args delete no user (that takes action: delete, or delete_after_days)"
    problem = changecheck.shape_problem(change.before, DELETE_IMAGE, "before")
    if problem:
        return problem
    before: dict[str, Any] = change.before  # type: ignore[assignment]
    user = _user_of_image(before)
    if user.name != change.resource:
        return f"before.UserName: {user.name!r} is not the change's user {change.resource!r}"
    stray = [k for k in before["ActiveKeys"] if k not in before["Keys"]]
    if stray:
        return f"before.ActiveKeys: {stray[0]!r} is not among the user's Keys"
    quarantined = args.get("delete_after_days") is not None and quarantine_date(user) is not None
    if not quarantined and (action != "delete" or args.get("unused_days") is None):
        return "the user is not quarantined in its before-image: only action: delete with unused_days deletes it"
    problem = _used_since_quarantine(args, before)
    if problem:
        return problem
    return changecheck.difference(_delete_change(build, user, ""), change, keys=KEYS_AND_SUMMARY)


def _tags_written(change: Change) -> list[Any]:
    """The tags a change's TagUser calls write, in order."""
    found: list[Any] = []
    for call in change.calls:
        if call.operation == "tag_user" and isinstance(call.params.get("Tags"), list):
            found += call.params["Tags"]
    return found


def _activity_problem(before: dict[str, Any], day: str, days: int) -> str | None:
    """A user quarantined on `day` for being unused `days` days had no activity after `day` - `days`."""
    if before["LastActivity"] is None:
        return None
    active = parse_time(before["LastActivity"]).date()
    if active + timedelta(days=days) > date.fromisoformat(day):
        return (
            f"before.LastActivity: {active.isoformat()} is within unused_days {days} of the day the change writes"
            f" ({day}): the user is not unused"
        )
    return None


def _used_since_quarantine(args: dict[str, Any], before: dict[str, Any]) -> str | None:
    """With delete_after_days, a quarantined user used since its quarantine is reported, never changed."""
    if args.get("delete_after_days") is None or before["LastActivity"] is None:
        return None
    since = _tag_date(before["QuarantinedAt"])
    if since is not None and parse_time(before["LastActivity"]).date() >= since:
        return (
            f"before.LastActivity: the user was used since its quarantine on {since.isoformat()}: the task reports"
            " it and changes nothing"
        )
    return None


def _user_of_image(image: dict[str, Any]) -> User:
    """The user a delete's before-image describes, as far as the delete depends on it (`state` gives the
    image back)."""
    active = set(image["ActiveKeys"])
    keys = tuple(
        ReportedKey(key_id=k, status="Active" if k in active else "Inactive", create_date=None, last_used_date=None,
                    last_used_service=None)
        for k in image["Keys"]
    )  # fmt: skip
    tagged = image["QuarantinedAt"]
    lists = {name: tuple(image[name]) for name in DEPENDENT_LISTS}
    return User(
        name=image["UserName"], arn="", path="/", create_date=image["CreateDate"],
        tags={} if tagged is None else {QUARANTINE_TAG: tagged}, groups=tuple(image["Groups"]),
        inline_policies=tuple(image["InlinePolicies"]), managed_policies=tuple(image["ManagedPolicies"]),
        quarantine_policy=image["QuarantinePolicy"], console=image["LoginProfile"], mfa_active=False,
        password_last_used=image["LastActivity"], keys=keys, live=True,
        dependents=Dependents(
            signing_certificates=lists["SigningCertificates"], ssh_public_keys=lists["SSHPublicKeys"],
            service_specific_credentials=lists["ServiceSpecificCredentials"], mfa_devices=lists["MFADevices"],
        ),
    )  # fmt: skip


def _find(users: list[User], name: str) -> User | None:
    exact = next((u for u in users if u.name == name), None)
    return exact or next((u for u in users if u.name.casefold() == name.casefold()), None)
