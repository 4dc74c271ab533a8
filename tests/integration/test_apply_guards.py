"""`apply PLAN` judges the guards again, with the credentials that apply it (the GitOps flow: CI's
planner identity makes the plan, another identity applies it after merge)."""

from __future__ import annotations

import json

from tests.conftest import cli, write, write_inventory
from tests.emulator import age_key, keep_key_dates, sign_as

DEACTIVATE = "- tasks:\n    - name: keys\n      iam_access_keys: {unused_days: 90, action: deactivate}\n"
ADMIN_ARN = "arn:aws:iam::aws:policy/AdministratorAccess"
HARD_EXPIRY = """\
- tasks:
    - name: Hard expiry
      iam_password_policy: {max_age_days: 90, hard_expiry: true}
"""


def status(iam, user):
    return {k["AccessKeyId"]: k["Status"] for k in iam.list_access_keys(UserName=user)["AccessKeyMetadata"]}


def test_apply_refuses_to_deactivate_the_key_that_applies_it(iam, aws, workdir, calls, monkeypatch):
    keep_key_dates(monkeypatch)
    iam.create_user(UserName="planner")
    planner = iam.create_access_key(UserName="planner")["AccessKey"]
    iam.create_user(UserName="deployer")
    deployer = iam.create_access_key(UserName="deployer")["AccessKey"]
    age_key(deployer["AccessKeyId"], 400, 200)  # stale: the plan deactivates it
    inv, book = write_inventory(workdir, aws), write(workdir, "play.yml", DEACTIVATE)

    sign_as(monkeypatch, planner)
    planned = cli("run", book, "-i", inv, "--check", "--plan-out", "plan.json")
    assert planned.code == 2, planned.out + planned.err
    assert deployer["AccessKeyId"] in planned.out

    sign_as(monkeypatch, deployer)
    calls.clear()
    applied = cli("apply", "plan.json", "--format", "json")

    assert applied.code == 1
    assert "run's own credentials" in applied.err
    assert calls.mutating == []
    assert status(iam, "deployer") == {deployer["AccessKeyId"]: "Active"}
    report = json.loads(applied.out)
    assert report["accounts"][0]["status"] == "failed"


def test_apply_refuses_hard_expiry_when_an_admin_left_since_the_plan(aws_managed, iam, aws, workdir, calls):
    iam.create_group(GroupName="admins")
    iam.attach_group_policy(GroupName="admins", PolicyArn=ADMIN_ARN)
    for name in ("alice", "bob"):
        iam.create_user(UserName=name)
        iam.add_user_to_group(GroupName="admins", UserName=name)
        iam.create_login_profile(UserName=name, Password="Xx-0123456789!")
    inv, book = write_inventory(workdir, aws), write(workdir, "play.yml", HARD_EXPIRY)
    assert cli("run", book, "-i", inv, "--check", "--plan-out", "plan.json").code == 2
    iam.remove_user_from_group(GroupName="admins", UserName="bob")
    calls.clear()

    applied = cli("apply", "plan.json")

    assert applied.code == 1
    assert "hard_expiry refused" in applied.err
    assert calls.mutating == []


def test_apply_honours_max_changes(iam, aws, workdir, calls):
    iam.update_account_password_policy(MinimumPasswordLength=8)
    book = write(workdir, "play.yml", "- tasks:\n    - iam_password_policy: {minimum_length: 14}\n")
    assert cli("run", book, "-i", write_inventory(workdir, aws), "--check", "--plan-out", "plan.json").code == 2
    calls.clear()

    refused = cli("apply", "plan.json", "--max-changes", "0")

    assert refused.code == 1 and "--max-changes 0" in refused.err
    assert calls.mutating == []
    assert cli("apply", "plan.json", "--max-changes", "1").code == 0
    assert iam.get_account_password_policy()["PasswordPolicy"]["MinimumPasswordLength"] == 14


ALL = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}


def admins_group(iam, *names: str) -> None:
    """Group `admins` with an inline allow-all; each user in it, with a console password."""
    iam.create_group(GroupName="admins")
    iam.put_group_policy(GroupName="admins", PolicyName="all", PolicyDocument=json.dumps(ALL))
    for name in names:
        iam.create_user(UserName=name)
        iam.add_user_to_group(GroupName="admins", UserName=name)
        iam.create_login_profile(UserName=name, Password="Xx-0123456789!")


def test_a_run_that_would_leave_fewer_than_two_administrators_is_refused(iam, aws, workdir, calls):
    admins_group(iam, "alice", "bob")
    inv = write_inventory(workdir, aws)
    book = write(workdir, "play.yml", (
        "- tasks:\n    - name: drop admin rights\n"
        "      iam_inline_policy: {group: admins, policy_name: all, state: absent}\n"
    ))  # fmt: skip

    checked = cli("run", book, "-i", inv, "--check")
    applied = cli("run", book, "-i", inv)

    for result in (checked, applied):
        assert result.code == 1, result.out + result.err
        assert "would leave 0 administrator(s) with console access (none)" in result.err
        assert "alice, bob" in result.err and "iam_inline_policy/group/admins/all" in result.err
    assert calls.mutating == []
    assert iam.list_group_policies(GroupName="admins")["PolicyNames"] == ["all"]


def test_a_run_that_keeps_two_administrators_goes_ahead(iam, aws, workdir, calls):
    admins_group(iam, "alice", "bob")
    for name in ("carol", "dave"):
        iam.create_user(UserName=name)
        iam.create_login_profile(UserName=name, Password="Xx-0123456789!")
        iam.put_user_policy(UserName=name, PolicyName="mine", PolicyDocument=json.dumps(ALL))
    iam.add_user_to_group(GroupName="admins", UserName="carol")  # carol stays admin through the group
    inv = write_inventory(workdir, aws)
    book = write(workdir, "play.yml", (
        "- tasks:\n"
        "    - iam_inline_policy: {user: carol, policy_name: mine, state: absent}\n"
        "    - iam_inline_policy: {user: dave, policy_name: mine, state: absent}\n"
    ))  # fmt: skip

    applied = cli("run", book, "-i", inv)

    assert applied.code == 0, applied.out + applied.err  # 4 → 3 administrators: above the minimum
    assert sorted(calls.mutating) == ["DeleteUserPolicy", "DeleteUserPolicy"]


def test_removing_an_admin_from_the_admin_group_or_deleting_one_is_refused(iam, aws, workdir, calls):
    """The last-administrator guard covers iam_group (purge_members) and iam_user (state: absent)."""
    admins_group(iam, "alice", "bob")
    inv = write_inventory(workdir, aws)
    purge = write(workdir, "purge.yml", (
        "- tasks:\n    - name: admins are alice only\n"
        "      iam_group: {name: admins, members: [alice], purge_members: true}\n"
    ))  # fmt: skip
    delete = write(
        workdir, "delete.yml", "- tasks:\n    - name: bob leaves\n      iam_user: {name: bob, state: absent}\n"
    )

    for book, by in ((purge, "iam_group/admins/member/bob"), (delete, "iam_user/bob")):
        result = cli("run", book, "-i", inv)
        assert result.code == 1, result.out + result.err
        assert "would leave 1 administrator(s) with console access (alice)" in result.err
        assert "takes bob away" in result.err and by in result.err
    assert calls.mutating == []
    members = iam.get_group(GroupName="admins")["Users"]
    assert sorted(u["UserName"] for u in members) == ["alice", "bob"]
