"""Checking a compliant account costs the same API calls whatever the number of users and roles.

The sizes stay under 100 principals of each kind, IAM's default page size, so the comparison would hold
against AWS too and not only because the emulator never truncates a list. Larger accounts stay flat on
AWS up to 1,000 roles because the paginated bulk reads ask for AWS's largest page (MaxItems=1000), which
is asserted here.

The full baseline's two goals (benchmarks/bench_baseline.py measures them at N=50 and N=500): checking a
drifted account costs at most one call per user holding a candidate key plus a constant of 20, and checking
it again once the baseline's remediation is applied at most 20. Counts only, never wall time.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml

from remediator.aws import session
from remediator.sandbox.bulk import (
    BASELINE_PASSWORD_POLICY,
    WEAK_PASSWORD_POLICY,
    seed_account,
    set_password_policy,
    set_role_sessions,
)
from tests.conftest import REPO, cli, write_inventory

BASELINE = REPO / "playbooks" / "cis-iam-baseline.yml"
ROLES_SWEEP = REPO / "benchmarks" / "roles-sweep.yml"  # iam_roles with max_session_duration and unused_days
PAGED_READS = {"ListRoles", "GetAccountAuthorizationDetails"}

pytestmark = pytest.mark.slow  # each test seeds accounts of two sizes


class PageSizes:
    """A CALL_OBSERVERS entry: the MaxItems each paginated IAM bulk read asked for."""

    def __init__(self) -> None:
        self.asked: dict[str, set[Any]] = {}

    def __call__(self, account: str, service: str, operation: str, params: dict[str, Any], read_only: bool) -> None:
        if operation in PAGED_READS:
            self.asked.setdefault(operation, set()).add((params or {}).get("MaxItems"))


@pytest.fixture
def page_sizes():
    observer = PageSizes()
    session.CALL_OBSERVERS.append(observer)
    yield observer
    session.CALL_OBSERVERS.remove(observer)


def root_with_mfa(client: Any) -> None:
    """The emulator pins AccountMFAEnabled to 0; a compliant account has root MFA (as AWS reports it)."""

    def after(parsed: dict[str, Any], **_: Any) -> None:
        parsed.setdefault("SummaryMap", {})["AccountMFAEnabled"] = 1

    client.meta.events.register("after-call.iam.GetAccountSummary", after)


def two_console_admins_with_mfa(aws: str) -> None:
    """What the baseline's iam_admins (min 2) and console-MFA checks ask of a compliant account."""
    iam = boto3.client("iam", endpoint_url=aws, region_name="us-east-1")
    iam.create_group(GroupName="admins")
    iam.attach_group_policy(GroupName="admins", PolicyArn="arn:aws:iam::aws:policy/AdministratorAccess")
    for name in ("admin-1", "admin-2"):
        iam.create_user(UserName=name)
        iam.add_user_to_group(GroupName="admins", UserName=name)
        iam.create_login_profile(UserName=name, Password="Xx-0123456789!")
        serial = iam.create_virtual_mfa_device(VirtualMFADeviceName=name)["VirtualMFADevice"]["SerialNumber"]
        iam.enable_mfa_device(
            UserName=name, SerialNumber=serial, AuthenticationCode1="123456", AuthenticationCode2="654321"
        )


@pytest.mark.parametrize("playbook", [BASELINE, ROLES_SWEEP], ids=lambda p: p.stem)
def test_checking_a_compliant_account_costs_the_same_calls_at_any_size(
    emulator, aws_managed, workdir, calls, page_sizes, client_hooks, playbook: Path
):
    aws = aws_managed
    client_hooks.append(root_with_mfa)
    inventory = write_inventory(workdir, aws)
    by_size: dict[int, Counter[str]] = {}
    for n in (3, 30):
        emulator.reset()
        # every role within the one-hour cap, one active key per user
        seeded = seed_account(aws, n, long_sessions=False, second_keys_active=False)
        assert (seeded.users, seeded.roles, seeded.long_session_roles) == (n, n // 2, 0)
        set_password_policy(aws, BASELINE_PASSWORD_POLICY)
        two_console_admins_with_mfa(aws)
        calls.clear()

        result = cli("run", playbook, "-i", inventory, "--check")

        assert result.code == 0, f"N={n}: the seeded account is not compliant:\n{result.out}{result.err}"
        assert calls.mutating == []
        assert all(read_only for *_, read_only in calls.records)
        by_size[n] = Counter(f"{service}:{operation}" for _, service, operation, _ in calls.records)

    assert sum(by_size[3].values()) > 0
    assert by_size[30] == by_size[3]
    assert by_size[3]["iam:ListRoles"] == 1 and by_size[3]["iam:GetAccountAuthorizationDetails"] == 1
    assert page_sizes.asked == {"ListRoles": {1000}, "GetAccountAuthorizationDetails": {1000}}


def test_the_roles_sweep_plans_a_drifted_account_with_the_same_calls_at_any_size(emulator, aws, workdir, calls):
    inventory = write_inventory(workdir, aws)
    by_size: dict[int, Counter[str]] = {}
    for n in (6, 60):
        emulator.reset()
        seeded = seed_account(aws, n)  # every third role with a 12-hour session
        assert seeded.long_session_roles == (n // 2 + 2) // 3
        calls.clear()

        result = cli("run", ROLES_SWEEP, "-i", inventory, "--check")

        assert result.code == 2, result.out + result.err
        assert result.out.count("would change:") == seeded.long_session_roles
        assert calls.mutating == []
        by_size[n] = Counter(f"{service}:{operation}" for _, service, operation, _ in calls.records)

        # Lowered to the cap, the same account is compliant.
        set_role_sessions(aws, seeded.roles, long_sessions=False)
        assert cli("run", ROLES_SWEEP, "-i", inventory, "--check").code == 0

    assert by_size[60] == by_size[6]


# The goals of the issue "speed on one account", for the full baseline.
CONSTANT = 20


def remediating_baseline(directory: Path) -> Path:
    """The baseline with the remediation it leaves commented switched on: access keys `deactivate`, users
    `disable`, each with a max_changes above the account's size (a sweep that deactivates stops above 25)."""
    plays = yaml.safe_load(BASELINE.read_text(encoding="utf-8"))
    switched = []
    for task in (t for play in plays for t in play["tasks"]):
        for module, action in (("iam_access_keys", "deactivate"), ("iam_users", "disable")):
            if module in task:
                task[module]["action"] = action
                task["max_changes"] = 1000
                switched.append(module)
    assert sorted(switched) == ["iam_access_keys", "iam_users"], switched
    path = directory / "remediating.yml"
    path.write_text(yaml.safe_dump(plays, sort_keys=False), encoding="utf-8")
    return path


def test_the_baseline_checks_a_drifted_account_with_one_call_per_candidate_user_and_after_apply_a_constant(
    emulator, aws_managed, workdir, calls, client_hooks
):
    aws = aws_managed
    client_hooks.append(root_with_mfa)
    inventory = write_inventory(workdir, aws)
    n = 30
    seeded = seed_account(aws, n)  # drifted: every two-key user has both keys active, long role sessions
    set_password_policy(aws, WEAK_PASSWORD_POLICY)
    two_console_admins_with_mfa(aws)
    holders = (n + 1) // 2  # the two-key users: one active key above max_active_per_user 1
    assert seeded.access_keys == n + holders
    remediating = remediating_baseline(workdir)

    for book in (BASELINE, remediating):  # as shipped (report mode), and the plan the apply below makes
        calls.clear()
        drifted = cli("run", book, "-i", inventory, "--check")
        assert drifted.code == 2, drifted.out + drifted.err
        assert calls.mutating == []
        assert len(calls.records) <= holders + CONSTANT, Counter(op for *_, op, _ in calls.records)
        # One ListAccessKeys per user holding a candidate key; last use comes from the credential report
        assert calls.count("ListAccessKeys") == holders
        assert calls.count("GetAccessKeyLastUsed") == 0
    assert drifted.out.count("to confirm at apply") == holders  # each key's change, in the remediating plan

    calls.clear()
    applied = cli("run", remediating, "-i", inventory)
    assert applied.code == 0, applied.out + applied.err
    # each deactivation was confirmed against the key's live last use just before it was written
    assert calls.count("GetAccessKeyLastUsed") == calls.count("UpdateAccessKey") == holders

    for book in (BASELINE, remediating):
        calls.clear()
        again = cli("run", book, "-i", inventory, "--check")
        assert again.code == 0, again.out + again.err
        assert len(calls.records) <= CONSTANT, Counter(op for *_, op, _ in calls.records)
        assert calls.count("ListAccessKeys") == 0  # keys remediator deactivated are not candidates
