"""The GitOps flow: plan on the pull request (--check --plan-out), apply the file after merge."""

from __future__ import annotations

import json

import boto3
import pytest

from remediator.aws.context import ReadContext
from remediator.aws.session import AccountSession
from remediator.errors import GuardError
from remediator.guards import check_own_credentials
from remediator.model import Account, AccountRun, ApiCall, Change, TaskPlan
from tests.conftest import cli, write, write_inventory

BOOK = """\
- accounts: all
  tasks:
    - name: Strong passwords
      iam_password_policy:
        minimum_length: 14
        require_symbols: true
"""


def setup(iam, workdir, aws):
    iam.update_account_password_policy(MinimumPasswordLength=8, RequireNumbers=True)
    return write_inventory(workdir, aws), write(workdir, "play.yml", BOOK)


def test_plan_out_in_check_mode_writes_nothing_then_apply_runs_it(iam, aws, workdir, calls):
    inv, book = setup(iam, workdir, aws)
    planned = cli("run", book, "-i", inv, "--check", "--plan-out", "plan.json")
    assert planned.code == 2
    assert calls.mutating == []
    assert iam.get_account_password_policy()["PasswordPolicy"]["MinimumPasswordLength"] == 8
    plan = json.loads((workdir / "plan.json").read_text())
    assert plan["format_version"] == 1
    change = plan["accounts"][0]["task_plans"][0]["changes"][0]
    assert change["before"]["MinimumPasswordLength"] == 8

    applied = cli("apply", "plan.json")
    assert applied.code == 0, applied.out + applied.err
    assert "converged" in applied.out
    live = iam.get_account_password_policy()["PasswordPolicy"]
    assert live["MinimumPasswordLength"] == 14 and live["RequireNumbers"] is True
    assert calls.count("UpdateAccountPasswordPolicy") == 1


def test_apply_skips_a_change_made_stale_out_of_band(iam, aws, workdir, calls):
    inv, book = setup(iam, workdir, aws)
    assert cli("run", book, "-i", inv, "--check", "--plan-out", "plan.json").code == 2
    # someone changes a field the change rewrites, between plan and apply
    iam.update_account_password_policy(MinimumPasswordLength=8, RequireNumbers=True, MaxPasswordAge=30)
    calls.clear()
    applied = cli("apply", "plan.json", "--format", "json")
    assert applied.code == 1
    (change,) = json.loads(applied.out)["accounts"][0]["tasks"][0]["changes"]
    assert change["result"] == "stale"
    assert "changed since the plan was made" in change["result_message"]
    assert "MaxPasswordAge: planned" in change["result_message"] and "now 30" in change["result_message"]
    assert calls.mutating == []
    live = iam.get_account_password_policy()["PasswordPolicy"]
    assert live["MaxPasswordAge"] == 30 and live["MinimumPasswordLength"] == 8


def test_apply_of_an_already_applied_plan_is_stale_not_repeated(iam, aws, workdir, calls):
    inv, book = setup(iam, workdir, aws)
    assert cli("run", book, "-i", inv, "--check", "--plan-out", "plan.json").code == 2
    assert cli("apply", "plan.json").code == 0
    calls.clear()
    again = cli("apply", "plan.json")
    assert again.code == 1 and "stale" in again.out
    assert calls.mutating == []


def test_run_with_plan_out_applies_and_records_the_plan(iam, aws, workdir):
    inv, book = setup(iam, workdir, aws)
    result = cli("run", book, "-i", inv, "--plan-out", "plan.json")
    assert result.code == 0
    assert (workdir / "plan.json").exists()
    assert iam.get_account_password_policy()["PasswordPolicy"]["MinimumPasswordLength"] == 14


def test_max_changes_per_run_applies_nothing(iam, aws, workdir, calls):
    inv, book = setup(iam, workdir, aws)
    result = cli("run", book, "-i", inv, "--max-changes", "0")
    assert result.code == 1
    assert "--max-changes 0" in result.err
    assert calls.mutating == []
    exact = cli("run", book, "-i", inv, "--max-changes", "1")
    assert exact.code == 0


def test_max_changes_per_task(iam, aws, workdir, calls):
    inv = write_inventory(workdir, aws)
    iam.update_account_password_policy(MinimumPasswordLength=8)
    book = write(
        workdir,
        "play.yml",
        BOOK.replace("      iam_password_policy:", "      max_changes: 0\n      iam_password_policy:"),
    )
    result = cli("run", book, "-i", inv)
    assert result.code == 1 and "max_changes of 0" in result.out
    assert calls.mutating == []


def test_guard_refuses_a_plan_that_would_disable_the_runs_own_key(iam, aws, calls):
    """Modules skip the run's own key; the guard proves it on the whole plan, whatever a module did."""
    iam.create_user(UserName="runner")
    key = iam.create_access_key(UserName="runner")["AccessKey"]
    params = {"UserName": "runner", "AccessKeyId": key["AccessKeyId"], "Status": "Inactive"}
    change = Change(
        f"test/global/iam_access_keys/runner/{key['AccessKeyId']}", "iam_access_keys", "runner", "disable",
        None, None, (ApiCall("iam", "update_access_key", params),), None, "deactivate the runner's key",
    )  # fmt: skip
    account = Account("test", endpoint_url=aws)
    run = AccountRun(account, [TaskPlan("test", "keys", "iam_access_keys", "play.yml:2", changes=[change])])
    signer = boto3.Session(aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"])
    reader = AccountSession(account, read_only=True, boto_session=signer)
    with pytest.raises(GuardError, match="run's own credentials"):
        check_own_credentials(run, ReadContext(reader))
    assert calls.mutating == []
