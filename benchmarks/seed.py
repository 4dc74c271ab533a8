"""Seed an emulated account with many IAM principals, fast: shared by the benchmark and the call-count test.

The shape for N users: N users, half of them with 2 access keys and half with 1 (1.5 keys per user on
average); N/2 roles trusted by EC2, every third one with a 12-hour MaxSessionDuration (when asked for);
N/10 customer managed policies, each attached to one role. Calls go out from a thread pool against the
emulator's URL; nothing here touches the emulator's in-process backend, so it works on any endpoint.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import boto3
import botocore.config

from remediator.sandbox.demo import EC2_TRUST, WEAK_PASSWORD_POLICY

# The values playbooks/cis-iam-baseline.yml asks for (with its default min_password_length). If the
# baseline changes, a check against an account given this policy stops exiting 0, which the
# call-count test asserts and the benchmark's exit-code column shows.
BASELINE_PASSWORD_POLICY: dict[str, Any] = {
    "MinimumPasswordLength": 14,
    "RequireSymbols": True,
    "RequireNumbers": True,
    "RequireUppercaseCharacters": True,
    "RequireLowercaseCharacters": True,
    "AllowUsersToChangePassword": True,
    "PasswordReusePrevention": 24,
}
__all__ = [
    "BASELINE_PASSWORD_POLICY",
    "WEAK_PASSWORD_POLICY",
    "Seeded",
    "iam_client",
    "seed_account",
    "set_password_policy",
    "set_role_sessions",
]

LONG_SESSION = 43200  # 12 hours, the most AWS allows
READ_ONLY_POLICY = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": ["s3:GetObject", "s3:ListBucket"], "Resource": "*"}],
}


@dataclass(frozen=True)
class Seeded:
    """What seed_account created, and how long it took."""

    users: int
    access_keys: int
    roles: int
    long_session_roles: int
    policies: int
    attachments: int
    seconds: float

    def summary(self) -> str:
        return (
            f"{self.users} users, {self.access_keys} access keys, {self.roles} roles"
            f" ({self.long_session_roles} with 12-hour sessions), {self.policies} customer managed policies"
            f" ({self.attachments} attachments) in {self.seconds:.2f}s"
        )


def iam_client(url: str, pool: int = 10) -> Any:
    """One IAM client for the emulator; boto3 clients may be shared between threads."""
    config = botocore.config.Config(
        max_pool_connections=max(10, pool), retries={"total_max_attempts": 5, "mode": "standard"}
    )
    return boto3.client(
        "iam",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=config,
    )


def set_password_policy(url: str, policy: dict[str, Any]) -> None:
    iam_client(url).update_account_password_policy(**policy)


def long_session_role(i: int) -> bool:
    """Whether bench-role-{i} is one of the roles given 12-hour sessions (every third one)."""
    return i % 3 == 0


def set_role_sessions(url: str, roles: int, *, long_sessions: bool, workers: int = 4) -> int:
    """Give every third seeded role a 12-hour session (drifted) or a one-hour one (within the baseline's cap).

    Switches the state of an account that seed_account made, without seeding it again; returns how many
    roles were updated.
    """
    iam = iam_client(url, pool=workers)
    seconds = LONG_SESSION if long_sessions else 3600
    names = [f"bench-role-{i:05d}" for i in range(roles) if long_session_role(i)]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(lambda name: iam.update_role(RoleName=name, MaxSessionDuration=seconds), names))
    return len(names)


def seed_account(
    url: str,
    users: int,
    roles: int | None = None,
    policies: int | None = None,
    *,
    long_sessions: bool = True,
    second_keys_active: bool = True,
    workers: int = 4,
) -> Seeded:
    """Create `users` users (and by default users/2 roles, max(1, users/10) policies) on a clean account."""
    roles = users // 2 if roles is None else roles
    policies = max(1, users // 10) if policies is None else policies
    policies = min(policies, roles)  # each policy is attached to its own role
    started = time.perf_counter()
    iam = iam_client(url, pool=workers)

    def run_all(jobs: list[Callable[[], Any]]) -> list[Any]:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            return list(pool.map(lambda job: job(), jobs))  # re-raises the first failure

    def make_policy(i: int) -> str:
        document = json.dumps(READ_ONLY_POLICY)
        return iam.create_policy(PolicyName=f"bench-policy-{i:05d}", PolicyDocument=document)["Policy"]["Arn"]

    arns = run_all([lambda i=i: make_policy(i) for i in range(policies)])

    def make_user(i: int) -> int:
        name = f"bench-user-{i:05d}"
        iam.create_user(UserName=name, Tags=[{"Key": "team", "Value": "bench"}])
        keys = 2 if i % 2 == 0 else 1
        for n in range(keys):
            key = iam.create_access_key(UserName=name)["AccessKey"]["AccessKeyId"]
            if n == 1 and not second_keys_active:  # compliant: one active key per user (CIS 1.13)
                iam.update_access_key(UserName=name, AccessKeyId=key, Status="Inactive")
        return keys

    def make_role(i: int) -> tuple[bool, bool]:
        name = f"bench-role-{i:05d}"
        long = long_sessions and long_session_role(i)
        iam.create_role(
            RoleName=name,
            AssumeRolePolicyDocument=json.dumps(EC2_TRUST),
            MaxSessionDuration=LONG_SESSION if long else 3600,
        )
        if i < len(arns):
            iam.attach_role_policy(RoleName=name, PolicyArn=arns[i])
        return long, i < len(arns)

    done = run_all([lambda i=i: make_user(i) for i in range(users)] + [lambda i=i: make_role(i) for i in range(roles)])
    keys = sum(done[:users])
    role_flags = done[users:]
    _verify(iam, users=users, roles=roles, policies=policies)
    return Seeded(
        users=users,
        access_keys=keys,
        roles=roles,
        long_session_roles=sum(1 for long, _ in role_flags if long),
        policies=policies,
        attachments=sum(1 for _, attached in role_flags if attached),
        seconds=time.perf_counter() - started,
    )


def _verify(iam: Any, *, users: int, roles: int, policies: int) -> None:
    """The account holds what was asked for: a benchmark of a half-seeded account would mislead."""

    def count(operation: str, key: str, **params: Any) -> int:
        return sum(len(page[key]) for page in iam.get_paginator(operation).paginate(**params))

    wanted = {"users": users, "roles": roles, "policies": policies}
    found = {
        "users": count("list_users", "Users", PathPrefix="/"),
        "roles": count("list_roles", "Roles", PathPrefix="/"),  # AWS service-linked roles may add to these
        "policies": count("list_policies", "Policies", Scope="Local"),
    }
    if any(found[kind] < number for kind, number in wanted.items()):
        raise RuntimeError(f"seeding fell short: wanted {wanted}, the account holds {found}")
