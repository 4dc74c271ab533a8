"""iam_unused_permissions end to end through the CLI, against the emulator over HTTP: granted actions from
customer and AWS managed policies, used actions from LookupEvents (fed with real record shapes), the
finding's evidence in JSON, and nothing judged unused when the events do not cover every region."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from remediator.sandbox import shims
from tests import events
from tests.conftest import cli, write, write_inventory
from tests.emulator import TRUST, age_role, age_user
from tests.events import ACCOUNT, session, stamp, user
from tests.faults import Inject, json_error, query_error

NOW = datetime.now(UTC)
READER = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": ["iam:GetRole", "iam:ListRoles", "s3:GetObject"], "Resource": "*"}],
}
IAM_READ_ONLY = "arn:aws:iam::aws:policy/IAMReadOnlyAccess"
SECURITY_AUDIT = "arn:aws:iam::aws:policy/SecurityAudit"


def at(days: float) -> str:
    return stamp(NOW - timedelta(days=days))


def record(n: int, days: float, name: str, identity: dict, region: str = "us-east-1", **more) -> dict:
    return events.record(
        f"event-{n}", at(days), "iam.amazonaws.com", name, identity, region, sourceIPAddress="203.0.113.7", **more
    )


def play(**args) -> str:
    task = f"    - name: Unused permissions\n      iam_unused_permissions: {json.dumps(args)}\n"
    return f"- name: creep\n  accounts: all\n  tasks:\n{task}"


def run(workdir, aws: str, *extra: str, **args):
    return cli("run", write(workdir, "play.yml", play(**args)), "-i", write_inventory(workdir, aws), "--check", *extra)


def findings_of(result) -> tuple[dict, dict[str, dict]]:
    task = json.loads(result.out)["accounts"][0]["tasks"][0]
    return task, {f["resource"].rsplit("/", 1)[-1]: f for f in task["findings"]}


@pytest.fixture
def readers(aws, iam):
    """alice and carol hold READER (a customer policy) for 200 days; fresh got it yesterday. alice used
    iam:GetRole (and was denied iam:CreateRole), carol both IAM actions; bob's events do not count for alice."""
    arn = iam.create_policy(PolicyName="reader", PolicyDocument=json.dumps(READER))["Policy"]["Arn"]
    for name in ("alice", "carol", "fresh"):
        iam.create_user(UserName=name)
        iam.attach_user_policy(UserName=name, PolicyArn=arn)
    age_user("alice", created=200)
    age_user("carol", created=200)
    denied = {"errorCode": "AccessDenied", "errorMessage": "not authorized to perform: iam:ListRoles"}
    shims.add_lookup_events(
        ACCOUNT,
        "us-east-1",
        [
            record(1, 3, "GetRole", user("alice")),
            record(2, 2, "ListRoles", user("alice"), **denied),  # a denial is no use
            record(3, 5, "GetRole", user("carol")),
            record(4, 100, "ListRoles", user("carol")),  # outside the window: no use either
            record(5, 1, "ListRoles", user("bob")),
        ],
    )
    shims.add_lookup_events(ACCOUNT, "eu-west-1", [record(6, 4, "ListRoles", user("carol"), "eu-west-1")])
    return aws


def test_unused_permission_is_a_finding_with_its_evidence(readers, workdir, calls):
    result = run(workdir, readers, "--format", "json")

    assert result.code == 2, result.out + result.err
    task, found = findings_of(result)
    assert list(found) == ["alice"]  # carol used both IAM actions; fresh is too new to judge
    alice = found["alice"]
    assert alice["severity"] == "low" and alice["resource"] == f"arn:aws:iam::{ACCOUNT}:user/alice"
    assert alice["address"] == "test/global/iam_unused_permissions/user/alice"
    assert alice["evidence"] == {"unused": ["iam:ListRoles"], "unknown": ["s3:GetObject"], "used": ["iam:GetRole"]}
    assert "user alice holds 1 permission(s) it has not used in 90 days: iam:ListRoles" in alice["message"]
    assert "2 user(s) and role(s) judged, 1 holding permissions unused in 90 days" in task["noop_reason"]
    assert "coverage complete (lookup" in task["noop_reason"]
    assert "1 created within the window, not judged" in task["noop_reason"]
    assert calls.mutating == []
    assert calls.count("GetPolicyVersion") == 0  # customer policies come with the authorization details

    # The text report names the finding and its message, never the whole evidence.
    text = run(workdir, readers)
    assert text.code == 2
    assert f"finding (low): arn:aws:iam::{ACCOUNT}:user/alice: user alice holds 1 permission(s)" in text.out
    assert "evidence" not in text.out and "'unused'" not in text.out and '"unused"' not in text.out


def test_no_unused_permission_exits_0(readers, workdir):
    result = run(workdir, readers, "--format", "json", include=["carol", "fresh"])
    assert result.code == 0, result.out + result.err
    task, found = findings_of(result)
    assert found == {} and "1 user(s) and role(s) judged" in task["noop_reason"]


def test_a_shorter_window_judges_older_use_unused(readers, workdir):
    """carol's eu-west-1 ListRoles was 4 days ago: outside a 3-day window (her GetRole too)."""
    result = run(workdir, readers, "--format", "json", unused_days=3, include=["carol"])
    assert result.code == 2, result.out + result.err
    _, found = findings_of(result)
    assert found["carol"]["evidence"]["unused"] == ["iam:GetRole", "iam:ListRoles"]
    assert "in 3 days" in found["carol"]["message"]


def test_aws_managed_policies_are_read_once_each(aws_managed, iam, workdir, calls):
    """Two roles and a group share IAMReadOnlyAccess; one role also has SecurityAudit: two policies, so two
    GetPolicy and two GetPolicyVersion calls, whoever holds them."""
    for name in ("reader", "auditor"):
        iam.create_role(RoleName=name, Path="/ops/", AssumeRolePolicyDocument=json.dumps(TRUST))
        iam.attach_role_policy(RoleName=name, PolicyArn=IAM_READ_ONLY)
        age_role(name, created=200)
    iam.attach_role_policy(RoleName="auditor", PolicyArn=SECURITY_AUDIT)
    iam.create_group(GroupName="readers")
    iam.attach_group_policy(GroupName="readers", PolicyArn=IAM_READ_ONLY)
    iam.create_user(UserName="dana")
    iam.add_user_to_group(GroupName="readers", UserName="dana")
    age_user("dana", created=200)
    shims.add_lookup_events(ACCOUNT, "us-east-1", [record(1, 2, "ListRoles", session("reader", path="/ops/"))])

    result = run(workdir, aws_managed, "--format", "json")

    assert result.code == 2, result.out + result.err
    assert calls.count("GetPolicy") == 2 and calls.count("GetPolicyVersion") == 2
    _, found = findings_of(result)
    assert set(found) == {"reader", "auditor", "dana"}
    reader = found["reader"]["evidence"]
    assert reader["used"] == ["iam:ListRoles"]  # the role's session counts for the role
    assert "iam:GetRole" in reader["unused"] and "iam:ListRoles" not in reader["unused"]
    assert "iam:PassRole" not in reader["unused"]
    assert set(found["auditor"]["evidence"]["unused"]) > set(reader["unused"])  # SecurityAudit adds more
    assert found["dana"]["evidence"]["used"] == []  # through the group, and she used nothing
    assert "role reader holds" in found["reader"]["message"] and "more)" in found["reader"]["message"]
    assert calls.mutating == []


@pytest.mark.parametrize(
    "fault",
    [
        Inject("ec2", "DescribeRegions", lambda: query_error("UnauthorizedOperation", "You are not authorized")),
        Inject("cloudtrail", "LookupEvents", lambda: json_error("AccessDeniedException", "not allowed"), times=1),
    ],
    ids=["regions-unknown", "one-region-unread"],
)
def test_incomplete_coverage_calls_nothing_unused(readers, workdir, client_hooks, fault):
    client_hooks.append(fault)

    result = run(workdir, readers, "--format", "json")

    assert result.code == 0, result.out + result.err
    task, found = findings_of(result)
    assert found == {}
    assert "coverage incomplete" in task["noop_reason"] and "nothing judged unused" in task["noop_reason"]
    assert fault.seen >= 1


def test_lookup_beyond_ninety_days_is_refused_before_any_call(aws, workdir, calls):
    result = run(workdir, aws, unused_days=120, source="lookup")
    assert result.code == 1
    assert "source lookup reaches back 90 days only" in result.out + result.err
    assert calls.count("LookupEvents") == 0
