"""Throttling, 5xx and pagination as real AWS does them, injected where the emulator does not."""

from __future__ import annotations

import pytest

from remediator.aws import retry
from remediator.aws.context import ReadContext
from remediator.aws.reads import authorization_details
from remediator.aws.session import AccountSession
from remediator.errors import AwsError, CheckModeViolation
from remediator.model import Account
from tests.conftest import cli, write, write_inventory
from tests.faults import Inject, query_error
from tests.pages import truncate

BOOK = "- tasks:\n    - iam_password_policy: {minimum_length: 14}\n"


def throttle() -> object:
    return query_error("Throttling", "Rate exceeded")


def test_throttled_twice_then_succeeds(iam, aws, workdir, client_hooks):
    iam.update_account_password_policy(MinimumPasswordLength=8)
    injected = Inject("iam", "UpdateAccountPasswordPolicy", throttle, times=2)
    client_hooks.append(injected)
    result = cli("run", write(workdir, "p.yml", BOOK), "-i", write_inventory(workdir, aws))
    assert result.code == 0, result.out + result.err
    assert injected.seen == 3
    assert iam.get_account_password_policy()["PasswordPolicy"]["MinimumPasswordLength"] == 14


def test_always_throttled_fails_clearly_after_bounded_attempts(iam, aws, workdir, client_hooks):
    iam.update_account_password_policy(MinimumPasswordLength=8, RequireNumbers=True)
    injected = Inject("iam", "UpdateAccountPasswordPolicy", throttle)
    client_hooks.append(injected)
    result = cli("run", write(workdir, "p.yml", BOOK), "-i", write_inventory(workdir, aws))
    assert result.code == 1
    assert "failed to update account password policy: Throttling: Rate exceeded" in result.out
    assert "Traceback" not in result.err
    assert injected.seen == retry.DEFAULT_POLICY.attempts
    live = iam.get_account_password_policy()["PasswordPolicy"]
    assert live["MinimumPasswordLength"] == 8 and live["RequireNumbers"] is True  # nothing half-applied


def test_server_errors_are_retried_and_client_errors_are_not(aws, client_hooks):
    five_hundred = Inject("iam", "GetAccountPasswordPolicy", lambda: query_error("InternalFailure", "oops", 500), 1)
    client_hooks.append(five_hundred)
    client = AccountSession(Account("t", endpoint_url=aws), read_only=True).client("iam")
    with pytest.raises(AwsError) as caught:
        client.call("get_account_password_policy")
    assert caught.value.code == "NoSuchEntity"  # the emulator's real answer, after one retried 500
    assert five_hundred.seen == 2


def test_read_only_client_refuses_writes_before_sending(aws, calls):
    client = AccountSession(Account("t", endpoint_url=aws), read_only=True).client("iam")
    with pytest.raises(CheckModeViolation):
        client.call("update_account_password_policy", MinimumPasswordLength=20)
    assert calls.records == []


def test_authorization_details_follows_markers(iam, aws, client_hooks):
    for n in range(5):
        iam.create_user(UserName=f"user-{n}")
    pages = truncate("GetAccountAuthorizationDetails", "UserDetailList", 3)  # two pages: 3 users, then 2
    client_hooks.append(pages)
    ctx = ReadContext(AccountSession(Account("t", endpoint_url=aws), read_only=True))
    details = authorization_details(ctx)
    assert pages.markers == [None, "page-2"]
    assert sorted(u["UserName"] for u in details["UserDetailList"]) == [f"user-{n}" for n in range(5)]
    assert authorization_details(ctx) is details  # one read per account per run
