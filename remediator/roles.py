"""Roles: the `Role` fact, its one reader (shared by `iam_role` and `iam_roles`), and how to delete one.

ListRoles gives MaxSessionDuration and Description; GetAccountAuthorizationDetails gives the rest (trust
policy, instance profiles, inline and attached policies, boundary, tags, last use). Both are paginated
and read once per account per phase. A plan case gives roles in `Role`'s JSON form (the AWS-like keys
below); `Role.from_json` refuses anything else.

IAM names are case-insensitive (`MyRole` and `myrole` are one role) but come back as they were created.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from remediator import detailpolicies, iamnames
from remediator.aws.context import ReadContext
from remediator.aws.reads import PAGE_SIZE, authorization_details
from remediator.facts import Fact, key
from remediator.model import ApiCall
from remediator.timeutil import iso

SERVICE_ROLE_PATH = "/aws-service-role/"  # service-linked roles
IDENTITY_CENTER_ROLE_PATH = "/aws-reserved/"  # IAM Identity Center (SSO) roles: AWSReservedSSO_*
AWS_MANAGED_ROLE_PATHS = (SERVICE_ROLE_PATH, IDENTITY_CENTER_ROLE_PATH)
DEFAULT_MAX_SESSION = 3600


@dataclass(frozen=True)
class Role(Fact):
    """One IAM role as remediator reads it."""

    name: str = field(metadata=key("RoleName"))
    role_id: str = field(metadata=key("RoleId"))
    arn: str = field(metadata=key("Arn"))
    path: str = field(metadata=key("Path"))
    create_date: str | None = field(metadata=key("CreateDate"))  # ISO
    description: str = field(metadata=key("Description"))  # "" when none
    max_session_duration: int = field(metadata=key("MaxSessionDuration"))
    trust_policy: dict[str, Any] = field(metadata=key("AssumeRolePolicyDocument"))
    instance_profiles: tuple[str, ...] = field(metadata=key("InstanceProfiles"))  # names
    inline_policies: dict[str, Any] = field(metadata=key("InlinePolicies"))  # name → document
    managed_policies: dict[str, str] = field(metadata=key("ManagedPolicies"))  # ARN → name
    permissions_boundary: str = field(metadata=key("PermissionsBoundary"))  # ARN, or "" for none
    tags: dict[str, str] = field(metadata=key("Tags"))
    last_used: str | None = field(default=None, metadata=key("LastUsed"))  # ISO, None: never (in 400 days)
    last_used_region: str | None = field(default=None, metadata=key("LastUsedRegion"))

    @property
    def aws_managed(self) -> bool:
        """A service-linked or IAM Identity Center role: AWS's to manage, left alone by every module."""
        return is_aws_managed_path(self.path)

    def deletion_image(self) -> dict[str, Any]:
        """What a delete depends on: the role's identity, last use and everything the cleanup removes."""
        return {
            **self.image("RoleName", "Arn", "Path", "CreateDate", "LastUsed", "InstanceProfiles"),
            "InlinePolicies": sorted(self.inline_policies),
            "ManagedPolicies": sorted(self.managed_policies),
            "PermissionsBoundary": self.permissions_boundary,
        }

    def delete_calls(self) -> tuple[ApiCall, ...]:
        return delete_role_calls(
            self.name,
            instance_profiles=self.instance_profiles,
            inline_policies=tuple(self.inline_policies),
            managed_policies=tuple(self.managed_policies),
            boundary=self.permissions_boundary,
        )


def merge_role(listed: dict[str, Any] | None, detail: dict[str, Any] | None) -> Role:
    """One role from its ListRoles entry and its RoleDetailList entry (either may be missing)."""
    listed, detail = listed or {}, detail or {}
    both = {**detail, **listed}
    last_used = detail.get("RoleLastUsed") or listed.get("RoleLastUsed") or {}
    boundary = detail.get("PermissionsBoundary") or listed.get("PermissionsBoundary") or {}
    return Role(
        name=both["RoleName"],
        role_id=both.get("RoleId", ""),
        arn=both.get("Arn", ""),
        path=both.get("Path", "/"),
        create_date=iso(both.get("CreateDate")),
        description=listed.get("Description", detail.get("Description")) or "",
        max_session_duration=int(listed.get("MaxSessionDuration") or detail.get("MaxSessionDuration") or 3600),
        trust_policy=detailpolicies.document(both.get("AssumeRolePolicyDocument")),
        instance_profiles=tuple(sorted(p["InstanceProfileName"] for p in detail.get("InstanceProfileList", []))),
        inline_policies=detailpolicies.inline(detail, "RolePolicyList"),
        managed_policies=detailpolicies.attached(detail),
        permissions_boundary=boundary.get("PermissionsBoundaryArn", ""),
        tags={t["Key"]: t["Value"] for t in (detail.get("Tags") or listed.get("Tags") or [])},
        last_used=iso(last_used.get("LastUsedDate")),
        last_used_region=last_used.get("Region"),
    )


def read_roles(ctx: ReadContext) -> list[Role]:
    """Every role of the account (ListRoles merged with the authorization details), sorted by name."""

    def load(ctx: ReadContext) -> list[Role]:
        listed: dict[str, dict[str, Any]] = {}
        for page in ctx.client("iam").pages("list_roles", MaxItems=PAGE_SIZE):
            for role in page.get("Roles", []):
                listed[role["RoleName"]] = role
        details = {r["RoleName"]: r for r in authorization_details(ctx)["RoleDetailList"]}
        names = sorted(set(listed) | set(details), key=lambda n: (n.casefold(), n))
        return [merge_role(listed.get(n), details.get(n)) for n in names]

    return ctx.fact("roles", load)


def find_role(roles: list[Role], name: str) -> Role | None:
    """The role called `name`, compared as IAM does: without regard to case."""
    return iamnames.find(roles, name)


def is_aws_managed_path(path: str) -> bool:
    """True for the paths of roles AWS owns: service-linked (/aws-service-role/) and IAM Identity Center
    (/aws-reserved/) roles. Neither may be changed by a task: AWS (or Identity Center) manages them."""
    return path.startswith(AWS_MANAGED_ROLE_PATHS)


def is_aws_managed_role(entity: dict[str, Any]) -> bool:
    """An entry of the authorization details (or any mapping with a Path) that is an AWS-managed role."""
    return is_aws_managed_path(str(entity.get("Path") or "/"))


def aws_managed_reason(role: Role) -> str:
    """Why an AWS-managed role is left alone, for findings and refusals."""
    if role.path.startswith(IDENTITY_CENTER_ROLE_PATH):
        return f"an IAM Identity Center role ({role.path}): Identity Center manages it"
    return f"service-linked ({role.path}): AWS manages it"


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


def delete_role_calls(
    name: str,
    *,
    instance_profiles: tuple[str, ...] = (),
    inline_policies: tuple[str, ...] = (),
    managed_policies: tuple[str, ...] = (),
    boundary: str = "",
) -> tuple[ApiCall, ...]:
    """Delete a role in the order AWS requires (DeleteConflict otherwise): unlink, empty, then delete."""
    calls = [
        ApiCall("iam", "remove_role_from_instance_profile", {"InstanceProfileName": p, "RoleName": name})
        for p in instance_profiles
    ]
    calls += [
        ApiCall("iam", "delete_role_policy", {"RoleName": name, "PolicyName": p}) for p in sorted(inline_policies)
    ]
    calls += [
        ApiCall("iam", "detach_role_policy", {"RoleName": name, "PolicyArn": a}) for a in sorted(managed_policies)
    ]
    if boundary:
        calls.append(ApiCall("iam", "delete_role_permissions_boundary", {"RoleName": name}))
    calls.append(ApiCall("iam", "delete_role", {"RoleName": name}))
    return tuple(calls)
