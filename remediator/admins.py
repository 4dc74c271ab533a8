"""Who holds full administrator rights: one computation for the hard-expiry guard and iam_admins.

A principal is a full administrator when AdministratorAccess, or any policy allowing `*` on `*` without
a condition, reaches it directly or through a group, no policy reaching it denies everything (an inline
or customer deny-all, or AWS's AWSDenyAll), and its permissions boundary, when it has one, itself allows
`*` on `*`.

`full_admins` and `census_of` are pure, so `iam_admins` plans from the same data the guard reads;
`census` is the one read (GetAccountAuthorizationDetails, then GetLoginProfile per admin user), cached
per account per phase.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from remediator import policydoc
from remediator.aws.context import ReadContext
from remediator.aws.reads import authorization_details, login_profile_exists
from remediator.model import ApiCall

DENY_ALL_POLICY_ARN_SUFFIX = ":iam::aws:policy/AWSDenyAll"


@dataclass(frozen=True)
class Admin:
    kind: str  # user | role
    name: str
    arn: str
    via: tuple[str, ...]  # the policies that grant it, e.g. group admins → AdministratorAccess

    def describe(self) -> str:
        """'alice (via group admins → AdministratorAccess)', for messages."""
        return f"{self.name} (via {', '.join(self.via)})"


@dataclass
class AdminCensus:
    users: list[Admin] = field(default_factory=list)
    roles: list[Admin] = field(default_factory=list)
    console_users: list[Admin] = field(default_factory=list)

    @property
    def users_without_console(self) -> list[Admin]:
        console = {a.name for a in self.console_users}
        return [u for u in self.users if u.name not in console]


def full_admins(details: dict[str, list[dict[str, Any]]]) -> tuple[list[Admin], list[Admin]]:
    """Pure: (users, roles) with full administrator rights, from GetAccountAuthorizationDetails."""
    managed = {p["Arn"]: p for p in details.get("Policies", [])}

    def managed_document(arn: str) -> Any:
        policy = managed.get(arn)
        if policy is None:
            return None
        versions = [v for v in policy.get("PolicyVersionList", []) if v.get("IsDefaultVersion")]
        return versions[0].get("Document") if versions else None

    def managed_verdict(arn: str) -> tuple[bool, bool]:
        if policydoc.is_aws_admin_policy(arn):
            return True, False
        if arn.endswith(DENY_ALL_POLICY_ARN_SUFFIX):
            return False, True
        document = managed_document(arn)
        if document is None:
            return False, False
        return _allows(document), _denies(document)

    def boundary_allows_all(entity: dict[str, Any]) -> bool:
        arn = (entity.get("PermissionsBoundary") or {}).get("PermissionsBoundaryArn")
        if not arn:
            return True
        if policydoc.is_aws_admin_policy(arn):
            return True
        document = managed_document(arn)
        # An AWS managed boundary other than AdministratorAccess limits what the principal may do.
        return document is not None and _allows(document) and not _denies(document)

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
            if _allows(document):
                via.append(f"{prefix}{item.get('PolicyName')} (inline)")
            denied |= _denies(document)
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
        if via and not denied and boundary_allows_all(user):
            users.append(Admin("user", user["UserName"], user["Arn"], tuple(via)))

    roles: list[Admin] = []
    for role in details.get("RoleDetailList", []):
        via, denied = grants(role.get("AttachedManagedPolicies", []), role.get("RolePolicyList", []), "")
        if via and not denied and boundary_allows_all(role):
            roles.append(Admin("role", role["RoleName"], role["Arn"], tuple(via)))
    return users, roles


def _allows(document: Any) -> bool:
    try:
        return policydoc.allows_full_admin(document)
    except ValueError:
        return False  # a document we cannot read grants nothing we can prove


def _denies(document: Any) -> bool:
    try:
        return policydoc.denies_everything(document)
    except ValueError:
        return False


def census_of(details: dict[str, list[dict[str, Any]]], has_console: Callable[[str], bool]) -> AdminCensus:
    """Pure given `has_console` (user name → has a console password): the census of these details."""
    users, roles = full_admins(details)
    return AdminCensus(users, roles, [u for u in users if has_console(u.name)])


def census(ctx: ReadContext) -> AdminCensus:
    """Full admins of the account, and which admin users can sign in to the console."""

    def load(ctx: ReadContext) -> AdminCensus:
        return census_of(authorization_details(ctx), lambda name: login_profile_exists(ctx, name))

    return ctx.fact("admin_census", load)


# Writes that can change who is a full administrator, or whether one can sign in to the console.
ADMIN_CALLS = frozenset({
    "remove_user_from_group", "add_user_to_group", "delete_user", "delete_login_profile", "delete_group",
    "detach_group_policy", "attach_group_policy", "delete_group_policy", "put_group_policy",
    "detach_user_policy", "attach_user_policy", "delete_user_policy", "put_user_policy",
    "put_user_permissions_boundary", "delete_user_permissions_boundary", "create_policy_version",
})  # fmt: skip


def after_calls(
    details: dict[str, list[dict[str, Any]]], calls: Iterable[ApiCall]
) -> tuple[dict[str, list[dict[str, Any]]], set[str]]:
    """Pure: the authorization details as they would be once these calls ran, and the users whose console
    password they delete. What the last-administrator guard judges a plan by, with `census_of`."""
    after = copy.deepcopy(details)
    users = {u["UserName"]: u for u in after.get("UserDetailList", [])}
    groups = {g["GroupName"]: g for g in after.get("GroupDetailList", [])}
    policies = {p["Arn"]: p for p in after.get("Policies", [])}
    no_console: set[str] = set()

    def entity(params: dict[str, Any]) -> dict[str, Any] | None:
        return (
            users.get(params.get("UserName", "")) if "UserName" in params else groups.get(params.get("GroupName", ""))
        )

    for call in calls:
        if call.operation not in ADMIN_CALLS:
            continue
        op, params = call.operation, call.params
        user = users.get(params.get("UserName", ""))
        if op == "remove_user_from_group" and user is not None:
            user["GroupList"] = [g for g in user.get("GroupList", []) if g != params.get("GroupName")]
        elif op == "add_user_to_group" and user is not None:
            user["GroupList"] = [*user.get("GroupList", []), params.get("GroupName")]
        elif op == "delete_user":
            users.pop(params.get("UserName", ""), None)
        elif op == "delete_login_profile":
            no_console.add(params.get("UserName", ""))
        elif op == "delete_group":
            groups.pop(params.get("GroupName", ""), None)
        elif op in ("detach_group_policy", "detach_user_policy", "attach_group_policy", "attach_user_policy"):
            target = entity(params)
            if target is not None:
                attached = [
                    a for a in target.get("AttachedManagedPolicies", []) if a["PolicyArn"] != params["PolicyArn"]
                ]
                if op.startswith("attach"):
                    attached.append({"PolicyArn": params["PolicyArn"]})
                target["AttachedManagedPolicies"] = attached
        elif op in ("delete_group_policy", "delete_user_policy", "put_group_policy", "put_user_policy"):
            target = entity(params)
            listing = "UserPolicyList" if "UserName" in params else "GroupPolicyList"
            if target is not None:
                kept = [i for i in target.get(listing, []) if i.get("PolicyName") != params.get("PolicyName")]
                if op.startswith("put"):
                    kept.append(
                        {"PolicyName": params.get("PolicyName"), "PolicyDocument": params.get("PolicyDocument")}
                    )
                target[listing] = kept
        elif op == "put_user_permissions_boundary" and user is not None:
            user["PermissionsBoundary"] = {"PermissionsBoundaryArn": params.get("PermissionsBoundary")}
        elif op == "delete_user_permissions_boundary" and user is not None:
            user.pop("PermissionsBoundary", None)
        elif op == "create_policy_version" and params.get("SetAsDefault"):
            policy = policies.get(params.get("PolicyArn", ""))
            if policy is not None:
                policy["PolicyVersionList"] = [{"IsDefaultVersion": True, "Document": params.get("PolicyDocument")}]
    after["UserDetailList"] = list(users.values())
    after["GroupDetailList"] = list(groups.values())
    return after, no_console
