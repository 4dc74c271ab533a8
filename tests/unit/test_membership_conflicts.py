"""Tasks that fight over one group membership are found before any AWS call."""

from __future__ import annotations

from typing import Any

from remediator.memberships import conflicts
from remediator.model import TaskPlan


def plan(module: str, line: int, **args: Any) -> TaskPlan:
    return TaskPlan(account="acc", task=f"{module} {args['name']}", module=module, location=f"p.yml:{line}", args=args)


def test_a_group_that_purges_members_and_a_user_that_lists_the_group_conflict() -> None:
    found = conflicts(
        [
            plan("iam_group", 3, name="Admins", members=["bob"], purge_members=True),
            plan("iam_user", 9, name="alice", groups=["admins"]),
        ]
    )
    assert len(found) == 1
    assert "'alice'" in found[0] and "'Admins'" in found[0]
    assert "p.yml:3" in found[0] and "p.yml:9" in found[0] and "purge_members" in found[0]


def test_a_user_that_purges_groups_and_a_group_that_lists_the_user_conflict() -> None:
    found = conflicts(
        [
            plan("iam_user", 2, name="alice", groups=["dev"], purge_groups=True),
            plan("iam_group", 7, name="ops", members=["Alice"]),
        ]
    )
    assert len(found) == 1 and "purge_groups" in found[0] and "'ops'" in found[0]


def test_tasks_that_agree_or_do_not_purge_do_not_conflict() -> None:
    agree = [
        plan("iam_group", 3, name="admins", members=["ALICE", "bob"], purge_members=True),
        plan("iam_user", 9, name="alice", groups=["admins"], purge_groups=True),
    ]
    no_purge = [
        plan("iam_group", 3, name="admins", members=["bob"]),
        plan("iam_user", 9, name="alice", groups=["admins"]),
    ]
    other_group = [
        plan("iam_group", 3, name="admins", members=["bob"], purge_members=True),
        plan("iam_user", 9, name="alice", groups=["dev"]),
    ]
    assert conflicts(agree) == conflicts(no_purge) == conflicts(other_group) == []


def test_skipped_or_absent_tasks_claim_nothing() -> None:
    skipped = plan("iam_user", 9, name="alice", groups=["admins"])
    skipped.skipped = "when: false"
    absent = plan("iam_user", 11, name="alice", groups=["admins"], state="absent")
    group = plan("iam_group", 3, name="admins", members=["bob"], purge_members=True)
    assert conflicts([group, skipped, absent]) == []
