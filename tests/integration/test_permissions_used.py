"""The policy `remediator permissions` prints is enough: every call a run of the baseline makes against the
demo account is in it (reads in check mode; reads and writes when applying)."""

from __future__ import annotations

from remediator.aws.actions import prefix
from remediator.docs import permissions_policy
from remediator.loader.playbook import load_playbook
from remediator.sandbox import demo
from tests.conftest import REPO, cli, write_inventory

BASELINE = REPO / "playbooks" / "cis-iam-baseline.yml"


def allowed(check: bool) -> set[str]:
    book = load_playbook(str(BASELINE))
    tasks = [(task.module, task.args) for play in book.plays for task in play.tasks]
    return {a for s in permissions_policy(tasks, check=check)["Statement"] for a in s["Action"]}


def used(calls) -> set[str]:
    """The calls recorded (service, OperationName) as IAM actions."""
    return {f"{prefix(service)}:{op}" for _, service, op, _ in calls.records}


def test_the_baseline_uses_only_what_permissions_grants(aws_managed, workdir, calls):
    demo.seed(aws_managed)
    inv = write_inventory(workdir, aws_managed)

    assert cli("run", BASELINE, "-i", inv, "--check").code == 2
    assert used(calls) <= allowed(check=True), used(calls) - allowed(check=True)

    calls.clear()
    assert cli("run", BASELINE, "-i", inv).code == 2  # applied; findings stay open
    assert calls.mutating, "the demo account has drift the baseline fixes"
    assert used(calls) <= allowed(check=False), used(calls) - allowed(check=False)
