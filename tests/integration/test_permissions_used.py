"""The policy `remediator permissions` prints is enough: every call a run of a shipped playbook makes
against the demo account is in it (reads in check mode; reads and writes when applying)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from remediator.aws.actions import action_of_operation
from remediator.docs import permissions_policy
from remediator.loader.playbook import load_playbook
from remediator.sandbox import demo
from tests.conftest import REPO, cli, write_inventory

PLAYBOOKS = sorted((REPO / "playbooks").glob("*.yml"))


def allowed(playbook: Path, check: bool) -> set[str]:
    book = load_playbook(str(playbook))
    tasks = [(task.module, task.args) for play in book.plays for task in play.tasks]
    return {a for s in permissions_policy(tasks, check=check)["Statement"] for a in s["Action"]}


def used(calls) -> set[str]:
    """The calls recorded (service, OperationName) as IAM actions."""
    return {action_of_operation(service, op) for _, service, op, _ in calls.records}


@pytest.mark.parametrize("playbook", PLAYBOOKS, ids=lambda p: p.name)
def test_a_shipped_playbook_uses_only_what_permissions_grants(aws_managed, workdir, calls, playbook):
    demo.seed(aws_managed)
    shutil.copytree(REPO / "templates", workdir / "templates")  # as a user runs it: from the repository
    inv = write_inventory(workdir, aws_managed, test={"account_id": "123456789012"})  # the trail task runs too

    checked = cli("run", playbook, "-i", inv, "--check")
    assert checked.code == 2, checked.out + checked.err
    assert used(calls) <= allowed(playbook, check=True), used(calls) - allowed(playbook, check=True)

    calls.clear()
    applied = cli("run", playbook, "-i", inv)
    assert applied.code in (0, 2), applied.out + applied.err  # applied; findings may stay open
    assert calls.mutating, "the demo account has drift the playbook fixes"
    assert used(calls) <= allowed(playbook, check=False), used(calls) - allowed(playbook, check=False)
