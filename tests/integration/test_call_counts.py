"""Checking a compliant account costs the same API calls whatever the number of users and roles.

The sizes stay under 100 principals of each kind, IAM's default page size, so the comparison would hold
against AWS too and not only because the emulator never truncates a list. Larger accounts stay flat on
AWS up to 1,000 roles because the paginated bulk reads ask for AWS's largest page (MaxItems=1000), which
is asserted here.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from benchmarks.seed import BASELINE_PASSWORD_POLICY, seed_account, set_password_policy, set_role_sessions
from remediator.aws import session
from tests.conftest import REPO, cli, write_inventory

BASELINE = REPO / "playbooks" / "cis-iam-baseline.yml"
ROLES_SWEEP = REPO / "benchmarks" / "roles-sweep.yml"  # iam_roles with max_session_duration and unused_days
PAGED_READS = {"ListRoles", "GetAccountAuthorizationDetails"}


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


@pytest.mark.parametrize("playbook", [BASELINE, ROLES_SWEEP], ids=lambda p: p.stem)
def test_checking_a_compliant_account_costs_the_same_calls_at_any_size(
    emulator, aws, workdir, calls, page_sizes, playbook: Path
):
    inventory = write_inventory(workdir, aws)
    by_size: dict[int, Counter[str]] = {}
    for n in (3, 30):
        emulator.reset()
        seeded = seed_account(aws, n, long_sessions=False)  # every role within the one-hour cap
        assert (seeded.users, seeded.roles, seeded.long_session_roles) == (n, n // 2, 0)
        set_password_policy(aws, BASELINE_PASSWORD_POLICY)
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
