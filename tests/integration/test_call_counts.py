"""Checking a compliant account costs the same API calls whatever the number of users and roles.

The two sizes stay under 100 principals of each kind, the default page size of IAM's list calls, so the
comparison would hold against AWS too and not only because the emulator never truncates a list.
"""

from __future__ import annotations

from collections import Counter

from benchmarks.seed import BASELINE_PASSWORD_POLICY, seed_account, set_password_policy
from tests.conftest import REPO, cli, write_inventory

BASELINE = REPO / "playbooks" / "cis-iam-baseline.yml"


def test_checking_a_compliant_account_costs_the_same_calls_at_any_size(emulator, aws, workdir, calls):
    inventory = write_inventory(workdir, aws)
    by_size: dict[int, Counter[str]] = {}
    for n in (3, 30):
        emulator.reset()
        seeded = seed_account(aws, n, long_sessions=False)
        assert (seeded.users, seeded.roles) == (n, n // 2)
        set_password_policy(aws, BASELINE_PASSWORD_POLICY)
        calls.clear()

        result = cli("run", BASELINE, "-i", inventory, "--check")

        assert result.code == 0, f"N={n}: the seeded account is not compliant:\n{result.out}{result.err}"
        assert calls.mutating == []
        assert all(read_only for *_, read_only in calls.records)
        by_size[n] = Counter(f"{service}:{operation}" for _, service, operation, _ in calls.records)

    assert sum(by_size[3].values()) > 0
    assert by_size[30] == by_size[3]
