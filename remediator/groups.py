"""Groups: the `Group` fact and its one reader, from the shared GetAccountAuthorizationDetails read.

A group's own entry (GroupDetailList) holds its path, inline and attached policies; its members are
not there but on the users (UserDetailList[*].GroupList), so both lists of the one bulk read are used and
no per-group call is made. A plan case gives groups in `Group`'s JSON form (the AWS-like keys below);
`Group.from_json` refuses anything else.

IAM names are case-insensitive (`Ops` and `ops` are one group) but come back as they were created.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from remediator import detailpolicies, iamnames
from remediator.aws.context import ReadContext
from remediator.aws.reads import authorization_details
from remediator.facts import Fact, key
from remediator.model import ApiCall


@dataclass(frozen=True)
class Group(Fact):
    """One IAM group as remediator reads it."""

    name: str = field(metadata=key("GroupName"))
    arn: str = field(metadata=key("Arn"))
    path: str = field(metadata=key("Path"))
    managed_policies: dict[str, str] = field(metadata=key("ManagedPolicies"))  # ARN → name
    inline_policies: dict[str, Any] = field(metadata=key("InlinePolicies"))  # name → document
    members: tuple[str, ...] = field(metadata=key("Members"))  # user names, sorted

    def has_member(self, user: str) -> str | None:
        """The member's name as AWS spells it, when `user` (compared without regard to case) is one."""
        return next((m for m in self.members if m.casefold() == user.casefold()), None)

    def delete_calls(self) -> tuple[ApiCall, ...]:
        """Delete the group in the order AWS requires (DeleteConflict otherwise): members out, managed
        policies detached, inline policies deleted, then the group."""
        name = self.name
        calls = [ApiCall("iam", "remove_user_from_group", {"GroupName": name, "UserName": u}) for u in self.members]
        calls += [
            ApiCall("iam", "detach_group_policy", {"GroupName": name, "PolicyArn": a})
            for a in sorted(self.managed_policies)
        ]
        calls += [
            ApiCall("iam", "delete_group_policy", {"GroupName": name, "PolicyName": p})
            for p in sorted(self.inline_policies)
        ]
        calls.append(ApiCall("iam", "delete_group", {"GroupName": name}))
        return tuple(calls)


def group_from_detail(detail: dict[str, Any], members: list[str]) -> Group:
    """One group from its GroupDetailList entry and the names of the users whose GroupList names it."""
    return Group(
        name=detail["GroupName"],
        arn=detail.get("Arn", ""),
        path=detail.get("Path", "/"),
        managed_policies=detailpolicies.attached(detail),
        inline_policies=detailpolicies.inline(detail, "GroupPolicyList"),
        members=tuple(sorted(members)),
    )


def read_groups(ctx: ReadContext) -> list[Group]:
    """Every group of the account with its members, from the one bulk read, sorted by name."""

    def load(ctx: ReadContext) -> list[Group]:
        details = authorization_details(ctx)
        members: dict[str, list[str]] = {}
        for user in details["UserDetailList"]:
            for group_name in user.get("GroupList", []):
                members.setdefault(group_name, []).append(user["UserName"])
        groups = [group_from_detail(g, members.get(g["GroupName"], [])) for g in details["GroupDetailList"]]
        return sorted(groups, key=lambda g: (g.name.casefold(), g.name))

    return ctx.fact("groups", load)


def find_group(groups: list[Group], name: str) -> Group | None:
    """The group called `name`, compared as IAM does: without regard to case."""
    return iamnames.find(groups, name)
