"""iam_password_policy end to end through the CLI, against the emulator over HTTP."""

from __future__ import annotations

import json

import pytest

from tests.conftest import cli, write, write_inventory

STRONG = """\
- name: baseline
  accounts: all
  tasks:
    - name: Strong password policy
      iam_password_policy:
        minimum_length: 14
        require_symbols: true
        reuse_prevention: 24
"""


def policy(iam):
    return iam.get_account_password_policy()["PasswordPolicy"]


@pytest.fixture
def weak(iam):
    iam.update_account_password_policy(
        MinimumPasswordLength=8, RequireNumbers=True, AllowUsersToChangePassword=True, MaxPasswordAge=90
    )
    return iam


def test_four_steps_check_apply_apply_check(weak, aws, workdir, calls):
    inv = write_inventory(workdir, aws)
    book = write(workdir, "play.yml", STRONG)

    first = cli("run", book, "-i", inv, "--check", "--diff")
    assert first.code == 2, first.err
    assert "would change" in first.out and "MinimumPasswordLength 8 → 14" in first.out
    assert calls.mutating == []
    assert policy(weak)["MinimumPasswordLength"] == 8

    second = cli("run", book, "-i", inv)
    assert second.code == 0, second.out + second.err
    assert "converged" in second.out
    assert calls.count("UpdateAccountPasswordPolicy") == 1
    live = policy(weak)
    assert live["MinimumPasswordLength"] == 14 and live["RequireSymbols"] is True
    assert live["PasswordReusePrevention"] == 24

    calls.clear()
    third = cli("run", book, "-i", inv)
    assert third.code == 0
    assert calls.mutating == []
    assert "ok:" in third.out

    fourth = cli("run", book, "-i", inv, "--check")
    assert fourth.code == 0
    assert "would change" not in fourth.out


def test_fields_the_task_leaves_out_are_kept(weak, aws, workdir):
    inv = write_inventory(workdir, aws)
    book = write(workdir, "play.yml", STRONG)
    assert cli("run", book, "-i", inv).code == 0
    live = policy(weak)
    # not named by the task: as they were, although UpdateAccountPasswordPolicy resets what it is not given
    assert live["RequireNumbers"] is True
    assert live["AllowUsersToChangePassword"] is True
    assert live["MaxPasswordAge"] == 90


def test_no_policy_yet_is_created(iam, aws, workdir):
    inv = write_inventory(workdir, aws)
    book = write(workdir, "play.yml", STRONG)
    result = cli("run", book, "-i", inv, "--check")
    assert result.code == 2 and "create the account password policy" in result.out
    assert cli("run", book, "-i", inv).code == 0
    assert policy(iam)["MinimumPasswordLength"] == 14


WEAKER = """\
- accounts: all
  tasks:
    - name: shorter
      iam_password_policy:
        minimum_length: 10
        max_age_days: 0
{extra}
"""


def test_weakening_is_refused_and_changes_nothing(weak, aws, workdir, calls):
    inv = write_inventory(workdir, aws)
    book = write(workdir, "play.yml", WEAKER.format(extra=""))
    weak.update_account_password_policy(MinimumPasswordLength=12, MaxPasswordAge=90)
    result = cli("run", book, "-i", inv)
    assert result.code == 1
    assert "would weaken" in result.out and "allow_weaken" in result.out
    assert "MinimumPasswordLength 12 → 10" in result.out
    assert calls.mutating == []
    assert policy(weak)["MinimumPasswordLength"] == 12


def test_weakening_allowed_with_the_flag(weak, aws, workdir):
    inv = write_inventory(workdir, aws)
    book = write(workdir, "play.yml", WEAKER.format(extra="        allow_weaken: true"))
    weak.update_account_password_policy(MinimumPasswordLength=12, MaxPasswordAge=90)
    result = cli("run", book, "-i", inv)
    assert result.code == 0, result.out + result.err
    live = policy(weak)
    assert live["MinimumPasswordLength"] == 10
    assert live["ExpirePasswords"] is False


def test_state_absent_deletes_and_is_idempotent(weak, aws, workdir):
    inv = write_inventory(workdir, aws)
    book = write(workdir, "play.yml", "- tasks:\n    - iam_password_policy: {state: absent}\n")
    assert cli("run", book, "-i", inv).code == 0
    with pytest.raises(weak.exceptions.NoSuchEntityException):
        weak.get_account_password_policy()
    again = cli("run", book, "-i", inv, "--check")
    assert again.code == 0 and "no account password policy" in again.out


HARD_EXPIRY = """\
- tasks:
    - iam_password_policy:
        max_age_days: 90
        hard_expiry: true
"""


def make_admin(iam, name, console=True):
    iam.create_user(UserName=name)
    iam.attach_user_policy(UserName=name, PolicyArn="arn:aws:iam::aws:policy/AdministratorAccess")
    if console:
        iam.create_login_profile(UserName=name, Password="Xx-0123456789!")


def test_hard_expiry_refused_with_one_console_admin(aws_managed, weak, aws, workdir, calls):
    make_admin(weak, "only-admin")
    make_admin(weak, "api-admin", console=False)  # no console password: cannot reset anyone's
    inv = write_inventory(workdir, aws)
    book = write(workdir, "play.yml", HARD_EXPIRY)
    result = cli("run", book, "-i", inv)
    assert result.code == 1
    assert "hard_expiry refused" in result.out and "only-admin" in result.out
    assert calls.mutating == []
    assert policy(weak)["HardExpiry"] is False


def test_hard_expiry_allowed_with_two_console_admins(aws_managed, weak, aws, workdir):
    make_admin(weak, "admin-1")
    weak.create_group(GroupName="admins")
    full = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
    arn = weak.create_policy(PolicyName="everything", PolicyDocument=json.dumps(full))["Policy"]["Arn"]
    weak.attach_group_policy(GroupName="admins", PolicyArn=arn)
    weak.create_user(UserName="admin-2")
    weak.add_user_to_group(GroupName="admins", UserName="admin-2")
    weak.create_login_profile(UserName="admin-2", Password="Xx-0123456789!")
    inv = write_inventory(workdir, aws)
    book = write(workdir, "play.yml", HARD_EXPIRY)
    result = cli("run", book, "-i", inv)
    assert result.code == 0, result.out + result.err
    assert policy(weak)["HardExpiry"] is True


def test_json_output_parses_and_reports_changes(weak, aws, workdir):
    inv = write_inventory(workdir, aws)
    book = write(workdir, "play.yml", STRONG)
    result = cli("run", book, "-i", inv, "--check", "--format", "json")
    data = json.loads(result.out)
    assert data["exit_code"] == 2 and data["mode"] == "check"
    task = data["accounts"][0]["tasks"][0]
    assert task["status"] == "would_change"
    assert task["changes"][0]["after"]["MinimumPasswordLength"] == 14
    assert task["changes"][0]["calls"][0]["operation"] == "update_account_password_policy"


def test_report_file_keeps_stdout_text(weak, aws, workdir):
    inv = write_inventory(workdir, aws)
    book = write(workdir, "play.yml", STRONG)
    result = cli("run", book, "-i", inv, "--check", "--format", "json", "--report", workdir / "r.json")
    assert "RECAP" in result.out
    assert json.loads((workdir / "r.json").read_text())["exit_code"] == 2
