"""iam_admins: check only. How many principals hold full administrator rights.

The same computation as the password-policy hard-expiry guard (`remediator.admins`): a principal is a
full administrator when AdministratorAccess, or a policy allowing `*` on `*` without a condition, reaches
it directly or through a group, with no deny-all policy and no narrower permissions boundary.

- `min` (default 2): fewer IAM users who hold full admin **and have a console password** than that is a
  finding. Only they can sign in and reset an expired password, so with password hard expiry on, one
  expired administrator can lock everyone out. Admin users without a console password do not count.
- `max` (optional): more IAM users with full admin (console or not) than that is a finding, naming each.
- Roles with full admin are listed, never counted: who may assume them is a trust-policy question.

`read` returns the authorization details and the names of admin users with a console password (the
guard's cached census), so `plan` recomputes nothing from AWS and stays pure.
"""

from __future__ import annotations

import re
from typing import Any

from remediator import admins
from remediator.aws.context import ReadContext
from remediator.aws.reads import authorization_details
from remediator.changes import ChangeBuilder
from remediator.errors import ArgError
from remediator.model import Finding
from remediator.registry import Module, PlanResult, register

DEFAULT_MIN = 2


def _names(found: list[admins.Admin]) -> str:
    return "; ".join(a.describe() for a in found) or "none"


def _account_of(details: dict[str, Any]) -> str | None:
    """The account id, from any ARN in the details (plan has no other way to know it)."""
    for key in ("UserDetailList", "RoleDetailList", "GroupDetailList"):
        for entity in details.get(key, []):
            parts = str(entity.get("Arn", "")).split(":")
            if len(parts) > 4 and re.fullmatch(r"[0-9]{12}", parts[4]):
                return parts[4]
    return None


@register
class Admins(Module):
    name = "iam_admins"
    summary = "Check only: how many IAM users hold full administrator rights (at least min, at most max)."
    args_schema = {
        "properties": {
            "min": {
                "type": "integer",
                "minimum": 0,
                "description": "fewest IAM users with a console password and full admin (default 2; 0 turns it off)",
            },
            "max": {
                "type": "integer",
                "minimum": 1,
                "description": "most IAM users with full admin, console or not (default: no limit)",
            },
        },
    }
    permissions = {"read": ["iam:GetAccountAuthorizationDetails", "iam:GetLoginProfile"], "write": []}
    example = """\
- name: Enough administrators that password expiry cannot lock everyone out, and not too many
  iam_admins:
    min: 2
    max: 4
"""

    def validate(self, args: dict[str, Any]) -> None:
        low, high = args.get("min", DEFAULT_MIN), args.get("max")
        if high is not None and high < low:
            raise ArgError("max", f"max ({high}) is below min ({low}): no account could satisfy both")

    def read(self, ctx: ReadContext, args: dict[str, Any]) -> dict[str, Any]:
        census = admins.census(ctx)
        return {
            "authorization_details": authorization_details(ctx),
            "console_users": sorted(a.name for a in census.console_users),
        }

    def resource_state(self, current: Any, resource: str) -> dict[str, Any] | None:
        return None  # check only: there are no changes to go stale

    def plan(self, args: dict[str, Any], current: dict[str, Any], scope: str) -> PlanResult:
        details = current.get("authorization_details") or {}
        console = set(current.get("console_users") or [])
        census = admins.census_of(details, console.__contains__)
        low, high = args.get("min", DEFAULT_MIN), args.get("max")
        account = _account_of(details)
        resource = f"arn:aws:iam::{account}:root" if account else "account"
        build = ChangeBuilder(scope, self.name)

        counted = census.console_users
        without = census.users_without_console
        roles_text = f"roles with full admin (not counted): {_names(census.roles)}"
        without_text = f"admin users without a console password (not counted toward min): {_names(without)}"
        findings: list[Finding] = []

        if low and len(counted) < low:
            findings.append(
                build.finding(
                    "min",
                    "high",
                    f"only {len(counted)} IAM user(s) with a console password hold full admin, fewer than min {low}:"
                    f" {_names(counted)}. With password hard expiry on, an administrator whose password expires"
                    " cannot set a new one and only another administrator can reset it: with fewer than two,"
                    " everyone may be locked out of the console."
                    f" Admin {without_text.removeprefix('admin ')}; {roles_text}",
                    subject=resource,
                )
            )
        if high is not None and len(census.users) > high:
            findings.append(
                build.finding(
                    "max",
                    "medium",
                    f"{len(census.users)} IAM users hold full admin, more than max {high}: {_names(census.users)};"
                    f" {roles_text}",
                    subject=resource,
                )
            )

        bounds = f"min {low}" + (f", max {high}" if high is not None else "")
        summary = (
            f"{len(counted)} IAM user(s) with a console password hold full admin ({bounds}): {_names(counted)};"
            f" {without_text}; {roles_text}"
        )
        return PlanResult(findings=findings, noop_reason=summary)
