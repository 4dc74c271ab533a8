"""`remediator activity` through the CLI: LookupEvents as the emulator answers it (with AWS's rules: one
attribute, 50 a page, tokens bound to their parameters), real record shapes, attribution, IAM actions
rather than event names, denials, inactive principals, and the formats."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest

from remediator.sandbox import shims
from tests import events
from tests.conftest import REPO, cli, write
from tests.events import ACCOUNT, stamp, user
from tests.faults import Inject, json_error

NOW = datetime.now(UTC)


def at(days: float) -> str:
    return stamp(NOW - timedelta(days=days))


def record(n: int, days: float, source: str, name: str, identity: dict, region: str = "us-east-1", **more) -> dict:
    return events.record(f"event-{n}", at(days), source, name, identity, region, **more)


# Shapes from real records (AWS's CloudTrail and IAM guides, published samples): an IAM user, an assumed
# role session with a sourceIdentity, an AWS service, another account, root's console sign-in, an
# AccessDenied whose message names the action, an EC2 UnauthorizedOperation, an error that is no denial.
SESSION = {
    "type": "AssumedRole",
    "principalId": "AROAIN5ATK5U7KEXAMPLE:deploy-42",
    "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/deployer/deploy-42",
    "accountId": ACCOUNT,
    "sessionContext": {
        "attributes": {"mfaAuthenticated": "false", "creationDate": at(1)},
        "sessionIssuer": {"type": "Role", "arn": f"arn:aws:iam::{ACCOUNT}:role/ci/deployer", "userName": "deployer"},
        "sourceIdentity": "jane",
    },
}
RECORDS = {
    "us-east-1": [
        record(1, 2, "iam.amazonaws.com", "GetUserPolicy", user("jane"), sourceIPAddress="203.0.113.7"),
        record(2, 1, "s3.amazonaws.com", "ListBuckets", user("jane"), sourceIPAddress="203.0.113.8"),
        record(3, 1, "sts.amazonaws.com", "GetCallerIdentity", user("jane"), sourceIPAddress="203.0.113.7"),
        record(
            4,
            1,
            "iam.amazonaws.com",
            "GetRole",
            user("jane"),
            sourceIPAddress="203.0.113.7",
            errorCode="AccessDenied",
            errorMessage=f"User: arn:aws:iam::{ACCOUNT}:user/jane is not authorized to perform: iam:GetRole on"
            f" resource: role deployer because no identity-based policy allows the iam:GetRole action",
        ),
        record(
            5,
            1,
            "cloudtrail.amazonaws.com",
            "UpdateTrail",
            user("jane"),
            sourceIPAddress="203.0.113.7",
            errorCode="TrailNotFoundException",
            errorMessage="Unknown trail: myTrail2 for the user: 123456789012",
        ),
        record(
            6,
            3,
            "sts.amazonaws.com",
            "AssumeRole",
            {"type": "AWSService", "invokedBy": "config.amazonaws.com"},
            sourceIPAddress="config.amazonaws.com",
            requestParameters={"roleArn": f"arn:aws:iam::{ACCOUNT}:role/ci/deployer", "roleSessionName": "cfg"},
        ),
        record(
            7,
            4,
            "sts.amazonaws.com",
            "AssumeRole",
            {"type": "AWSAccount", "principalId": "AIDAQ", "accountId": "777788889999"},
            sourceIPAddress="192.0.2.101",
            requestParameters={
                "roleArn": f"arn:aws:iam::{ACCOUNT}:role/ci/deployer",
                "roleSessionName": "x",
                "durationSeconds": 7200,
            },
        ),
        record(
            8,
            5,
            "signin.amazonaws.com",
            "ConsoleLogin",
            {"type": "Root", "principalId": ACCOUNT, "arn": f"arn:aws:iam::{ACCOUNT}:root", "accountId": ACCOUNT},
            sourceIPAddress="203.0.113.4",
            responseElements={"ConsoleLogin": "Success"},
        ),
        record(9, 1, "iam.amazonaws.com", "ListRoles", SESSION, sourceIPAddress="10.0.0.5"),
    ],
    "eu-west-1": [
        record(
            10, 1, "lambda.amazonaws.com", "CreateFunction20150331", SESSION, "eu-west-1", sourceIPAddress="10.0.0.5"
        ),
        record(
            11,
            1,
            "ec2.amazonaws.com",
            "RunInstances",
            SESSION,
            "eu-west-1",
            sourceIPAddress="10.0.0.5",
            errorCode="Client.UnauthorizedOperation",
            errorMessage="You are not authorized to perform this operation. User: arn:aws:sts::123456789012:"
            "assumed-role/deployer/deploy-42 is not authorized to perform: ec2:RunInstances on resource:"
            " arn:aws:ec2:eu-west-1:123456789012:instance/* because no identity-based policy allows the"
            " ec2:RunInstances action.",
        ),
        record(12, 40, "ec2.amazonaws.com", "DescribeInstances", SESSION, "eu-west-1"),  # outside a 30-day window
    ],
}


@pytest.fixture
def account(aws, iam):
    """Users jane and idle, roles deployer (under /ci/) and unused, and the events above."""
    trust = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}
            ],
        }
    )
    for name in ("jane", "idle"):
        iam.create_user(UserName=name)
    iam.create_role(RoleName="deployer", Path="/ci/", AssumeRolePolicyDocument=trust)
    iam.create_role(RoleName="unused", AssumeRolePolicyDocument=trust)
    for region, records in RECORDS.items():
        shims.add_lookup_events(ACCOUNT, region, records)
    return aws


def inventory(workdir, aws: str):
    return write(
        workdir, "inv.yml", f"all:\n  accounts:\n    prod: {{endpoint_url: '{aws}', account_id: '{ACCOUNT}'}}\n"
    )


def principals_of(out: str) -> dict[str, dict]:
    account = json.loads(out)["accounts"][0]
    return {p["arn"]: p for p in account["principals"]}


def test_who_did_what_from_where_and_what_failed(account, workdir, calls):
    result = cli("activity", "-i", inventory(workdir, account), "--since", "30d", "--format", "json")

    assert result.code == 0, result.out + result.err
    data = json.loads(result.out)
    assert data["format_version"] == 1
    report = data["accounts"][0]
    assert report["source"] == "lookup" and report["account_id"] == ACCOUNT
    assert {"us-east-1", "eu-west-1"} <= set(report["coverage"]["regions"])
    by = {p["arn"]: p for p in report["principals"]}

    jane = by[f"arn:aws:iam::{ACCOUNT}:user/jane"]
    assert jane["type"] == "IAMUser" and jane["events"] == 5
    assert jane["actions"] == {
        "iam:GetUserPolicy": 1,
        "s3:ListAllMyBuckets": 1,
    }  # not ListBuckets; no GetCallerIdentity
    assert jane["services"] == {"cloudtrail": 1, "iam": 2, "s3": 1, "sts": 1}  # every event, denied ones too
    assert jane["source_ips"] == ["203.0.113.7", "203.0.113.8"]
    assert jane["failures"] == [{"error_code": "AccessDenied", "action": "iam:GetRole", "count": 1, "last": at(1)}]
    assert jane["suggested_statement"]["Action"] == ["iam:GetRole"]  # advice only

    role = by[f"arn:aws:iam::{ACCOUNT}:role/ci/deployer"]  # the session counts for its role
    assert role["type"] == "Role" and role["events"] == 3  # the 40-day-old event is outside the window
    assert role["actions"] == {"iam:ListRoles": 1, "lambda:CreateFunction": 1}
    assert role["failures"][0]["action"] == "ec2:RunInstances"
    assert role["sessions"] == ["deploy-42"] and role["source_identities"] == ["jane"]

    assert by["service:config.amazonaws.com"]["type"] == "AWSService"
    assert by["account:777788889999"]["actions"] == {"sts:AssumeRole": 1}
    assert by[f"arn:aws:iam::{ACCOUNT}:root"]["events"] == 1
    assert report["inactive"] == [f"arn:aws:iam::{ACCOUNT}:role/unused", f"arn:aws:iam::{ACCOUNT}:user/idle"]
    assert calls.mutating == []


def test_one_page_of_fifty_at_a_time_with_the_same_parameters(account, workdir, calls):
    many = [record(100 + n, 1 + n / 1000, "iam.amazonaws.com", "ListUsers", user("jane")) for n in range(120)]
    shims.add_lookup_events(ACCOUNT, "us-east-1", many)

    result = cli("activity", "-i", inventory(workdir, account), "--format", "json")

    assert result.code == 0, result.out + result.err
    assert principals_of(result.out)[f"arn:aws:iam::{ACCOUNT}:user/jane"]["actions"]["iam:ListUsers"] == 120
    report = json.loads(result.out)["accounts"][0]
    regions = len(report["coverage"]["regions"])
    assert calls.count("LookupEvents") == report["coverage"]["calls"] == regions + 2  # 129 events: 3 pages


def test_throttling_is_retried_not_fatal(account, workdir, client_hooks):
    throttled = Inject(
        "cloudtrail", "LookupEvents", lambda: json_error("ThrottlingException", "Rate exceeded"), times=2
    )
    client_hooks.append(throttled)

    result = cli("activity", "-i", inventory(workdir, account), "--format", "json")

    assert result.code == 0, result.out + result.err
    assert f"arn:aws:iam::{ACCOUNT}:user/jane" in principals_of(result.out)
    notes = json.loads(result.out)["accounts"][0]["coverage"]["notes"]
    assert sum(int(n.split(": ")[1].split()[0]) for n in notes if "retried after ThrottlingException" in n) == 2


def test_one_principal_and_the_other_formats(account, workdir):
    inv = inventory(workdir, account)
    jane = f"arn:aws:iam::{ACCOUNT}:user/jane"

    only = cli("activity", "-i", inv, "--principal", jane, "--format", "json")
    assert list(principals_of(only.out)) == [jane]

    rows = list(csv.DictReader(io.StringIO(cli("activity", "-i", inv, "--format", "csv").out)))
    assert {"principal": jane, "action": "s3:ListAllMyBuckets", "kind": "used"}.items() <= next(
        r for r in rows if r["action"] == "s3:ListAllMyBuckets"
    ).items()
    assert any(r["kind"] == "denied:AccessDenied" and r["action"] == "iam:GetRole" for r in rows)

    text = cli("activity", "-i", inv)
    assert text.code == 0 and jane in text.out and "iam:GetRole ×1" in text.out and "inactive (2)" in text.out
    markdown = cli("activity", "-i", inv, "--format", "markdown").out
    assert markdown.startswith("# Activity") and f"`{jane}`" in markdown


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (("--since", "200d", "--source", "lookup"), "reaches back 90 days only"),
        (("--since", "yesterday"), "--since 'yesterday'"),
    ],
)
def test_windows_the_source_cannot_serve_are_refused_before_any_call(account, workdir, calls, argv, says):
    result = cli("activity", "-i", inventory(workdir, account), *argv)
    assert result.code == 1 and says in result.err
    assert calls.records == []


@pytest.mark.slow
def test_the_sandbox_shows_real_activity(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    sandbox = str(REPO / "inventories" / "sandbox.yml")
    result = subprocess.run(
        [sys.executable, "-m", "remediator", "activity", "-i", sandbox, "--format", "json"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    principals = {p["arn"]: p for p in json.loads(result.stdout)["accounts"][0]["principals"]}
    bob = principals[f"arn:aws:iam::{ACCOUNT}:user/bob"]
    assert bob["actions"] == {"s3:ListAllMyBuckets": 1} and bob["failures"][0]["action"] == "iam:CreateRole"
    assert f"arn:aws:iam::{ACCOUNT}:role/ci-deploy" in principals


def test_a_long_run_says_how_it_is_going(account):
    from remediator.events.activity import Window, activity
    from remediator.model import Account

    lines: list[str] = []
    window = Window.parse("30d", None)
    results = activity([Account("prod", endpoint_url=account)], window, "lookup", [], progress=lines.append)

    assert not results[0].error
    assert lines[0].startswith("prod: reading lookup events")
    assert "prod: us-east-1: 9 event(s)" in lines
    assert lines[-1].startswith("prod: ") and "principal(s)" in lines[-1]
