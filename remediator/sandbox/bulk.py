"""Seed an emulated account with many users, keys and roles, fast: for benchmarks and call-count tests.

The same approach as remediator.sandbox.demo: create everything through the API, then backdate what the
API cannot set on the emulator's in-process backend. The shape for N users: N users, half of them with 2
access keys and half with 1 (1.5 keys per user on average); N/2 roles trusted by EC2, every third one with
a 12-hour MaxSessionDuration (when asked for); N/10 customer managed policies, each attached to one role.
Calls go out from a thread pool against the emulator's URL; only `age_keys` touches the emulator's
in-process backend (the API cannot backdate a key), so everything else works on any endpoint.
Used by benchmarks/bench_check.py and tests/integration/test_call_counts.py.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import boto3
import botocore.config

from remediator.sandbox.demo import EC2_TRUST, WEAK_PASSWORD_POLICY
from remediator.sandbox.server import DEMO_ACCOUNT_ID

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
    "Aged",
    "Seeded",
    "age_keys",
    "iam_client",
    "seed_account",
    "set_password_policy",
    "set_role_sessions",
    "set_second_keys",
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


def set_second_keys(url: str, users: int, *, active: bool, workers: int = 4) -> int:
    """Make the second access key of every two-key seeded user Active or Inactive (one active key per user,
    CIS 1.13, when inactive). Switches the state of an account that seed_account made; returns how many
    keys were updated."""
    iam = iam_client(url, pool=workers)
    status = "Active" if active else "Inactive"

    def switch(name: str) -> int:
        keys = iam.list_access_keys(UserName=name)["AccessKeyMetadata"]
        if len(keys) < 2:
            return 0
        second = keys[1]  # the emulator lists a user's keys in creation order
        if second["Status"] == status:
            return 0
        iam.update_access_key(UserName=name, AccessKeyId=second["AccessKeyId"], Status=status)
        return 1

    names = [f"bench-user-{i:05d}" for i in range(users) if i % 2 == 0]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return sum(pool.map(switch, names))


@dataclass(frozen=True)
class Aged:
    """What age_keys backdated: `stale_active` is the number of keys a key sweep has to look at."""

    keys: int  # access keys of the seeded users
    stale: int  # stale keys: created 200-400 days ago, last used more than 45 days ago or never
    stale_active: int  # of which active: the candidate keys (an inactive key breaks no rule)
    never_used: int  # of the stale keys
    users: int  # users holding a stale key (their creation is backdated before their oldest key)
    all_stale_users: int  # users whose every key is stale: the users an unused-user sweep may flag

    def summary(self) -> str:
        return (
            f"{self.stale} of {self.keys} access keys stale ({self.stale_active} active, {self.never_used} never"
            f" used) on {self.users} users ({self.all_stale_users} with no other key)"
        )


def age_keys(fraction: float, now: datetime, *, account_id: str = DEMO_ACCOUNT_ID) -> Aged:
    """Make round(fraction x all keys) of the seeded users' access keys stale, in-process on moto's backend.

    The API cannot backdate a key, so this writes moto's objects directly (as remediator.sandbox.demo does):
    it only works when the emulator runs in this process. A stale key was created 200-400 days before `now`
    and last used 46 or more days ago, or (every other one) never. Active keys are chosen first, at random
    with a fixed seed (an even spread would line up with the seeding's alternate one-key and two-key users),
    so while `fraction` leaves enough active keys every stale key is a candidate for a sweep with
    unused_days 45 / max_age_days 90; inactive keys are aged only when the active ones run out.
    The creation date of a user holding a stale key is moved before its oldest key (a user cannot be younger
    than its keys). Other users and keys are left as they are. Deterministic for the same account and now.
    """
    from moto.iam.models import AccessKeyLastUsed, iam_backends

    if not 0 <= fraction <= 1:
        raise ValueError(f"fraction must be between 0 and 1, not {fraction}")
    backend = iam_backends[account_id]["global"]
    users = sorted((u for name, u in backend.users.items() if name.startswith("bench-user-")), key=lambda u: u.name)
    keys = [(user, key) for user in users for key in user.access_keys]
    active = [pair for pair in keys if pair[1].status == "Active"]
    inactive = [pair for pair in keys if pair[1].status != "Active"]
    wanted = round(fraction * len(keys))

    pick = random.Random(0)
    ids = {key.access_key_id for _, key in pick.sample(active, min(wanted, len(active)))}
    ids |= {key.access_key_id for _, key in pick.sample(inactive, max(0, wanted - len(active)))}
    chosen = [(user, key) for user, key in keys if key.access_key_id in ids]  # in user order
    oldest: dict[str, datetime] = {}
    never = 0
    for j, (user, key) in enumerate(chosen):
        created_days = 200 + (j * 37) % 201  # 200..400
        key.create_date = now - timedelta(days=created_days)
        if j % 2 == 0:
            key.last_used = None
            never += 1
        else:
            used_days = 46 + (j * 53) % (created_days - 46)  # 46..created_days - 1: after its creation
            key.last_used = AccessKeyLastUsed(now - timedelta(days=used_days), "s3", "us-east-1")
        oldest[user.name] = min(oldest.get(user.name, key.create_date), key.create_date)
    by_name = {user.name: user for user in users}
    for name, moment in oldest.items():
        by_name[name].create_date = moment - timedelta(days=30)
    return Aged(
        keys=len(keys),
        stale=len(chosen),
        stale_active=sum(1 for _, key in chosen if key.status == "Active"),
        never_used=never,
        users=len(oldest),
        all_stale_users=sum(1 for name in oldest if all(k.access_key_id in ids for k in by_name[name].access_keys)),
    )
