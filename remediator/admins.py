"""Who holds full administrator rights: one computation for the hard-expiry guard and iam_admins.

A principal is a full administrator when AdministratorAccess, or any policy allowing `*` on `*` without
a condition, reaches it directly or through a group, and no policy reaching it denies everything.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from remediator import policydoc
from remediator.aws.context import ReadContext
from remediator.aws.reads import authorization_details, login_profile_exists


@dataclass(frozen=True)
class Admin:
    kind: str  # user | role
    name: str
    arn: str
    via: tuple[str, ...]  # the policies that grant it, e.g. group admins → AdministratorAccess


@dataclass
class AdminCensus:
    users: list[Admin] = field(default_factory=list)
    roles: list[Admin] = field(default_factory=list)
    console_users: list[Admin] = field(default_factory=list)


def full_admins(details: dict[str, list[dict[str, Any]]]) -> tuple[list[Admin], list[Admin]]:
    """Pure: (users, roles) with full administrator rights, from GetAccountAuthorizationDetails."""
    managed = {p["Arn"]: p for p in details.get("Policies", [])}

    def managed_verdict(arn: str) -> tuple[bool, bool]:
        if policydoc.is_aws_admin_policy(arn):
            return True, False
        policy = managed.get(arn)
        if policy is None:
            return False, False
        versions = [v for v in policy.get("PolicyVersionList", []) if v.get("IsDefaultVersion")]
        if not versions:
            return False, False
        document = versions[0].get("Document")
        return policydoc.allows_full_admin(document), policydoc.denies_everything(document)

    def grants(attached: list[dict[str, Any]], inline: list[dict[str, Any]], prefix: str) -> tuple[list[str], bool]:
        via: list[str] = []
        denied = False
        for item in attached:
            allow, deny = managed_verdict(item["PolicyArn"])
            name = item.get("PolicyName") or item["PolicyArn"].rsplit("/", 1)[-1]
            if allow:
                via.append(f"{prefix}{name}")
            denied |= deny
        for item in inline:
            document = item.get("PolicyDocument")
            if policydoc.allows_full_admin(document):
                via.append(f"{prefix}{item.get('PolicyName')} (inline)")
            denied |= policydoc.denies_everything(document)
        return via, denied

    groups: dict[str, tuple[list[str], bool]] = {}
    for group in details.get("GroupDetailList", []):
        groups[group["GroupName"]] = grants(
            group.get("AttachedManagedPolicies", []), group.get("GroupPolicyList", []), f"group {group['GroupName']} → "
        )

    users: list[Admin] = []
    for user in details.get("UserDetailList", []):
        via, denied = grants(user.get("AttachedManagedPolicies", []), user.get("UserPolicyList", []), "")
        for group_name in user.get("GroupList", []):
            group_via, group_denied = groups.get(group_name, ([], False))
            via += group_via
            denied |= group_denied
        if via and not denied:
            users.append(Admin("user", user["UserName"], user["Arn"], tuple(via)))

    roles: list[Admin] = []
    for role in details.get("RoleDetailList", []):
        via, denied = grants(role.get("AttachedManagedPolicies", []), role.get("RolePolicyList", []), "")
        if via and not denied:
            roles.append(Admin("role", role["RoleName"], role["Arn"], tuple(via)))
    return users, roles


def census(ctx: ReadContext) -> AdminCensus:
    """Full admins of the account, and which admin users can sign in to the console."""

    def load(ctx: ReadContext) -> AdminCensus:
        users, roles = full_admins(authorization_details(ctx))
        console = [u for u in users if login_profile_exists(ctx, u.name)]
        return AdminCensus(users, roles, console)

    return ctx.fact("admin_census", load)
