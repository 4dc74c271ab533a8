"""iam_roles: a sweep over every role — cap session length, find (or delete) unused roles.

`read` returns the roles, the run's own role and the moment of reading (`now`), so `plan` stays pure and
tests fix time by giving `now` in `current`. Service-linked roles (/aws-service-role/), IAM Identity Center
roles (/aws-reserved/) and the role the run assumed are never touched: when a rule would otherwise have
matched them, they are reported (severity low) with the reason.

AWS reports a role's last use for the trailing 400 days only (RoleLastUsed), so a role unused for longer
looks the same as one never used since: `unused_days` above 400 cannot be judged, and is refused with
`action: delete` (report mode still lists the roles, with that caveat in each finding).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from remediator import selection, timeutil
from remediator.aws.context import ReadContext
from remediator.awsrules import ROLE_LAST_USED_DAYS
from remediator.changes import ChangeBuilder
from remediator.errors import ArgError, AwsError
from remediator.model import ApiCall, Change, Finding
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
            **selection.options("name/path"),
        },
    }
    permissions = {
        "read": ["iam:ListRoles", "iam:GetAccountAuthorizationDetails", "sts:GetCallerIdentity"],
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
        return {"now": timeutil.now().isoformat(), "own_role": own, "roles": read_roles(ctx)}

    def load_current(self, data: dict[str, Any]) -> dict[str, Any]:
        return {**data, "roles": [Role.from_json(r) for r in data["roles"]]}

    def resource_state(self, current: dict[str, Any], resource: str) -> dict[str, Any] | None:
        role = find_role(current["roles"], resource)
        return None if role is None else state(role)

    def plan(self, args: dict[str, Any], current: dict[str, Any], scope: str) -> PlanResult:
        now = parse_time(current["now"])
        own = (current.get("own_role") or "").casefold()
        cap = args.get("max_session_duration")
        days = args.get("unused_days")
        delete = args.get("action") == "delete"
        build = ChangeBuilder(scope, self.name)
        changes: list[Change] = []
        findings: list[Finding] = []
        swept = 0
        for role in current["roles"]:
            name = role.name
            if not selected(role, args):
                continue
            above = cap is not None and role.max_session_duration > cap
            evidence = unused_evidence(role, now, days) if days is not None else None
            protected = (
                aws_managed_reason(role)
                if role.aws_managed
                else "the role this run uses"
                if own and name.casefold() == own
                else ""
            )
            if protected:
                if above or evidence:
                    rule = "is above the session cap" if above else f"is unused ({evidence})"
                    findings.append(build.finding(name, "low", f"role {name} {rule} but was left alone: {protected}"))
                continue
            swept += 1
            if evidence and delete:
                changes.append(
                    build.delete(
                        name,
                        before=state(role),
                        calls=role.delete_calls(),
                        undo=None,
                        summary=f"delete unused role {name} (cannot be undone: a new role gets a new id)",
                        reason=f"not used within {days} days: {evidence}",
                    )
                )
                continue
            if above:
                old = role.max_session_duration
                changes.append(
                    build.update(
                        name,
                        before={"MaxSessionDuration": old},
                        after={"MaxSessionDuration": cap},
                        calls=(ApiCall("iam", "update_role", _session_params(role, cap)),),
                        undo=(ApiCall("iam", "update_role", _session_params(role, old)),),
                        summary=f"role {name}: MaxSessionDuration {old} → {cap}",
                        reason=f"above the cap of {cap} seconds",
                    )
                )
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


def state(role: Role) -> dict[str, Any]:
    """What a change to one role depends on: its session length, identity, last use and links."""
    return {**role.image("MaxSessionDuration"), **role.deletion_image()}


def _session_params(role: Role, seconds: int) -> dict[str, Any]:
    # Only the field compared: AWS leaves a field UpdateRole is not given as it is.
    return {"RoleName": role.name, "MaxSessionDuration": seconds}
