"""The policies of one GetAccountAuthorizationDetails entry, as the role and group facts hold them.

A role's entry (RoleDetailList) and a group's (GroupDetailList) list their attached managed policies and
their inline documents in the same shapes, so `roles.merge_role` and `groups.group_from_detail` read both
here, the same way: a fact cannot hold a document the other would have read differently.
"""

from __future__ import annotations

from typing import Any

from remediator import policydoc


def document(value: Any) -> dict[str, Any]:
    """A document as read: parsed ({} when there is none); one that does not parse is kept as its text,
    so that a read never fails on a document AWS holds."""
    try:
        return policydoc.parse(value) if value else {}
    except ValueError:
        return {"unparsed": str(value)}


def attached(detail: dict[str, Any]) -> dict[str, str]:
    """The entry's attached managed policies: ARN → name (the ARN's last part when the name is missing)."""
    return {
        p["PolicyArn"]: p.get("PolicyName") or p["PolicyArn"].rsplit("/", 1)[-1]
        for p in detail.get("AttachedManagedPolicies", [])
    }


def inline(detail: dict[str, Any], list_key: str) -> dict[str, Any]:
    """The entry's inline policies (under `list_key`: RolePolicyList, GroupPolicyList): name → document."""
    return {p["PolicyName"]: document(p.get("PolicyDocument")) for p in detail.get(list_key, [])}
