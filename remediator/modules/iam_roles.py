"""iam_roles: a sweep over every role — cap session length, find (or delete) unused roles.

`read` returns the roles, the run's own role and the moment of reading (`now`), so `plan` stays pure and
tests fix time by giving `now` in `current`. Service-linked roles (/aws-service-role/), IAM Identity Center
roles (/aws-reserved/) and the role the run assumed are never touched: when a rule would otherwise have
matched them, they are reported (severity low) with the reason.

AWS reports a role's last use for the trailing 400 days only (RoleLastUsed), so a role unused for longer
looks the same as one never used since: `unused_days` above 400 cannot be judged, and is refused with
`action: delete` (report mode still lists the roles, with that caveat in each finding).

Lowering a role's MaxSessionDuration refuses callers that ask for longer sessions: when the sweep would
lower any role, `read` looks up the account's AssumeRole events of the last 90 days once (`events.callers`:
one LookupEvents query per region, never one per role) and `plan` names each caller above the cap. The
task then fails, nothing applied, unless it says `allow_caller_impact: true`; `check_callers: false`
skips the look-up. A compliant account (no role above the cap) makes no LookupEvents call.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from remediator import changecheck, selection, timeutil
from remediator.aws.context import ReadContext
from remediator.awsrules import ROLE_LAST_USED_DAYS
from remediator.changes import ChangeBuilder
from remediator.errors import ArgError, AwsError, TaskFailed
from remediator.events import callers
from remediator.model import INFO, ApiCall, Change, Finding
from remediator.registry import Module, PlanResult, literal, register
from remediator.roles import Role, aws_managed_reason, find_role, read_roles, role_name_of_arn
from remediator.timeutil import parse_time

MIN_SESSION, MAX_SESSION = 3600, 43200


def selected(role: Role, args: dict[str, Any]) -> bool:
    """include/exclude: globs on the role's name, path, or path + name."""
    return selection.picks(args, role.name, role.path)


def unused_evidence(role: Role, now: datetime, days: int) -> str | None:
    """Why the role counts as unused for `days`, or None when it was used (or created) within the window."""
    cutoff = now - timedelta(days=days)
    created = parse_time(role.create_date) if role.create_date else None
    created_text = f"created {timeutil.ago(created, now)}" if created else "creation date unknown"
    if role.last_used:
        used = parse_time(role.last_used)
        if used >= cutoff:
            return None
        return f"{created_text}, last used {timeutil.ago(used, now)}"
    if created is None or created >= cutoff:
        return None
    return f"{created_text}, never used"


@register
class Roles(Module):
    name = "iam_roles"
    destructive_actions = ("delete",)
    summary = "Sweep every role: cap session length (lowers only); report or delete roles unused for N days."
    args_schema = {
        "properties": {
            "max_session_duration": {
                "type": "integer",
                "minimum": MIN_SESSION,
                "maximum": MAX_SESSION,
                "description": "cap in seconds (3600–43200): roles above it are lowered, none is raised",
            },
            "unused_days": {
                "type": "integer",
                "minimum": 1,
                "description": "not used within this many days (at most 400 with action: delete: AWS tracks"
                " role last use for 400 days only)",
            },
            "action": {"enum": ["report", "delete"], "description": "for unused roles; default report"},
            "allow_caller_impact": {
                "type": "boolean",
                "description": "lower sessions even when callers asked a role for longer ones in the last 90"
                " days (they are named in the change); without it the task fails",
            },
            "check_callers": {
                "type": "boolean",
                "description": "look up AssumeRole callers (CloudTrail LookupEvents, last 90 days) before"
                " lowering any role (default true); false skips the look-up",
            },
            **selection.options("name/path"),
        },
    }
    permissions = {
        "read": [
            "iam:ListRoles",
            "iam:GetAccountAuthorizationDetails",
            "sts:GetCallerIdentity",
            "cloudtrail:LookupEvents",
        ],
        "write": [
            "iam:UpdateRole",
            "iam:RemoveRoleFromInstanceProfile",
            "iam:DeleteRolePolicy",
            "iam:DetachRolePolicy",
            "iam:DeleteRolePermissionsBoundary",
            "iam:DeleteRole",
        ],
    }
    example = """\
- name: Cap role sessions at one hour; report roles unused for 90 days
  iam_roles:
    max_session_duration: 3600
    unused_days: 90
    exclude: [OrganizationAccountAccessRole, "/breakglass/*"]
"""

    def write_permissions(self, args: dict[str, Any]) -> list[str]:
        writes = ["iam:UpdateRole"] if "max_session_duration" in args else []
        action = literal(args, "action", "report")
        if action == "report":
            return writes
        deletes = [p for p in self.permissions["write"] if p != "iam:UpdateRole"]
        return writes + deletes if action == "delete" else super().write_permissions(args)

    def validate(self, args: dict[str, Any]) -> None:
        if "max_session_duration" not in args and "unused_days" not in args:
            raise ArgError(None, "name a rule: max_session_duration, unused_days, or both")
        duration = args.get("max_session_duration")
        if duration is not None and not (MIN_SESSION <= duration <= MAX_SESSION):
            raise ArgError("max_session_duration", f"{duration} is out of range: must be between 3600 and 43200")
        if args.get("action") == "delete" and "unused_days" not in args:
            raise ArgError("action", "action: delete deletes unused roles: give unused_days")
        days = args.get("unused_days")
        if args.get("action") == "delete" and isinstance(days, int) and days > ROLE_LAST_USED_DAYS:
            raise ArgError(
                "unused_days",
                f"{days} days with action: delete: AWS tracks role last use for {ROLE_LAST_USED_DAYS} days only,"
                f" so a longer window cannot be judged (use at most {ROLE_LAST_USED_DAYS}, or action: report)",
            )

    def read(self, ctx: ReadContext, args: dict[str, Any]) -> dict[str, Any]:
        own = role_name_of_arn(ctx.account.role_arn)
        if own is None:
            try:
                own = role_name_of_arn(ctx.session.identity().get("Arn"))
            except AwsError:
                own = None
        now = timeutil.now()
        roles = read_roles(ctx)
        current: dict[str, Any] = {"now": now.isoformat(), "own_role": own, "roles": roles}
        lowered = [r for r in roles if judge(r, args, own, now).lowered]
        if lowered and args.get("check_callers") is not False:
            current.update(callers.current_callers(ctx, [r.arn for r in lowered], args["max_session_duration"]))
        return current

    def load_current(self, data: dict[str, Any]) -> dict[str, Any]:
        loaded = {**data, "roles": [Role.from_json(r) for r in data["roles"]]}
        if "callers" in data:
            loaded["callers"] = [callers.AssumeRoleCall.from_json(c) for c in data["callers"]]
        return loaded

    def resource_state(self, current: dict[str, Any], resource: str) -> dict[str, Any] | None:
        role = find_role(current["roles"], resource)
        return None if role is None else state(role)

    def check_change(self, args: dict[str, Any], change: Change) -> str | None:
        """A sweep's change follows from the args and the before-image alone: an update is exactly the cap
        lowered from the image's value (its undo the image's value back), a delete exactly the calls that
        unlink and delete the role the image names, and only with action: delete. Who asked for longer
        sessions and when a role was last used relative to now are not in the change: the summary may
        name callers, and a role used since the plan was made is stale at apply."""
        build = ChangeBuilder(changecheck.scope_of(change, self.name), self.name)
        if change.action == "update":
            return check_cap(args, change, build)
        if change.action == "delete":
            return check_delete(args, change, build)
        return f"action {change.action!r}: the sweep only lowers a role's session cap or deletes an unused role"

    def plan(self, args: dict[str, Any], current: dict[str, Any], scope: str) -> PlanResult:
        now = parse_time(current["now"])
        own = current.get("own_role")
        cap = args.get("max_session_duration")
        days = args.get("unused_days")
        delete = args.get("action") == "delete"
        check_callers = args.get("check_callers") is not False
        build = ChangeBuilder(scope, self.name)
        changes: list[Change] = []
        findings: list[Finding] = []
        refused: list[str] = []  # callers a lower cap would refuse, without allow_caller_impact
        swept = 0
        for role in current["roles"]:
            name = role.name
            if not selected(role, args):
                continue
            verdict = judge(role, args, own, now)
            above, evidence, protected = verdict.above, verdict.evidence, verdict.protected
            if protected:
                if above or evidence:
                    rule = "is above the session cap" if above else f"is unused ({evidence})"
                    # AWS's own roles are left alone by design (a note); the run's own role is a finding.
                    severity = INFO if role.aws_managed else "low"
                    message = f"role {name} {rule} but was left alone: {protected}"
                    findings.append(build.finding(name, severity, message))
                continue
            swept += 1
            if evidence and delete:
                changes.append(_delete_change(build, role, f"not used within {days} days: {evidence}"))
                continue
            if above:
                old = role.max_session_duration
                if check_callers and current.get("callers_error"):
                    raise TaskFailed(current["callers_error"])
                impacts = callers.impacted(current.get("callers") or [], role.arn, cap) if check_callers else []
                named = "; ".join(i.describe() for i in impacts)
                if impacts and not args.get("allow_caller_impact"):
                    refused.append(f"role {name} ({old} → {cap}): {named}")
                    continue
                changes.append(_cap_change(build, name, old, cap, named))
            if evidence:
                caveat = (
                    f"; AWS tracks role last use for {ROLE_LAST_USED_DAYS} days only, so an older use is not seen"
                    if days is not None and days > ROLE_LAST_USED_DAYS
                    else ""
                )
                findings.append(
                    build.finding(
                        name, "medium", f"role {name} is unused: not used within {days} days ({evidence}){caveat}"
                    )
                )
        if refused:
            raise TaskFailed(
                f"lowering MaxSessionDuration to {cap} would refuse callers that asked for longer sessions in"
                f" the last {callers.WINDOW_DAYS} days: {' | '.join(refused)}. Set allow_caller_impact: true to"
                " lower them anyway, or check_callers: false to skip the look-up"
            )
        if changes:
            return PlanResult(changes, findings)
        rules = []
        if cap is not None:
            rules.append(f"none above {cap} seconds")
        if days is not None:
            unused = sum(1 for f in findings if f.severity == "medium")
            rules.append(f"{unused} unused for {days} days, reported" if unused else f"none unused for {days} days")
        return PlanResult(
            findings=findings, noop_reason=f"{swept} role(s) swept: {', '.join(rules) or 'nothing to do'}"
        )


@dataclass(frozen=True)
class Verdict:
    """What the sweep's rules say of one role."""

    above: bool  # above the session cap
    evidence: str | None  # why it counts as unused; None: used (or no unused_days rule)
    protected: str  # why it is left alone whatever the rules say; "" when it is not
    lowered: bool  # the sweep lowers its session cap


def judge(role: Role, args: dict[str, Any], own: str | None, now: datetime) -> Verdict:
    """The rules on one role, the same for `read` (does any role get lowered?) and `plan`."""
    cap = args.get("max_session_duration")
    days = args.get("unused_days")
    above = cap is not None and role.max_session_duration > cap
    evidence = unused_evidence(role, now, days) if days is not None else None
    own_name = (own or "").casefold()
    protected = (
        aws_managed_reason(role)
        if role.aws_managed
        else "the role this run uses"
        if own_name and role.name.casefold() == own_name
        else ""
    )
    deleted = bool(evidence) and args.get("action") == "delete"
    return Verdict(above, evidence, protected, above and not protected and not deleted and selected(role, args))


def state(role: Role) -> dict[str, Any]:
    """What a change to one role depends on: its session length, identity, last use and links."""
    return {**role.image("MaxSessionDuration"), **role.deletion_image()}


def _session_params(name: str, seconds: int) -> dict[str, Any]:
    # Only the field compared: AWS leaves a field UpdateRole is not given as it is.
    return {"RoleName": name, "MaxSessionDuration": seconds}


CALLERS_NOTE = " (callers asked for longer sessions)"


def _cap_change(build: ChangeBuilder, name: str, old: int, cap: int, callers: str) -> Change:
    """Lower one role's session cap; `callers` names those who asked for longer sessions ("" for none)."""
    note = f"; callers that asked for longer sessions: {callers} (allow_caller_impact: true)" if callers else ""
    return build.update(
        name,
        before={"MaxSessionDuration": old},
        after={"MaxSessionDuration": cap},
        calls=(ApiCall("iam", "update_role", _session_params(name, cap)),),
        undo=(ApiCall("iam", "update_role", _session_params(name, old)),),
        summary=f"role {name}: MaxSessionDuration {old} → {cap}" + (CALLERS_NOTE if callers else ""),
        reason=f"above the cap of {cap} seconds{note}",
    )


def _delete_change(build: ChangeBuilder, role: Role, reason: str) -> Change:
    return build.delete(
        role.name,
        before=state(role),
        calls=role.delete_calls(),
        undo=None,
        summary=f"delete unused role {role.name} (cannot be undone: a new role gets a new id)",
        reason=reason,
    )


# --------------------------------------------------------------------------- plan files

# What a change's before-image holds, as `state` and the reader give it.
CAP_IMAGE = {"MaxSessionDuration": lambda v: changecheck.is_int(v) and MIN_SESSION <= v <= MAX_SESSION}
DELETE_IMAGE = {
    **CAP_IMAGE,
    "RoleName": changecheck.is_str,
    "Arn": changecheck.is_str,
    "Path": lambda v: isinstance(v, str) and v.startswith("/") and v.endswith("/"),
    "CreateDate": changecheck.is_moment,
    "LastUsed": changecheck.is_moment,
    "InstanceProfiles": changecheck.is_strs,
    "InlinePolicies": changecheck.is_strs,
    "ManagedPolicies": changecheck.is_strs,
    "PermissionsBoundary": changecheck.is_str,
}


def check_cap(args: dict[str, Any], change: Change, build: ChangeBuilder) -> str | None:
    """An update lowers one role's MaxSessionDuration from its before-image to the args' cap, and its undo
    puts the before-image's value back, both naming the change's role."""
    cap = args.get("max_session_duration")
    if cap is None:
        return "the task's args set no max_session_duration: the sweep lowers no role's session cap"
    problem = changecheck.shape_problem(change.before, CAP_IMAGE, "before")
    if problem:
        return problem
    if selection.matches([change.resource], args.get("exclude") or []):
        return f"role {change.resource} is excluded by the task's exclude globs"
    old = change.before["MaxSessionDuration"]  # type: ignore[index]
    if old <= cap:
        return f"before.MaxSessionDuration: {old} is not above the cap of {cap} (the sweep lowers, never raises)"
    expected = _cap_change(build, change.resource, old, cap, "callers" if change.summary.endswith(CALLERS_NOTE) else "")
    return changecheck.difference(expected, change, keys=(*changecheck.KEYS, "summary"))


def check_delete(args: dict[str, Any], change: Change, build: ChangeBuilder) -> str | None:
    """A delete removes one unused role, named by its before-image, with exactly the calls its links need;
    only a task with `action: delete` deletes, and never a role AWS manages or one the task does not select."""
    if args.get("action") != "delete" or "unused_days" not in args:
        return "the task's args do not delete roles (that takes action: delete with unused_days)"
    problem = changecheck.shape_problem(change.before, DELETE_IMAGE, "before")
    if problem:
        return problem
    role = _role_of_image(change.before)  # type: ignore[arg-type]
    if role.name != change.resource:
        return f"before.RoleName: {role.name!r} is not the change's role {change.resource!r}"
    if not role.arn.endswith(f":role{role.path}{role.name}"):
        return f"before.Arn: {role.arn!r} is not the ARN of role {role.path}{role.name}"
    if role.aws_managed:
        return f"role {role.name} is {aws_managed_reason(role)}: the sweep never deletes it"
    if not selected(role, args):
        return f"role {role.path}{role.name} is not selected by the task's include/exclude"
    return changecheck.difference(_delete_change(build, role, ""), change, keys=(*changecheck.KEYS, "summary"))


def _role_of_image(image: dict[str, Any]) -> Role:
    """The role a delete's before-image describes (what it does not hold, a delete does not use)."""
    return Role(
        name=image["RoleName"], role_id="", arn=image["Arn"], path=image["Path"], create_date=image["CreateDate"],
        description="", max_session_duration=image["MaxSessionDuration"], trust_policy={},
        instance_profiles=tuple(image["InstanceProfiles"]), inline_policies=dict.fromkeys(image["InlinePolicies"], {}),
        managed_policies=dict.fromkeys(image["ManagedPolicies"], ""), permissions_boundary=image["PermissionsBoundary"],
        tags={}, last_used=image["LastUsed"],
    )  # fmt: skip
