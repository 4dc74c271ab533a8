"""iam_admins end to end through the CLI, against the emulator over HTTP (AWS managed policies loaded).

Also: the hard-expiry guard of iam_password_policy and iam_admins count the same administrators on the
same account, because both use `remediator.admins`.
"""

from __future__ import annotations

import json
import re

import pytest

from remediator import admins, registry
from remediator.aws.context import ReadContext
from remediator.aws.session import AccountSession
from remediator.model import Account
from tests.conftest import cli, write, write_inventory

ADMIN_ARN = "arn:aws:iam::aws:policy/AdministratorAccess"
FULL = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
DENY_ALL = {"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "*", "Resource": "*"}]}
TRUST = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}],
}
PASSWORD = "Xx-0123456789!"


def play(**args: int) -> str:
    options = ", ".join(f"{k}: {v}" for k, v in args.items())
    return f"- name: admins\n  accounts: all\n  tasks:\n    - name: Administrators\n      iam_admins: {{{options}}}\n"


def user(iam, name: str, console: bool = True, groups: tuple[str, ...] = ()) -> None:
    iam.create_user(UserName=name)
    for group in groups:
        iam.add_user_to_group(GroupName=group, UserName=name)
    if console:
        iam.create_login_profile(UserName=name, Password=PASSWORD)


@pytest.fixture
def account(aws_managed, iam):
    """alice, bob: console + group admins (AdministratorAccess); carol: console + customer * on *;
    dave: in admins but with an inline deny-all; erin: in admins, no console password; frank: console,
    no admin; role deploy: AdministratorAccess."""
    iam.create_group(GroupName="admins")
    iam.attach_group_policy(GroupName="admins", PolicyArn=ADMIN_ARN)
    everything = iam.create_policy(PolicyName="everything", PolicyDocument=json.dumps(FULL))["Policy"]["Arn"]
    user(iam, "alice", groups=("admins",))
    user(iam, "bob", groups=("admins",))
    user(iam, "carol")
    iam.attach_user_policy(UserName="carol", PolicyArn=everything)
    user(iam, "dave", groups=("admins",))
    iam.put_user_policy(UserName="dave", PolicyName="quarantine", PolicyDocument=json.dumps(DENY_ALL))
    user(iam, "erin", console=False, groups=("admins",))
    user(iam, "frank")
    iam.create_role(RoleName="deploy", AssumeRolePolicyDocument=json.dumps(TRUST))
    iam.attach_role_policy(RoleName="deploy", PolicyArn=ADMIN_ARN)
    return iam


def run(workdir, aws, text: str, *extra: str):
    return cli("run", write(workdir, "play.yml", text), "-i", write_inventory(workdir, aws), *extra)


def test_min_met_lists_admins_with_evidence(account, aws, workdir, calls):
    result = run(workdir, aws, play(min=3))
    assert result.code == 0, result.out + result.err
    assert (
        "3 IAM user(s) with a console password hold full admin (min 3): alice (via group admins → AdministratorAccess);"
        " bob (via group admins → AdministratorAccess); carol (via everything)"
    ) in result.out
    assert "admin users without a console password (not counted toward min): erin (via group admins" in result.out
    assert "roles with full admin (not counted): deploy (via AdministratorAccess)" in result.out
    assert "dave" not in result.out and "frank" not in result.out
    assert calls.mutating == []


def test_below_min_is_high_and_console_less_admins_do_not_count(account, aws, workdir, calls):
    """Four users hold full admin, but erin has no console password: only three count toward min."""
    result = run(workdir, aws, play(min=4), "--check")
    assert result.code == 2, result.out + result.err
    assert "finding (high)" in result.out
    assert "only 3 IAM user(s) with a console password hold full admin, fewer than min 4" in result.out
    assert "locked out" in result.out and "erin (via group admins → AdministratorAccess)" in result.out
    assert calls.mutating == []


def test_max_counts_every_admin_user_but_no_role(account, aws, workdir, calls):
    at_max = run(workdir, aws, play(max=4))
    assert at_max.code == 0, at_max.out + at_max.err

    above = run(workdir, aws, play(max=3), "--check", "--format", "json")
    assert above.code == 2, above.err
    task = json.loads(above.out)["accounts"][0]["tasks"][0]
    (finding,) = task["findings"]
    assert finding["severity"] == "medium" and finding["address"] == "test/global/iam_admins/max"
    assert finding["resource"] == "arn:aws:iam::123456789012:root"
    assert "4 IAM users hold full admin, more than max 3:" in finding["message"]
    for name in ("alice", "bob", "carol", "erin"):
        assert f"{name} (via " in finding["message"]
    assert "dave" not in finding["message"]
    assert "roles with full admin (not counted): deploy" in finding["message"]
    assert calls.mutating == []


def test_max_below_min_is_refused(aws, workdir):
    result = run(workdir, aws, play(min=3, max=2), "--check")
    assert result.code == 1
    assert "max (2) is below min (3)" in result.out + result.err


HARD_EXPIRY_AND_ADMINS = """\
- name: passwords
  accounts: all
  tasks:
    - name: Administrators
      iam_admins: {}
    - name: Hard expiry
      iam_password_policy: {max_age_days: 90, hard_expiry: true}
"""


@pytest.mark.parametrize("second_admin", [False, True], ids=["one-console-admin", "two-console-admins"])
def test_hard_expiry_guard_and_iam_admins_agree(aws_managed, iam, aws, workdir, second_admin):
    """Same account, same count: what iam_admins reports is what the guard decides on."""
    iam.create_group(GroupName="admins")
    iam.attach_group_policy(GroupName="admins", PolicyArn=ADMIN_ARN)
    user(iam, "alice", groups=("admins",))
    user(iam, "erin", console=False, groups=("admins",))  # counts for neither
    user(iam, "dave", groups=("admins",))
    iam.put_user_policy(UserName="dave", PolicyName="quarantine", PolicyDocument=json.dumps(DENY_ALL))
    if second_admin:
        user(iam, "bob")
        iam.put_user_policy(UserName="bob", PolicyName="all", PolicyDocument=json.dumps(FULL))

    result = run(workdir, aws, HARD_EXPIRY_AND_ADMINS, "--check", "--format", "json")
    report = json.loads(result.out)
    run_ = report["accounts"][0]
    admins_task = next(t for t in run_["tasks"] if t["module"] == "iam_admins")
    reported = int(re.match(r"(\d+) IAM user\(s\) with a console password", admins_task["noop_reason"]).group(1))

    expected = ["alice", "bob"] if second_admin else ["alice"]
    assert reported == len(expected)
    if second_admin:
        assert result.code == 2, result.out + result.err  # hard expiry pending, no guard tripped
        assert admins_task["findings"] == []
    else:
        assert result.code == 1, result.out + result.err
        guard = re.search(
            r"only (\d+) administrator\(s\) with console access could reset expired passwords \((.*?)\)",
            json.dumps(run_),
        )
        assert guard, json.dumps(run_)
        assert int(guard.group(1)) == reported and guard.group(2) == "alice"
        assert "only 1 IAM user(s) with a console password" in admins_task["findings"][0]["message"]

    # And straight from the one implementation: the guard's census is what the module planned from.
    ctx = ReadContext(AccountSession(Account("test", endpoint_url=aws), read_only=True))
    module = registry.get("iam_admins")
    current = module.read(ctx, {})
    census = admins.census(ctx)
    assert current["console_users"] == sorted(a.name for a in census.console_users) == expected
    assert sorted(a.name for a in census.users) == sorted([*expected, "erin"])
