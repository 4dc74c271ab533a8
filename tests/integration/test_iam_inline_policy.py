"""iam_inline_policy end to end through the CLI, against the emulator over HTTP."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import cli, write, write_inventory

DOC_A = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}
DOC_B = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "*"}]}
TRUST = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}],
}


def book(workdir: Any, body: str) -> Any:
    return write(workdir, "play.yml", "- accounts: all\n  tasks:\n" + body)


@pytest.fixture
def deploy(iam):
    iam.create_role(RoleName="deploy", AssumeRolePolicyDocument=json.dumps(TRUST))
    return iam


def role_doc(iam: Any, name: str = "artifacts") -> dict[str, Any]:
    return iam.get_role_policy(RoleName="deploy", PolicyName=name)["PolicyDocument"]


ROLE_TASK = """\
    - name: artifacts read
      iam_inline_policy:
        role: deploy
        policy_name: artifacts
        document:
          Version: "2012-10-17"
          Statement:
            - {Effect: Allow, Action: s3:GetObject, Resource: "*"}
"""


def test_four_steps_check_apply_apply_check(deploy, aws, workdir, calls):
    inv = write_inventory(workdir, aws)
    play = book(workdir, ROLE_TASK)

    first = cli("run", play, "-i", inv, "--check")
    assert first.code == 2, first.out + first.err
    assert "would change" in first.out and "put inline policy artifacts of role deploy" in first.out
    assert calls.mutating == []
    assert deploy.list_role_policies(RoleName="deploy")["PolicyNames"] == []

    second = cli("run", play, "-i", inv)
    assert second.code == 0, second.out + second.err
    assert "converged" in second.out
    assert calls.mutating == ["PutRolePolicy"]
    assert role_doc(deploy) == DOC_A

    calls.clear()
    third = cli("run", play, "-i", inv)
    assert third.code == 0
    assert calls.mutating == []

    fourth = cli("run", play, "-i", inv, "--check")
    assert fourth.code == 0 and "would change" not in fourth.out


def test_update_then_rollback_puts_the_old_document_back(deploy, aws, workdir, calls):
    deploy.put_role_policy(RoleName="deploy", PolicyName="artifacts", PolicyDocument=json.dumps(DOC_B))
    inv = write_inventory(workdir, aws)
    play = book(workdir, ROLE_TASK)
    result = cli("run", play, "-i", inv, "--journal", "run.journal")
    assert result.code == 0, result.out + result.err
    assert role_doc(deploy) == DOC_A
    undone = cli("rollback", "run.journal")
    assert undone.code == 0, undone.out + undone.err
    assert role_doc(deploy) == DOC_B


def test_json_string_document_equivalent_to_the_live_one_writes_nothing(iam, aws, workdir, calls):
    iam.create_user(UserName="alice")
    live = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Deny", "Action": "iam:*", "Resource": "*"},
            {"Effect": "Allow", "Action": ["s3:GetObject", "s3:ListBucket"], "Resource": "*"},
        ],
    }
    iam.put_user_policy(UserName="alice", PolicyName="artifacts", PolicyDocument=json.dumps(live))
    same = (
        '{"Statement": [ {"Effect": "Allow", "Action": ["s3:ListBucket", "s3:GetObject"], "Resource": ["*"]},'
        ' {"Effect": "Deny", "Action": ["iam:*"], "Resource": "*"} ], "Version": "2012-10-17"}'
    )
    inv = write_inventory(workdir, aws)
    play = book(
        workdir,
        f"    - iam_inline_policy:\n        user: alice\n        policy_name: artifacts\n        document: '{same}'\n",
    )
    result = cli("run", play, "-i", inv)
    assert result.code == 0, result.out + result.err
    assert "equivalent document" in result.out
    assert calls.mutating == []


def test_json_string_and_yaml_mapping_both_create(iam, aws, workdir, calls):
    iam.create_group(GroupName="ops")
    inv = write_inventory(workdir, aws)
    play = book(
        workdir,
        "    - iam_inline_policy:\n        group: ops\n        policy_name: from-json\n"
        f"        document: '{json.dumps(DOC_A)}'\n"
        "    - iam_inline_policy:\n        group: ops\n        policy_name: from-yaml\n"
        "        document:\n          Version: '2012-10-17'\n"
        "          Statement: [{Effect: Allow, Action: s3:ListBucket, Resource: '*'}]\n",
    )
    result = cli("run", play, "-i", inv)
    assert result.code == 0, result.out + result.err
    assert iam.get_group_policy(GroupName="ops", PolicyName="from-json")["PolicyDocument"] == DOC_A
    assert iam.get_group_policy(GroupName="ops", PolicyName="from-yaml")["PolicyDocument"] == DOC_B
    calls.clear()
    assert cli("run", play, "-i", inv, "--check").code == 0
    assert calls.mutating == []


def test_sibling_inline_policies_and_entities_are_left_alone(deploy, aws, workdir, calls):
    deploy.put_role_policy(RoleName="deploy", PolicyName="other", PolicyDocument=json.dumps(DOC_B))
    deploy.create_user(UserName="deploy")  # same name, another kind
    deploy.put_user_policy(UserName="deploy", PolicyName="artifacts", PolicyDocument=json.dumps(DOC_B))
    inv = write_inventory(workdir, aws)
    assert cli("run", book(workdir, ROLE_TASK), "-i", inv).code == 0
    assert role_doc(deploy) == DOC_A
    assert role_doc(deploy, "other") == DOC_B
    assert deploy.get_user_policy(UserName="deploy", PolicyName="artifacts")["PolicyDocument"] == DOC_B
    assert calls.mutating == ["PutRolePolicy"]


def test_state_absent_deletes_and_is_idempotent(deploy, aws, workdir, calls):
    deploy.put_role_policy(RoleName="deploy", PolicyName="artifacts", PolicyDocument=json.dumps(DOC_A))
    inv = write_inventory(workdir, aws)
    play = book(workdir, "    - iam_inline_policy: {role: deploy, policy_name: artifacts, state: absent}\n")
    check = cli("run", play, "-i", inv, "--check")
    assert check.code == 2 and "delete inline policy artifacts of role deploy" in check.out
    assert calls.mutating == []
    assert cli("run", play, "-i", inv).code == 0
    assert deploy.list_role_policies(RoleName="deploy")["PolicyNames"] == []
    calls.clear()
    again = cli("run", play, "-i", inv)
    assert again.code == 0 and calls.mutating == []


def test_missing_entity_fails_the_task_clearly(iam, aws, workdir, calls):
    inv = write_inventory(workdir, aws)
    result = cli("run", book(workdir, ROLE_TASK), "-i", inv)
    assert result.code == 1
    assert "role deploy does not exist" in result.out + result.err
    assert calls.mutating == []


def test_two_entities_are_refused_before_any_call(aws, workdir, calls):
    inv = write_inventory(workdir, aws)
    play = book(workdir, "    - iam_inline_policy: {role: a, user: b, policy_name: p, state: absent}\n")
    result = cli("run", play, "-i", inv)
    assert result.code != 0
    assert "exactly one of role, user, group" in result.out + result.err
    assert calls.records == []
