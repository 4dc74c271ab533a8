"""iam_user end to end through the CLI, against the emulator over HTTP.

What the emulator does not do is injected here, as AWS does it: it deletes users that still have
dependents (AWS answers DeleteConflict, `tests.faults.UserDeleteConflict`). Users' permissions boundaries
and the tags of a moved user are kept by the emulator itself, as AWS keeps them (remediator/sandbox/shims.py).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from remediator import registry
from remediator.aws.context import ReadContext
from remediator.aws.session import AccountSession
from remediator.errors import TaskFailed
from remediator.model import Account
from tests.conftest import assert_converged, cli, write, write_inventory
from tests.emulator import DENY, PASSWORD, SSH_KEY, has_login_profile, self_signed_certificate, sign_as, user_names
from tests.faults import Inject, UserDeleteConflict, query_error

ALLOW = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}

FULL = """\
- accounts: all
  tasks:
    - name: alice
      iam_user:
        name: alice
        path: /people/
        groups: [devs, readers]
        permissions_boundary: {boundary}
        tags: {{team: core, critical: true}}
        console_access: false
"""

DRIFTED = """\
- tasks:
    - name: alice
      iam_user:
        name: alice
        path: /people/
        groups: [devs]
        purge_groups: true
        permissions_boundary: ""
        tags: {team: core}
        console_access: false
"""

ABSENT = "- tasks:\n    - name: bob leaves\n      iam_user: {name: bob, state: absent}\n"


# --- fixtures and helpers ------------------------------------------------------------------------------


@pytest.fixture
def boundary_arn(iam: Any) -> str:
    return iam.create_policy(PolicyName="boundary", PolicyDocument=json.dumps(ALLOW))["Policy"]["Arn"]


def live(iam: Any, name: str) -> dict[str, Any]:
    user = iam.get_user(UserName=name)["User"]
    return {
        "Path": user["Path"],
        "Groups": sorted(g["GroupName"] for g in iam.list_groups_for_user(UserName=name)["Groups"]),
        "Tags": {t["Key"]: t["Value"] for t in iam.list_user_tags(UserName=name)["Tags"]},
        "Console": has_login_profile(iam, name),
        "Boundary": user.get("PermissionsBoundary", {}).get("PermissionsBoundaryArn", ""),
    }


def populated_user(iam: Any, name: str) -> str:
    """A user with everything AWS wants removed before DeleteUser; returns its virtual MFA device's serial."""
    iam.create_user(UserName=name)
    iam.create_login_profile(UserName=name, Password=PASSWORD)
    iam.create_access_key(UserName=name)
    iam.create_access_key(UserName=name)
    iam.upload_signing_certificate(UserName=name, CertificateBody=self_signed_certificate(name))
    iam.upload_ssh_public_key(UserName=name, SSHPublicKeyBody=SSH_KEY)
    serial = iam.create_virtual_mfa_device(VirtualMFADeviceName=f"{name}-mfa")["VirtualMFADevice"]["SerialNumber"]
    iam.enable_mfa_device(
        UserName=name, SerialNumber=serial, AuthenticationCode1="123456", AuthenticationCode2="654321"
    )
    for group in ("devs", "ops"):
        iam.create_group(GroupName=group)
        iam.add_user_to_group(GroupName=group, UserName=name)
    iam.put_user_policy(UserName=name, PolicyName="inline", PolicyDocument=json.dumps(DENY))
    arn = iam.create_policy(PolicyName=f"{name}-policy", PolicyDocument=json.dumps(ALLOW))["Policy"]["Arn"]
    iam.attach_user_policy(UserName=name, PolicyArn=arn)
    return serial


# --- the four steps ------------------------------------------------------------------------------------


def test_four_steps_from_nothing(iam, aws, workdir, calls, boundary_arn):
    iam.create_group(GroupName="devs")
    iam.create_group(GroupName="readers")
    inv, book = write_inventory(workdir, aws), write(workdir, "play.yml", FULL.format(boundary=boundary_arn))

    first = cli("run", book, "-i", inv, "--check")
    assert first.code == 2, first.out + first.err
    assert "would change" in first.out and "create user alice at /people/" in first.out
    assert "add user alice to group devs" in first.out and "add user alice to group readers" in first.out
    assert calls.mutating == []
    assert user_names(iam) == []

    second = cli("run", book, "-i", inv)
    assert second.code == 0, second.out + second.err
    assert "converged" in second.out
    assert calls.mutating == ["CreateUser", "AddUserToGroup", "AddUserToGroup"]
    assert live(iam, "alice") == {
        "Path": "/people/",
        "Groups": ["devs", "readers"],
        "Tags": {"team": "core", "critical": "true"},
        "Console": False,
        "Boundary": boundary_arn,
    }

    assert_converged(book, inv, calls)


def test_four_steps_from_drifted_state(iam, aws, workdir, calls, boundary_arn):
    for group in ("admins", "devs", "ops"):
        iam.create_group(GroupName=group)
    tags = [{"Key": "team", "Value": "old"}, {"Key": "keep", "Value": "me"}]
    iam.create_user(UserName="alice", Path="/old/", Tags=tags)
    iam.add_user_to_group(GroupName="admins", UserName="alice")
    iam.add_user_to_group(GroupName="ops", UserName="alice")
    iam.create_login_profile(UserName="alice", Password=PASSWORD)
    iam.put_user_permissions_boundary(UserName="alice", PermissionsBoundary=boundary_arn)
    inv, book = write_inventory(workdir, aws), write(workdir, "play.yml", DRIFTED)

    first = cli("run", book, "-i", inv, "--check")
    assert first.code == 2, first.out + first.err
    assert "Path /old/ → /people/" in first.out and f"PermissionsBoundary {boundary_arn} → none" in first.out
    assert "remove user alice from group admins" in first.out and "remove user alice from group ops" in first.out
    assert "cannot be restored: the password is gone" in first.out
    assert calls.mutating == []

    second = cli("run", book, "-i", inv)
    assert second.code == 0, second.out + second.err
    assert calls.mutating == [
        "UpdateUser",
        "DeleteUserPermissionsBoundary",
        "AddUserToGroup",
        "RemoveUserFromGroup",
        "RemoveUserFromGroup",
        "TagUser",
        "DeleteLoginProfile",
    ]
    assert live(iam, "alice") == {
        "Path": "/people/",
        "Groups": ["devs"],
        "Tags": {"team": "core", "keep": "me"},
        "Console": False,
        "Boundary": "",
    }

    assert_converged(book, inv, calls)


def test_rollback_removes_a_created_user_after_its_memberships(iam, aws, workdir, calls, boundary_arn):
    iam.create_group(GroupName="devs")
    iam.create_group(GroupName="readers")
    inv, book = write_inventory(workdir, aws), write(workdir, "play.yml", FULL.format(boundary=boundary_arn))
    journal = workdir / "journal.jsonl"
    assert cli("run", book, "-i", inv, "--journal", journal).code == 0
    calls.clear()
    result = cli("rollback", journal)
    assert result.code == 0, result.out + result.err
    assert calls.mutating == ["RemoveUserFromGroup", "RemoveUserFromGroup", "DeleteUser"]
    assert user_names(iam) == []
    assert sorted(g["GroupName"] for g in iam.list_groups()["Groups"]) == ["devs", "readers"]


# --- groups --------------------------------------------------------------------------------------------


def test_purge_groups_makes_membership_exactly_the_list_of_that_user_only(iam, aws, workdir, calls):
    for group in ("admins", "devs", "readers"):
        iam.create_group(GroupName=group)
    for name in ("alice", "sibling"):
        iam.create_user(UserName=name)
        iam.add_user_to_group(GroupName="admins", UserName=name)
        iam.add_user_to_group(GroupName="devs", UserName=name)
    book = write(
        workdir, "play.yml", "- tasks:\n    - iam_user: {name: alice, groups: [devs, readers], purge_groups: true}\n"
    )
    result = cli("run", book, "-i", write_inventory(workdir, aws))
    assert result.code == 0, result.out + result.err
    assert live(iam, "alice")["Groups"] == ["devs", "readers"]
    assert live(iam, "sibling")["Groups"] == ["admins", "devs"]
    assert calls.mutating == ["AddUserToGroup", "RemoveUserFromGroup"]


def test_without_purge_groups_other_memberships_stay(iam, aws, workdir, calls):
    for group in ("admins", "devs"):
        iam.create_group(GroupName=group)
    iam.create_user(UserName="alice")
    iam.add_user_to_group(GroupName="admins", UserName="alice")
    book = write(workdir, "play.yml", "- tasks:\n    - iam_user: {name: alice, groups: [DEVS]}\n")
    result = cli("run", book, "-i", write_inventory(workdir, aws))
    assert result.code == 0, result.out + result.err
    assert live(iam, "alice")["Groups"] == ["admins", "devs"]  # the group as AWS spells it
    assert calls.mutating == ["AddUserToGroup"]


def test_an_unknown_group_fails_the_task_naming_it(iam, aws, workdir, calls):
    iam.create_group(GroupName="devs")
    book = write(workdir, "play.yml", "- tasks:\n    - iam_user: {name: alice, groups: [devs, ghost]}\n")
    result = cli("run", book, "-i", write_inventory(workdir, aws))
    assert result.code == 1
    assert "group 'ghost' does not exist and no earlier task creates it" in result.out + result.err
    assert calls.mutating == [] and user_names(iam) == []


def test_a_group_an_earlier_task_creates_may_be_joined(iam, aws):
    """The reader as the planner drives it: an earlier task's change has put `group:newcomers` among the
    entities the run creates."""
    reader = AccountSession(Account("test", endpoint_url=aws), read_only=True)
    ctx = ReadContext(reader)
    ctx.planned.update({"user:alice", "group:newcomers"})
    module = registry.get("iam_user")
    args = {"name": "alice", "groups": ["newcomers"]}
    result = module.plan(args, module.read(ctx, args), "test/global")
    assert [c.summary for c in result.changes] == ["create user alice", "add user alice to group newcomers"]

    with pytest.raises(TaskFailed, match="group 'newcomers' does not exist"):
        module.plan(args, module.read(ReadContext(reader), args), "test/global")


def test_a_playbook_creates_the_group_then_the_user_joins_it(iam, aws, workdir, calls):
    book = write(
        workdir,
        "play.yml",
        "- tasks:\n    - iam_group: {name: operators}\n    - iam_user: {name: alice, groups: [operators]}\n",
    )
    inv = write_inventory(workdir, aws)
    check = cli("run", book, "-i", inv, "--check")
    assert check.code == 2, check.out + check.err
    assert "failed" not in check.out.split("RECAP")[0]
    assert calls.mutating == []

    applied = cli("run", book, "-i", inv)
    assert applied.code == 0, applied.out + applied.err
    assert live(iam, "alice")["Groups"] == ["operators"]
    calls.clear()
    assert cli("run", book, "-i", inv, "--check").code == 0 and calls.mutating == []


def test_a_user_this_playbook_creates_may_be_named_by_a_later_task(iam, aws, workdir, calls):
    """The create says `creates=user:NAME`: a later task that names the user plans against it in check mode
    (where the user does not exist yet) and applies after it."""
    book = write(
        workdir,
        "play.yml",
        "- tasks:\n"
        "    - iam_user: {name: svc-deploy, console_access: false}\n"
        "    - iam_inline_policy:\n"
        "        user: svc-deploy\n"
        "        policy_name: read-artifacts\n"
        f"        document: {json.dumps(ALLOW)}\n",
    )
    inv = write_inventory(workdir, aws)
    check = cli("run", book, "-i", inv, "--check")
    assert check.code == 2, check.out + check.err
    assert "failed" not in check.out.split("RECAP")[0]
    assert calls.mutating == []

    applied = cli("run", book, "-i", inv)
    assert applied.code == 0, applied.out + applied.err
    assert calls.mutating == ["CreateUser", "PutUserPolicy"]
    assert iam.list_user_policies(UserName="svc-deploy")["PolicyNames"] == ["read-artifacts"]
    calls.clear()
    assert cli("run", book, "-i", inv, "--check").code == 0 and calls.mutating == []


# --- the console password ------------------------------------------------------------------------------


def test_console_access_false_removes_the_login_profile_for_good(iam, aws, workdir, calls):
    iam.create_user(UserName="alice")
    iam.create_login_profile(UserName="alice", Password=PASSWORD)
    inv = write_inventory(workdir, aws)
    book = write(workdir, "play.yml", "- tasks:\n    - iam_user: {name: alice, console_access: false}\n")

    check = cli("run", book, "-i", inv, "--check")
    assert check.code == 2, check.out + check.err
    assert "remove console access of user alice" in check.out
    assert "cannot be restored: the password is gone" in check.out
    assert calls.mutating == [] and has_login_profile(iam, "alice")

    journal = workdir / "journal.jsonl"
    result = cli("run", book, "-i", inv, "--journal", journal)
    assert result.code == 0, result.out + result.err
    assert not has_login_profile(iam, "alice")
    assert calls.mutating == ["DeleteLoginProfile"]
    begun = [json.loads(line) for line in journal.read_text().splitlines() if '"begin"' in line]
    assert len(begun) == 1
    assert "cannot be restored: the password is gone" in begun[0]["change"]["summary"]
    assert begun[0]["change"]["undo"] is None
    assert PASSWORD not in journal.read_text() + result.out + result.err


def test_console_access_true_only_checks(iam, aws, workdir, calls):
    iam.create_user(UserName="alice")
    iam.create_user(UserName="bob")
    iam.create_login_profile(UserName="bob", Password=PASSWORD)
    book = write(
        workdir,
        "play.yml",
        "- tasks:\n    - iam_user: {name: alice, console_access: true}\n"
        "    - iam_user: {name: bob, console_access: true}\n",
    )
    result = cli("run", book, "-i", write_inventory(workdir, aws), "--format", "json")
    assert result.code == 2, result.out + result.err  # the finding is open
    tasks = json.loads(result.out)["accounts"][0]["tasks"]
    assert [len(t["findings"]) for t in tasks] == [1, 0]
    assert "never created" in tasks[0]["findings"][0]["message"]
    assert calls.mutating == [] and not has_login_profile(iam, "alice")


# --- state: absent -------------------------------------------------------------------------------------


def test_absent_deletes_every_dependent_in_aws_order(iam, aws, workdir, calls, client_hooks):
    populated_user(iam, "bob")
    iam.create_user(UserName="sibling")
    iam.add_user_to_group(GroupName="devs", UserName="sibling")
    hook = UserDeleteConflict(iam)
    client_hooks.append(hook)
    assert hook.remaining("bob")  # the injected conflict would bite a naive delete
    inv, book = write_inventory(workdir, aws), write(workdir, "play.yml", ABSENT)

    check = cli("run", book, "-i", inv, "--check")
    assert check.code == 2, check.out + check.err
    assert "delete user bob with login profile, 2 access keys" in check.out and "cannot be undone" in check.out
    assert calls.mutating == []

    calls.clear()
    result = cli("run", book, "-i", inv)
    assert result.code == 0, result.out + result.err
    assert hook.seen == 1 and hook.conflicts == []
    assert calls.mutating == [
        "DeleteLoginProfile",
        "DeleteAccessKey",
        "DeleteAccessKey",
        "DeleteSigningCertificate",
        "DeleteSSHPublicKey",
        "DeactivateMFADevice",
        "DeleteVirtualMFADevice",
        "RemoveUserFromGroup",
        "RemoveUserFromGroup",
        "DeleteUserPolicy",
        "DetachUserPolicy",
        "DeleteUser",
    ]
    assert user_names(iam) == ["sibling"]
    assert live(iam, "sibling")["Groups"] == ["devs"]
    assert iam.list_virtual_mfa_devices()["VirtualMFADevices"] == []
    # Dependents are listed for the deleted user only: at planning and at the apply-time re-read.
    assert calls.count("ListSigningCertificates") == 2

    calls.clear()
    again = cli("run", book, "-i", inv)
    assert again.code == 0 and calls.mutating == []
    assert "does not exist, as the task wants" in again.out


def test_a_delete_conflict_fails_the_task_cleanly_and_is_reported(iam, aws, workdir, calls, client_hooks):
    """A dependent the plan could not see (AWS adds kinds of credentials): DeleteUser is refused, the change
    fails, and the run says so (exit 1, the AWS error on the task), with no traceback."""
    iam.create_user(UserName="bob")
    iam.create_access_key(UserName="bob")
    conflict = Inject(
        "iam", "DeleteUser", lambda: query_error("DeleteConflict", "Cannot delete entity, must remove X first.", 409)
    )
    client_hooks.append(conflict)
    journal = workdir / "journal.jsonl"
    result = cli("run", write(workdir, "play.yml", ABSENT), "-i", write_inventory(workdir, aws), "--journal", journal)
    assert result.code == 1, result.out + result.err
    assert "failed" in result.out and "DeleteConflict" in result.out
    assert "Traceback" not in result.out + result.err
    assert conflict.seen == 1 and calls.mutating == ["DeleteAccessKey", "DeleteUser"]
    assert user_names(iam) == ["bob"]
    ended = [json.loads(line) for line in journal.read_text().splitlines() if '"end"' in line]
    assert [e["status"] for e in ended] == ["failed"] and "DeleteConflict" in ended[0]["message"]


def test_a_key_added_after_the_plan_makes_the_delete_stale(iam, aws, workdir, calls):
    iam.create_user(UserName="bob")
    inv, book = write_inventory(workdir, aws), write(workdir, "play.yml", ABSENT)
    plan = workdir / "plan.json"
    assert cli("run", book, "-i", inv, "--check", "--plan-out", plan).code == 2
    iam.create_access_key(UserName="bob")
    result = cli("apply", plan)
    assert result.code == 1, result.out + result.err
    assert "stale" in result.out
    assert calls.mutating == [] and user_names(iam) == ["bob"]


# --- the run's own user --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "refusal"),
    [
        ("state: absent", "state: absent would delete the run's own credentials"),
        ("console_access: false", "console_access: false would delete its own console password"),
    ],
    ids=["delete", "console"],
)
def test_the_runs_own_user_is_refused(iam, aws, workdir, calls, monkeypatch, options, refusal):
    iam.create_user(UserName="runner")
    iam.create_login_profile(UserName="runner", Password=PASSWORD)
    own_key = iam.create_access_key(UserName="runner")["AccessKey"]
    sign_as(monkeypatch, own_key)
    book = write(workdir, "play.yml", f"- tasks:\n    - iam_user: {{name: runner, {options}}}\n")
    result = cli("run", book, "-i", write_inventory(workdir, aws))
    assert result.code == 1, result.out + result.err
    assert "user runner is the user this run signs as" in result.out and refusal in result.out
    assert calls.mutating == []
    assert calls.count("ListSigningCertificates") == 0 and calls.count("ListAccessKeys") == 0
    assert user_names(iam) == ["runner"] and has_login_profile(iam, "runner")
    assert own_key["SecretAccessKey"] not in result.out + result.err


# --- reads, and input AWS refuses ----------------------------------------------------------------------


def test_only_the_named_user_is_read_one_by_one(iam, aws, workdir, calls):
    for n in range(5):
        iam.create_user(UserName=f"other-{n}")
        iam.create_access_key(UserName=f"other-{n}")
    iam.create_user(UserName="alice")
    book = write(workdir, "play.yml", "- tasks:\n    - iam_user: {name: alice, tags: {team: core}}\n")
    result = cli("run", book, "-i", write_inventory(workdir, aws))
    assert result.code == 0, result.out + result.err
    assert calls.mutating == ["TagUser"]
    for per_user in ("GetUser", "GetLoginProfile", "ListAccessKeys", "ListGroupsForUser", "ListUserTags"):
        assert calls.count(per_user) == 0, per_user
    assert calls.count("GetAccountAuthorizationDetails") == 3  # plan, apply-time re-read, verification

    calls.clear()
    console = write(workdir, "console.yml", "- tasks:\n    - iam_user: {name: alice, console_access: false}\n")
    assert cli("run", console, "-i", write_inventory(workdir, aws), "--check").code == 0
    assert calls.count("GetLoginProfile") == 1


@pytest.mark.parametrize(
    ("options", "complaint"),
    [
        ("name: ユーザー", "contains"),
        ("name: alice, path: /people", "is not valid"),
        ("name: alice, groups: [dev ops]", "group name 'dev ops' contains"),
        ("name: alice, permissions_boundary: boundary", "give the boundary policy's ARN"),
        ("name: alice, tags: {'aws:team': core}", "a prefix AWS reserves"),
        ("name: alice, state: absent, groups: [devs]", "takes no other user fields"),
    ],
    ids=["name", "path", "group", "boundary", "tag", "absent-with-fields"],
)
def test_input_aws_refuses_is_refused_before_any_call(aws, workdir, calls, options, complaint):
    book = write(workdir, "play.yml", f"- tasks:\n    - iam_user: {{{options}}}\n")
    result = cli("validate", book)
    assert result.code == 1
    assert complaint in result.out + result.err
    assert calls.records == []


def test_the_documented_example_is_a_valid_playbook(workdir, calls):
    example = registry.get("iam_user").example
    book = write(workdir, "play.yml", "- tasks:\n" + "".join(f"    {line}\n" for line in example.splitlines()))
    result = cli("validate", book)
    assert result.code == 0, result.out + result.err
    assert calls.records == []


def test_the_emulator_keeps_a_users_boundary_and_tags_as_aws_does(iam, aws, boundary_arn):
    """What the product relies on and moto lacks, kept by the emulator's shims: a user's boundary is set by
    CreateUser or PutUserPermissionsBoundary and removed by DeleteUserPermissionsBoundary; GetUser and the
    authorization details show it, ListUsers does not; a user given a new path keeps its tags."""
    client = AccountSession(Account("t", endpoint_url=aws), read_only=False).client("iam")
    client.call(
        "create_user", UserName="alice", PermissionsBoundary=boundary_arn, Tags=[{"Key": "team", "Value": "core"}]
    )
    shown = {"PermissionsBoundaryType": "PermissionsBoundaryPolicy", "PermissionsBoundaryArn": boundary_arn}
    assert iam.get_user(UserName="alice")["User"]["PermissionsBoundary"] == shown
    details = client.call("get_account_authorization_details", Filter=["User"])["UserDetailList"]
    assert details[0]["PermissionsBoundary"] == shown
    assert "PermissionsBoundary" not in iam.list_users()["Users"][0]

    client.call("delete_user_permissions_boundary", UserName="alice")
    details = client.call("get_account_authorization_details", Filter=["User"])["UserDetailList"]
    assert (
        "PermissionsBoundary" not in details[0] and "PermissionsBoundary" not in iam.get_user(UserName="alice")["User"]
    )
    client.call("put_user_permissions_boundary", UserName="alice", PermissionsBoundary=boundary_arn)
    assert live(iam, "alice")["Boundary"] == boundary_arn
    with pytest.raises(iam.exceptions.NoSuchEntityException):
        iam.put_user_permissions_boundary(UserName="ghost", PermissionsBoundary=boundary_arn)

    client.call("update_user", UserName="alice", NewPath="/people/")
    assert live(iam, "alice") == {
        "Path": "/people/",
        "Groups": [],
        "Tags": {"team": "core"},
        "Console": False,
        "Boundary": boundary_arn,
    }


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ("tags: {team: core}", {"iam:CreateUser", "iam:TagUser"}),
        (
            "groups: [devs], purge_groups: true, console_access: false",
            {"iam:CreateUser", "iam:AddUserToGroup", "iam:RemoveUserFromGroup", "iam:DeleteLoginProfile"},
        ),
        ("console_access: true", {"iam:CreateUser"}),
        (
            "state: absent",
            {
                "iam:DeleteLoginProfile",
                "iam:DeleteAccessKey",
                "iam:DeleteSigningCertificate",
                "iam:DeleteSSHPublicKey",
                "iam:DeleteServiceSpecificCredential",
                "iam:DeactivateMFADevice",
                "iam:DeleteVirtualMFADevice",
                "iam:RemoveUserFromGroup",
                "iam:DeleteUserPolicy",
                "iam:DetachUserPolicy",
                "iam:DeleteUser",
            },
        ),
    ],
    ids=["tags", "groups-and-console", "console-check", "absent"],
)
def test_permissions_follow_the_options(workdir, options, expected):
    book = write(workdir, "play.yml", f"- tasks:\n    - iam_user: {{name: alice, {options}}}\n")
    result = cli("permissions", book)
    assert result.code == 0, result.out + result.err
    policy = json.loads(result.out)
    assert {a for s in policy["Statement"] if s["Sid"] == "RemediatorWrite" for a in s["Action"]} == expected
