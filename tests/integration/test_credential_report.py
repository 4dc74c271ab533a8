"""Reading the credential report: poll while AWS builds it, then parse; once per account per phase."""

from __future__ import annotations

import pytest

from remediator.aws.context import ReadContext
from remediator.aws.session import AccountSession
from remediator.credreport import credential_report
from remediator.errors import RemediatorError
from remediator.identity import run_identity
from remediator.model import Account
from tests.faults import Inject, query_error


def context(aws):
    return ReadContext(AccountSession(Account("t", endpoint_url=aws), read_only=True))


def test_report_lists_users_and_keys(iam, aws, calls):
    iam.create_user(UserName="kim")
    iam.create_access_key(UserName="kim")
    ctx = context(aws)
    rows = {r.user: r for r in credential_report(ctx)}
    assert [k.active for k in rows["kim"].keys] == [True]
    assert credential_report(ctx) is credential_report(ctx)
    assert calls.count("GetCredentialReport") == 1


def test_report_in_progress_is_polled_through(iam, aws, client_hooks):
    iam.create_user(UserName="kim")
    busy = Inject(
        "iam", "GetCredentialReport", lambda: query_error("ReportInProgress", "Report is being generated", 410), 2
    )
    client_hooks.append(busy)
    rows = credential_report(context(aws))
    assert "kim" in {r.user for r in rows}
    assert busy.seen == 3


def test_a_report_that_never_completes_fails_clearly(iam, aws, client_hooks):
    client_hooks.append(
        Inject("iam", "GetCredentialReport", lambda: query_error("ReportInProgress", "Report is being generated", 410))
    )
    with pytest.raises(RemediatorError, match="still being built"):
        credential_report(context(aws))


def test_run_identity_names_the_signing_key(aws):
    identity = run_identity(context(aws))
    assert identity.access_key_id == "testing"
    assert identity.arn.startswith("arn:aws:")
