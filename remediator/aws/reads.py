"""Shared bulk reads. Each is done once per account per phase and shared by every module."""

from __future__ import annotations

from typing import Any

from remediator.aws.context import ReadContext
from remediator.errors import AwsError

AUTH_LISTS = ("UserDetailList", "GroupDetailList", "RoleDetailList", "Policies")
# AWS managed policies are recognised by ARN; reading all of them would add ~1,500 entries per call.
AUTH_FILTER = ["User", "Group", "Role", "LocalManagedPolicy"]
# IAM's largest page: the default of 100 would make the number of calls grow with the account's size.
PAGE_SIZE = 1000


def authorization_details(ctx: ReadContext) -> dict[str, list[dict[str, Any]]]:
    """GetAccountAuthorizationDetails, every page merged: users, groups, roles, customer policies."""

    def load(ctx: ReadContext) -> dict[str, list[dict[str, Any]]]:
        merged: dict[str, list[dict[str, Any]]] = {key: [] for key in AUTH_LISTS}
        pages = ctx.client("iam").pages("get_account_authorization_details", Filter=AUTH_FILTER, MaxItems=PAGE_SIZE)
        for page in pages:
            for key in AUTH_LISTS:
                merged[key].extend(page.get(key, []))
        for policy in merged["Policies"]:
            policy.setdefault("PolicyName", policy["Arn"].rsplit("/", 1)[-1])
        return merged

    return ctx.fact("authorization_details", load)


def login_profile_exists(ctx: ReadContext, user_name: str) -> bool:
    try:
        ctx.client("iam").call("get_login_profile", UserName=user_name)
    except AwsError as exc:
        if exc.code == "NoSuchEntity":
            return False
        raise
    return True
