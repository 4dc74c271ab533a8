"""`remediator permissions` cannot drift from the code: every call a module plans in any plan case is
among the writes it declares for the task's options, and every undo among the writes it declares at all."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from remediator import registry
from remediator.aws.actions import action_of
from remediator.docs import permissions_policy
from remediator.loader.playbook import load_playbook

CASES = sorted((Path(__file__).resolve().parent.parent / "modules").glob("*/*.json"))
WITH_CHANGES = [p for p in CASES if "changes" in json.loads(p.read_text(encoding="utf-8"))]
REPO = Path(__file__).resolve().parent.parent.parent


@pytest.mark.parametrize("path", WITH_CHANGES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_every_planned_call_is_a_declared_permission(path: Path):
    case = json.loads(path.read_text(encoding="utf-8"))
    module = registry.get(path.parent.name)
    result = module.plan(case["args"], module.load_current(case["current"]), "acct/global")
    for_options = set(module.write_permissions(case["args"]))
    declared = set(module.permissions["write"])
    assert for_options <= declared, f"{module.name}: write_permissions grants what it does not declare"
    for change in result.changes:
        for call in change.calls:
            assert action_of(call.service, call.operation) in for_options, f"{change.address}: {call}"
        for call in change.undo or ():
            assert action_of(call.service, call.operation) in declared, f"{change.address}: undo {call}"


def writes(playbook: str) -> set[str]:
    book = load_playbook(str(REPO / "playbooks" / playbook))
    tasks = [(task.module, task.args) for play in book.plays for task in play.tasks]
    statements = permissions_policy(tasks, check=False)["Statement"]
    return {action for s in statements if s["Sid"] == "RemediatorWrite" for action in s["Action"]}


def test_the_cis_baseline_asks_for_no_write_it_cannot_make():
    """The baseline's sweeps report (keys, users) and only lower role sessions: no Delete*, no key writes;
    its trail is made or fixed, never deleted."""
    assert writes("cis-iam-baseline.yml") == {
        "iam:UpdateAccountPasswordPolicy",
        "iam:UpdateRole",
        "s3:CreateBucket",
        "s3:PutBucketPublicAccessBlock",
        "s3:PutBucketPolicy",
        "s3:PutLifecycleConfiguration",
        "cloudtrail:CreateTrail",
        "cloudtrail:UpdateTrail",
        "cloudtrail:PutEventSelectors",
        "cloudtrail:StartLogging",
    }


@pytest.mark.parametrize(
    ("module", "args", "expected"),
    [
        ("iam_access_keys", {"unused_days": 90}, set()),
        ("iam_access_keys", {"unused_days": 90, "action": "deactivate"}, {"iam:UpdateAccessKey", "iam:TagUser"}),
        ("iam_access_keys", {"unused_days": 90, "action": "{{ mode }}"}, None),
        ("iam_users", {"unused_days": 90, "action": "report"}, set()),
        ("iam_password_policy", {"state": "absent"}, {"iam:DeleteAccountPasswordPolicy"}),
        ("iam_roles", {"max_session_duration": 3600}, {"iam:UpdateRole"}),
    ],
)
def test_writes_follow_the_options(module, args, expected):
    declared = set(registry.get(module).permissions["write"])
    got = set(registry.get(module).write_permissions(args))
    assert got == (declared if expected is None else expected)  # a template grants every write


def test_a_named_trail_and_bucket_scope_their_actions():
    tasks = [("cloudtrail", {"name": "account-trail", "bucket": "trail-logs-1", "retention_days": 365})]
    statements = {s["Sid"]: s for s in permissions_policy(tasks, check=False)["Statement"]}
    scoped = {a: s["Resource"] for s in statements.values() if s["Resource"] != "*" for a in s["Action"]}
    assert scoped["s3:PutBucketPolicy"] == ["arn:aws:s3:::trail-logs-1"]
    assert scoped["cloudtrail:CreateTrail"] == ["arn:aws:cloudtrail:*:*:trail/account-trail"]
    assert "cloudtrail:DescribeTrails" in statements["RemediatorRead"]["Action"]  # AWS cannot scope it
    assert "cloudtrail:DeleteTrail" not in scoped and "s3:DeleteBucketPolicy" not in scoped  # undo only

    templated = [("cloudtrail", {"name": "account-trail", "bucket": "{{ trail_bucket }}"})]
    unscoped = {
        a for s in permissions_policy(templated, check=True)["Statement"] if s["Resource"] == "*" for a in s["Action"]
    }
    assert "s3:GetBucketPolicy" in unscoped  # a bucket not known before rendering: "*"
    shared = [*tasks, ("cloudtrail", {"name": "other", "bucket": "trail-logs-1", "accept_existing": True})]
    anywhere = {
        a for s in permissions_policy(shared, check=True)["Statement"] if s["Resource"] == "*" for a in s["Action"]
    }
    assert "cloudtrail:GetTrailStatus" in anywhere  # accept_existing reads other trails too
