"""Roles, read once per account and shared by `iam_role` and `iam_roles`; and how to delete one.

ListRoles gives MaxSessionDuration and Description; GetAccountAuthorizationDetails gives the rest (trust
policy, instance profiles, inline and attached policies, boundary, tags, last use). Both are paginated
and read once per account per phase; each role comes out as one plain, JSON-ready dict:

    RoleName, RoleId, Arn, Path, CreateDate (ISO), Description ("" when none), MaxSessionDuration,
    AssumeRolePolicyDocument (dict), InstanceProfiles [names], InlinePolicies {name: document},
    ManagedPolicies {arn: name}, PermissionsBoundary (ARN or ""), Tags {key: value},
    LastUsed (ISO or None), LastUsedRegion (or None)

IAM names are case-insensitive (`MyRole` and `myrole` are one role) but come back as they were created.
"""

from __future__ import annotations

from typing import Any

from remediator import policydoc
from remediator.aws.context import ReadContext
from remediator.aws.reads import PAGE_SIZE, authorization_details
from remediator.model import ApiCall
from remediator.timeutil import iso

SERVICE_ROLE_PATH = "/aws-service-role/"  # service-linked roles
IDENTITY_CENTER_ROLE_PATH = "/aws-reserved/"  # IAM Identity Center (SSO) roles: AWSReservedSSO_*
AWS_MANAGED_ROLE_PATHS = (SERVICE_ROLE_PATH, IDENTITY_CENTER_ROLE_PATH)
DEFAULT_MAX_SESSION = 3600


def _document(value: Any) -> dict[str, Any]:
    try:
        return policydoc.parse(value) if value else {}
    except ValueError:
        return {"unparsed": str(value)}


def merge_role(listed: dict[str, Any] | None, detail: dict[str, Any] | None) -> dict[str, Any]:
    """One role from its ListRoles entry and its RoleDetailList entry (either may be missing)."""
    listed, detail = listed or {}, detail or {}
    both = {**detail, **listed}
    last_used = detail.get("RoleLastUsed") or listed.get("RoleLastUsed") or {}
    boundary = detail.get("PermissionsBoundary") or listed.get("PermissionsBoundary") or {}
    return {
        "RoleName": both["RoleName"],
        "RoleId": both.get("RoleId", ""),
        "Arn": both.get("Arn", ""),
        "Path": both.get("Path", "/"),
        "CreateDate": iso(both.get("CreateDate")),
        "Description": listed.get("Description", detail.get("Description")) or "",
        "MaxSessionDuration": int(listed.get("MaxSessionDuration") or detail.get("MaxSessionDuration") or 3600),
        "AssumeRolePolicyDocument": _document(both.get("AssumeRolePolicyDocument")),
        "InstanceProfiles": sorted(p["InstanceProfileName"] for p in detail.get("InstanceProfileList", [])),
        "InlinePolicies": {
            p["PolicyName"]: _document(p.get("PolicyDocument")) for p in detail.get("RolePolicyList", [])
        },
        "ManagedPolicies": {
            p["PolicyArn"]: p.get("PolicyName") or p["PolicyArn"].rsplit("/", 1)[-1]
            for p in detail.get("AttachedManagedPolicies", [])
        },
        "PermissionsBoundary": boundary.get("PermissionsBoundaryArn", ""),
        "Tags": {t["Key"]: t["Value"] for t in (detail.get("Tags") or listed.get("Tags") or [])},
        "LastUsed": iso(last_used.get("LastUsedDate")),
        "LastUsedRegion": last_used.get("Region"),
    }


def read_roles(ctx: ReadContext) -> list[dict[str, Any]]:
    """Every role of the account (ListRoles merged with the authorization details), sorted by name."""

    def load(ctx: ReadContext) -> list[dict[str, Any]]:
        listed: dict[str, dict[str, Any]] = {}
        for page in ctx.client("iam").pages("list_roles", MaxItems=PAGE_SIZE):
            for role in page.get("Roles", []):
                listed[role["RoleName"]] = role
        details = {r["RoleName"]: r for r in authorization_details(ctx)["RoleDetailList"]}
        names = sorted(set(listed) | set(details), key=lambda n: (n.casefold(), n))
        return [merge_role(listed.get(n), details.get(n)) for n in names]

    return ctx.fact("roles", load)


def find_role(roles: list[dict[str, Any]], name: str) -> dict[str, Any] | None:
    """The role called `name`, compared as IAM does: without regard to case."""
    exact = next((r for r in roles if r["RoleName"] == name), None)
    return exact or next((r for r in roles if r["RoleName"].casefold() == name.casefold()), None)


def is_aws_managed_path(path: str) -> bool:
    """True for the paths of roles AWS owns: service-linked (/aws-service-role/) and IAM Identity Center
    (/aws-reserved/) roles. Neither may be changed by a task: AWS (or Identity Center) manages them."""
    return path.startswith(AWS_MANAGED_ROLE_PATHS)


def is_aws_managed_role(role: dict[str, Any]) -> bool:
    """A service-linked or IAM Identity Center role (by its path), left alone by every module."""
    return is_aws_managed_path(str(role.get("Path") or "/"))


def aws_managed_reason(role: dict[str, Any]) -> str:
    """Why an AWS-managed role is left alone, for findings and refusals."""
    path = str(role.get("Path") or "/")
    if path.startswith(IDENTITY_CENTER_ROLE_PATH):
        return f"an IAM Identity Center role ({path}): Identity Center manages it"
    return f"service-linked ({path}): AWS manages it"


def role_name_of_arn(arn: str | None) -> str | None:
    """The role name in `arn:aws:iam::ID:role/[path/]NAME` or `arn:aws:sts::ID:assumed-role/NAME/session`."""
    if not arn:
        return None
    resource = arn.split(":", 5)[-1]
    if resource.startswith("assumed-role/"):
        parts = resource.split("/")
        return parts[1] if len(parts) > 1 else None
    if resource.startswith("role/"):
        return resource.rsplit("/", 1)[-1]
    return None


def image(role: dict[str, Any]) -> dict[str, Any]:
    """What a delete depends on: the role's identity, last use and everything the cleanup removes."""
    return {
        "RoleName": role["RoleName"],
        "Arn": role["Arn"],
        "Path": role["Path"],
        "CreateDate": role["CreateDate"],
        "LastUsed": role["LastUsed"],
        "InstanceProfiles": list(role["InstanceProfiles"]),
        "InlinePolicies": sorted(role["InlinePolicies"]),
        "ManagedPolicies": sorted(role["ManagedPolicies"]),
        "PermissionsBoundary": role["PermissionsBoundary"],
    }


def delete_role_calls(role: dict[str, Any]) -> tuple[ApiCall, ...]:
    """Delete a role in the order AWS requires (DeleteConflict otherwise): unlink, empty, then delete."""
    name = role["RoleName"]
    calls = [
        ApiCall("iam", "remove_role_from_instance_profile", {"InstanceProfileName": p, "RoleName": name})
        for p in role.get("InstanceProfiles", [])
    ]
    inline = role.get("InlinePolicies", {})
    calls += [ApiCall("iam", "delete_role_policy", {"RoleName": name, "PolicyName": p}) for p in sorted(inline)]
    managed = role.get("ManagedPolicies", {})
    calls += [ApiCall("iam", "detach_role_policy", {"RoleName": name, "PolicyArn": a}) for a in sorted(managed)]
    if role.get("PermissionsBoundary"):
        calls.append(ApiCall("iam", "delete_role_permissions_boundary", {"RoleName": name}))
    calls.append(ApiCall("iam", "delete_role", {"RoleName": name}))
    return tuple(calls)
