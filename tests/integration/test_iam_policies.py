"""iam_policies end to end through the CLI, against the emulator over HTTP: findings, never writes."""

from __future__ import annotations

import json

import pytest

from tests.conftest import cli, write, write_inventory

PLAY = """\
- name: baseline
  accounts: all
  tasks:
    - name: Policy findings
      iam_policies: {}
"""

ADMIN = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
READ = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}
TRUST = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}],
}
SOURCE_IP_DENY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Deny",
            "Action": "ec2:*",
            "Resource": "*",
            "Condition": {"NotIpAddress": {"aws:SourceIp": "10.0.0.0/8"}},
        }
    ],
}


@pytest.fixture
def clean(iam):
    """Policies only through groups and roles, none full admin, all lint clean."""
    arn = iam.create_policy(PolicyName="read", PolicyDocument=json.dumps(READ))["Policy"]["Arn"]
    iam.create_group(GroupName="ops")
    iam.attach_group_policy(GroupName="ops", PolicyArn=arn)
    iam.create_user(UserName="alice")
    iam.add_user_to_group(GroupName="ops", UserName="alice")
    iam.create_role(RoleName="app", AssumeRolePolicyDocument=json.dumps(TRUST))
    iam.attach_role_policy(RoleName="app", PolicyArn=arn)
    iam.put_role_policy(RoleName="app", PolicyName="s3", PolicyDocument=json.dumps(READ))
    return iam


@pytest.fixture
def drifted(clean):
    iam = clean
    admin = iam.create_policy(PolicyName="everything", PolicyDocument=json.dumps(ADMIN))["Policy"]["Arn"]
    iam.attach_role_policy(RoleName="app", PolicyArn=admin)
    iam.create_user(UserName="bob")
    iam.attach_user_policy(UserName="bob", PolicyArn=admin)
    iam.put_group_policy(GroupName="ops", PolicyName="office", PolicyDocument=json.dumps(SOURCE_IP_DENY))
    return iam


def test_findings_exit_2_in_text_and_json_without_writing(drifted, aws, workdir, calls):
    inv = write_inventory(workdir, aws)
    book = write(workdir, "play.yml", PLAY)

    text = cli("run", book, "-i", inv)
    assert text.code == 2, text.out + text.err
    assert "finding (high)" in text.out and "customer managed policy everything allows * on *" in text.out
    assert "attached to role app, user bob" in text.out
    assert "finding (medium)" in text.out and "user bob has policies attached directly" in text.out
    assert "source-ip-without-via-aws-service" in text.out and "inline policy office of group ops" in text.out
    assert "CIS v3.0 1.16" in text.out and "CIS v5.0 1.14" in text.out
    assert calls.mutating == []
    assert calls.count("GetAccountAuthorizationDetails") >= 1

    as_json = cli("run", book, "-i", inv, "--check", "--format", "json")
    assert as_json.code == 2, as_json.err
    report = json.loads(as_json.out)
    findings = [f for f in _walk_findings(report)]
    by_severity = {(f["severity"], f["resource"].rsplit(":", 1)[-1]) for f in findings}
    assert ("high", "policy/everything") in by_severity
    assert ("medium", "user/bob") in by_severity
    assert ("low", "group/ops") in by_severity
    assert all(f["address"].startswith("test/global/iam_policies/") for f in findings)
    assert calls.mutating == []


def test_clean_account_exits_0(clean, aws, workdir, calls):
    inv = write_inventory(workdir, aws)
    book = write(workdir, "play.yml", PLAY)
    result = cli("run", book, "-i", inv)
    assert result.code == 0, result.out + result.err
    assert "finding (" not in result.out and "findings=0" in result.out
    assert calls.mutating == []


def test_exclude_glob_silences_a_policy(drifted, aws, workdir):
    inv = write_inventory(workdir, aws)
    book = write(
        workdir,
        "play.yml",
        PLAY.replace(
            "iam_policies: {}", "iam_policies: {exclude: [everything, office], forbid_user_attachments: false}"
        ),
    )
    result = cli("run", book, "-i", inv, "--check")
    assert result.code == 0, result.out + result.err


def _walk_findings(value):
    """Every finding object anywhere in the JSON report (its layout belongs to the report module)."""
    if isinstance(value, dict):
        if {"address", "resource", "severity", "message"} <= set(value):
            yield value
        for item in value.values():
            yield from _walk_findings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _walk_findings(item)
