"""iam_policy end to end through the CLI, against the emulator over HTTP.

The emulator deletes a policy that is still attached or still has non-default versions; AWS refuses
with DeleteConflict. The `state: absent` test injects that refusal, so it passes only if the module
detaches and prunes before DeletePolicy.
"""

from __future__ import annotations

import json
import urllib.parse
from typing import Any

import boto3
import pytest

from tests.conftest import cli, write, write_inventory
from tests.faults import query_error

ACCOUNT = "123456789012"
DOC_A = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}
DOC_B = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "*"}]}


def arn(name: str, path: str = "/") -> str:
    return f"arn:aws:iam::{ACCOUNT}:policy{path}{name}"


def default_document(iam: Any, policy_arn: str) -> dict[str, Any]:
    version = iam.get_policy(PolicyArn=policy_arn)["Policy"]["DefaultVersionId"]
    return iam.get_policy_version(PolicyArn=policy_arn, VersionId=version)["PolicyVersion"]["Document"]


def versions(iam: Any, policy_arn: str) -> dict[str, bool]:
    return {v["VersionId"]: v["IsDefaultVersion"] for v in iam.list_policy_versions(PolicyArn=policy_arn)["Versions"]}


def entities(iam: Any, policy_arn: str) -> dict[str, list[str]]:
    found = iam.list_entities_for_policy(PolicyArn=policy_arn)
    return {
        "users": sorted(u["UserName"] for u in found["PolicyUsers"]),
        "groups": sorted(g["GroupName"] for g in found["PolicyGroups"]),
        "roles": sorted(r["RoleName"] for r in found["PolicyRoles"]),
    }


def book(workdir: Any, body: str) -> Any:
    return write(workdir, "play.yml", "- accounts: all\n  tasks:\n" + body)


CREATE = """\
    - name: app read policy
      iam_policy:
        name: app-read
        description: read the app bucket
        document:
          Version: "2012-10-17"
          Statement:
            - Effect: Allow
              Action: s3:GetObject
              Resource: "*"
        attach_to:
          groups: [ops]
"""


def test_four_steps_check_apply_apply_check(iam, aws, workdir, calls):
    iam.create_group(GroupName="ops")
    inv = write_inventory(workdir, aws)
    play = book(workdir, CREATE)

    first = cli("run", play, "-i", inv, "--check")
    assert first.code == 2, first.out + first.err
    assert "would change" in first.out and "create policy app-read" in first.out
    assert "attach policy app-read to group ops" in first.out
    assert calls.mutating == []
    assert iam.list_policies(Scope="Local")["Policies"] == []

    second = cli("run", play, "-i", inv)
    assert second.code == 0, second.out + second.err
    assert "converged" in second.out
    assert calls.count("CreatePolicy") == 1 and calls.count("AttachGroupPolicy") == 1
    assert default_document(iam, arn("app-read")) == DOC_A
    assert iam.get_policy(PolicyArn=arn("app-read"))["Policy"]["Description"] == "read the app bucket"
    assert entities(iam, arn("app-read")) == {"users": [], "groups": ["ops"], "roles": []}

    calls.clear()
    third = cli("run", play, "-i", inv)
    assert third.code == 0, third.out + third.err
    assert calls.mutating == []

    fourth = cli("run", play, "-i", inv, "--check")
    assert fourth.code == 0
    assert "would change" not in fourth.out


def test_document_update_four_steps_and_rollback_restores_the_old_default(iam, aws, workdir, calls):
    iam.create_policy(PolicyName="app-read", PolicyDocument=json.dumps(DOC_A))
    inv = write_inventory(workdir, aws)
    play = book(workdir, f"    - iam_policy: {{name: app-read, document: '{json.dumps(DOC_B)}'}}\n")

    first = cli("run", play, "-i", inv, "--check")
    assert first.code == 2 and "new default version replacing v1" in first.out
    assert calls.mutating == []

    second = cli("run", play, "-i", inv, "--journal", "run.journal")
    assert second.code == 0, second.out + second.err
    assert default_document(iam, arn("app-read")) == DOC_B
    assert versions(iam, arn("app-read")) == {"v1": False, "v2": True}

    calls.clear()
    assert cli("run", play, "-i", inv).code == 0
    assert calls.mutating == []
    assert cli("run", play, "-i", inv, "--check").code == 0

    undone = cli("rollback", "run.journal")
    assert undone.code == 0, undone.out + undone.err
    assert default_document(iam, arn("app-read")) == DOC_A


def test_equivalent_document_in_another_form_writes_nothing(iam, aws, workdir, calls):
    live = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": ["s3:GetObject", "s3:ListBucket"], "Resource": "*"},
            {"Effect": "Deny", "Action": "iam:*", "Resource": "*"},
        ],
    }
    iam.create_policy(PolicyName="app-read", PolicyDocument=json.dumps(live))
    inv = write_inventory(workdir, aws)
    same = (
        '{ "Statement": [ {"Effect": "Deny", "Action": ["iam:*"], "Resource": ["*"]},'
        '  {"Effect": "Allow", "Action": ["s3:ListBucket", "s3:GetObject"], "Resource": "*"} ],'
        '  "Version": "2012-10-17" }'
    )
    play = book(workdir, f"    - iam_policy:\n        name: app-read\n        document: '{same}'\n")
    result = cli("run", play, "-i", inv)
    assert result.code == 0, result.out + result.err
    assert "equivalent document" in result.out
    assert calls.mutating == []
    assert versions(iam, arn("app-read")) == {"v1": True}


def test_json_string_and_yaml_mapping_documents_both_work(iam, aws, workdir, calls):
    inv = write_inventory(workdir, aws)
    text = json.dumps(DOC_A, indent=2)
    body = (
        "    - iam_policy:\n        name: from-json\n        document: |\n"
        + "".join(f"          {line}\n" for line in text.splitlines())
        + "    - iam_policy:\n        name: from-yaml\n        document:\n"
        + '          Version: "2012-10-17"\n'
        + "          Statement:\n            - {Effect: Allow, Action: [s3:GetObject], Resource: '*'}\n"
    )
    play = book(workdir, body)
    result = cli("run", play, "-i", inv)
    assert result.code == 0, result.out + result.err
    assert default_document(iam, arn("from-json")) == DOC_A
    assert default_document(iam, arn("from-yaml"))["Statement"][0]["Action"] == ["s3:GetObject"]

    calls.clear()
    again = cli("run", play, "-i", inv, "--check")
    assert again.code == 0, again.out
    assert calls.mutating == []


def seed_five_versions(iam: Any, name: str) -> str:
    policy_arn = iam.create_policy(PolicyName=name, PolicyDocument=json.dumps(DOC_A))["Policy"]["Arn"]
    for index in range(4):  # v2..v5, none default: v1 stays the default
        doc = {**DOC_A, "Statement": [{**DOC_A["Statement"][0], "Resource": f"arn:aws:s3:::bucket-{index}"}]}
        iam.create_policy_version(PolicyArn=policy_arn, PolicyDocument=json.dumps(doc), SetAsDefault=False)
    return policy_arn


def test_version_pruning_at_five_versions(iam, aws, workdir, calls):
    policy_arn = seed_five_versions(iam, "app-read")
    assert versions(iam, policy_arn) == {"v1": True, "v2": False, "v3": False, "v4": False, "v5": False}
    inv = write_inventory(workdir, aws)
    play = book(workdir, f"    - iam_policy: {{name: app-read, document: '{json.dumps(DOC_B)}'}}\n")

    check = cli("run", play, "-i", inv, "--check")
    assert check.code == 2 and "oldest non-default version v2" in check.out
    assert calls.mutating == []

    result = cli("run", play, "-i", inv)
    assert result.code == 0, result.out + result.err
    assert calls.mutating == ["DeletePolicyVersion", "CreatePolicyVersion"]
    # five remain: the oldest non-default (v2) is gone, the old default v1 is kept, v6 is the new default
    assert versions(iam, policy_arn) == {"v1": False, "v3": False, "v4": False, "v5": False, "v6": True}
    assert default_document(iam, policy_arn) == DOC_B


def test_sibling_policies_and_attachments_are_left_alone(iam, aws, workdir, calls):
    for user in ("alice", "bob"):
        iam.create_user(UserName=user)
    iam.create_role(RoleName="app", AssumeRolePolicyDocument=json.dumps(DOC_A))
    target = iam.create_policy(PolicyName="app-read", PolicyDocument=json.dumps(DOC_A))["Policy"]["Arn"]
    sibling = iam.create_policy(PolicyName="app-write", PolicyDocument=json.dumps(DOC_A))["Policy"]["Arn"]
    iam.create_policy_version(PolicyArn=sibling, PolicyDocument=json.dumps(DOC_B), SetAsDefault=True)
    for policy_arn in (target, sibling):
        iam.attach_user_policy(UserName="bob", PolicyArn=policy_arn)
        iam.attach_role_policy(RoleName="app", PolicyArn=policy_arn)
    iam.put_user_policy(UserName="bob", PolicyName="inline", PolicyDocument=json.dumps(DOC_A))
    before_sibling = (versions(iam, sibling), entities(iam, sibling), default_document(iam, sibling))

    inv = write_inventory(workdir, aws)
    play = book(
        workdir,
        "    - iam_policy:\n        name: app-read\n"
        f"        document: '{json.dumps(DOC_B)}'\n"
        "        attach_to: {users: [alice]}\n        exclusive_attachments: true\n",
    )
    result = cli("run", play, "-i", inv)
    assert result.code == 0, result.out + result.err
    assert entities(iam, target) == {"users": ["alice"], "groups": [], "roles": []}
    assert default_document(iam, target) == DOC_B
    assert (versions(iam, sibling), entities(iam, sibling), default_document(iam, sibling)) == before_sibling
    assert iam.list_user_policies(UserName="bob")["PolicyNames"] == ["inline"]
    assert sorted(calls.mutating) == sorted(
        ["CreatePolicyVersion", "AttachUserPolicy", "DetachUserPolicy", "DetachRolePolicy"]
    )


class ConflictUnlessClean:
    """Answer DeletePolicy as AWS does: DeleteConflict while the policy is attached or has old versions.

    The emulator deletes regardless; this asks it (through a separate client) what AWS would check.
    """

    def __init__(self, url: str) -> None:
        self.iam = boto3.client("iam", endpoint_url=url, region_name="us-east-1")
        self.conflicts = 0
        self.deletes = 0

    def __call__(self, client: Any) -> None:
        client.meta.events.register("before-send.iam.DeletePolicy", self._handle)

    def _handle(self, request: Any, **_: Any) -> Any:
        self.deletes += 1
        body = request.body.decode() if isinstance(request.body, bytes) else request.body
        policy_arn = urllib.parse.parse_qs(body)["PolicyArn"][0]
        attached = any(entities(self.iam, policy_arn).values())
        old_versions = [v for v, default in versions(self.iam, policy_arn).items() if not default]
        if attached or old_versions:
            self.conflicts += 1
            return query_error("DeleteConflict", "Cannot delete a policy attached to entities.", 409)
        return None


@pytest.fixture
def busy_policy(iam):
    iam.create_user(UserName="alice")
    iam.create_group(GroupName="ops")
    iam.create_role(RoleName="app", AssumeRolePolicyDocument=json.dumps(DOC_A))
    policy_arn = iam.create_policy(PolicyName="app-read", PolicyDocument=json.dumps(DOC_A))["Policy"]["Arn"]
    iam.create_policy_version(PolicyArn=policy_arn, PolicyDocument=json.dumps(DOC_B), SetAsDefault=True)
    iam.create_policy_version(PolicyArn=policy_arn, PolicyDocument=json.dumps(DOC_A), SetAsDefault=False)
    iam.attach_user_policy(UserName="alice", PolicyArn=policy_arn)
    iam.attach_group_policy(GroupName="ops", PolicyArn=policy_arn)
    iam.attach_role_policy(RoleName="app", PolicyArn=policy_arn)
    return policy_arn


def test_injected_delete_conflict_is_what_aws_would_say(busy_policy, aws, iam, client_hooks):
    """The control: the hook really refuses a premature DeletePolicy (else the next test proves nothing)."""
    hook = ConflictUnlessClean(aws)
    raw = boto3.client("iam", endpoint_url=aws, region_name="us-east-1")
    hook(raw)
    with pytest.raises(raw.exceptions.DeleteConflictException):
        raw.delete_policy(PolicyArn=busy_policy)
    assert hook.conflicts == 1
    assert iam.get_policy(PolicyArn=busy_policy)["Policy"]["PolicyName"] == "app-read"


def test_state_absent_detaches_prunes_then_deletes(busy_policy, aws, iam, workdir, calls, client_hooks):
    hook = ConflictUnlessClean(aws)
    client_hooks.append(hook)
    inv = write_inventory(workdir, aws)
    play = book(workdir, "    - iam_policy: {name: app-read, state: absent}\n")

    check = cli("run", play, "-i", inv, "--check")
    assert check.code == 2, check.out + check.err
    assert calls.mutating == []

    result = cli("run", play, "-i", inv)
    assert result.code == 0, result.out + result.err
    assert hook.deletes == 1 and hook.conflicts == 0
    assert calls.mutating == [
        "DetachUserPolicy",
        "DetachGroupPolicy",
        "DetachRolePolicy",
        "DeletePolicyVersion",
        "DeletePolicyVersion",
        "DeletePolicy",
    ]
    with pytest.raises(iam.exceptions.NoSuchEntityException):
        iam.get_policy(PolicyArn=busy_policy)

    calls.clear()
    again = cli("run", play, "-i", inv, "--check")
    assert again.code == 0 and "no customer managed policy app-read" in again.out
    assert calls.mutating == []
    assert calls.count("GetCallerIdentity") == 1  # reaching the account; the policy's ARN reuses it


def test_attaching_to_a_missing_entity_fails_clearly(iam, aws, workdir, calls):
    inv = write_inventory(workdir, aws)
    play = book(
        workdir,
        f"    - iam_policy: {{name: app-read, document: '{json.dumps(DOC_A)}', attach_to: {{roles: [ghost]}}}}\n",
    )
    result = cli("run", play, "-i", inv)
    assert result.code == 1
    assert "no such role ghost" in result.out + result.err
    assert calls.mutating == []


def test_missing_document_on_create_fails_clearly(iam, aws, workdir, calls):
    inv = write_inventory(workdir, aws)
    play = book(workdir, "    - iam_policy: {name: app-read}\n")
    result = cli("run", play, "-i", inv, "--check")
    assert result.code == 1
    assert "give a document to create it" in result.out + result.err
    assert calls.mutating == []


def test_rollback_of_a_create_detaches_then_deletes(iam, aws, workdir):
    iam.create_group(GroupName="ops")
    inv = write_inventory(workdir, aws)
    assert cli("run", book(workdir, CREATE), "-i", inv, "--journal", "run.journal").code == 0
    assert entities(iam, arn("app-read"))["groups"] == ["ops"]
    undone = cli("rollback", "run.journal")
    assert undone.code == 0, undone.out + undone.err
    assert iam.list_policies(Scope="Local")["Policies"] == []
    assert iam.list_attached_group_policies(GroupName="ops")["AttachedPolicies"] == []
