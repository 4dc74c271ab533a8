"""Reaching accounts: AssumeRole with an external id, and refusing credentials for the wrong account."""

from __future__ import annotations

from typing import Any

from tests.conftest import cli, write

BOOK = "- tasks:\n    - iam_password_policy: {minimum_length: 14}\n"


EXTERNAL_ID_INVENTORY = """\
all:
  accounts:
    member:
      account_id: "123456789012"
      endpoint_url: "{aws}"
      role_arn: arn:aws:iam::123456789012:role/remediator
      external_id: "{{{{ lookup_env('EXT_ID') }}}}"
      session_name: nightly-baseline
"""


def test_assume_role_with_external_id(iam, aws, workdir, calls, monkeypatch):
    monkeypatch.setenv("EXT_ID", "s3cr3t-ext")
    inv = write(workdir, "inv.yml", EXTERNAL_ID_INVENTORY.format(aws=aws))
    result = cli("run", write(workdir, "p.yml", BOOK), "-i", inv)
    assert result.code == 0, result.out + result.err
    assert calls.count("AssumeRole") == 1  # one session per account, shared by planning and applying
    assert iam.get_account_password_policy()["PasswordPolicy"]["MinimumPasswordLength"] == 14


def test_credentials_for_another_account_are_refused(iam, aws, workdir, calls):
    inv = write(
        workdir, "inv.yml", f'all:\n  accounts:\n    prod: {{account_id: "111111111111", endpoint_url: "{aws}"}}\n'
    )
    result = cli("run", write(workdir, "p.yml", BOOK), "-i", inv)
    assert result.code == 1
    assert "reach account 123456789012, not 111111111111" in result.err
    assert calls.mutating == []
    assert [op for _, _, op, _ in calls.records] == ["GetCallerIdentity"]


def test_plans_and_journals_never_hold_the_external_id(iam, aws, workdir, calls, monkeypatch):
    """The plan and the journal name the inventory account; apply and rollback take the inventory (-i)
    again for the external id, and every AssumeRole carries it."""
    from remediator.aws import session

    monkeypatch.setenv("EXT_ID", "s3cr3t-ext")
    sent: list[Any] = []

    def external_ids(account: str, service: str, operation: str, params: dict[str, Any], read_only: bool) -> None:
        if operation == "AssumeRole":
            sent.append(params.get("ExternalId"))

    monkeypatch.setattr(session, "CALL_OBSERVERS", [*session.CALL_OBSERVERS, external_ids])
    inv = write(workdir, "inv.yml", EXTERNAL_ID_INVENTORY.format(aws=aws))
    book = write(workdir, "p.yml", BOOK)
    planned = cli("run", book, "-i", inv, "--check", "--plan-out", "plan.json")
    assert planned.code == 2, planned.out + planned.err
    assert "s3cr3t" not in (workdir / "plan.json").read_text()

    calls.clear()
    without = cli("apply", "plan.json")
    assert without.code == 1 and "-i INVENTORY" in without.err and calls.records == []

    applied = cli("apply", "plan.json", "-i", inv, "--journal", "j.jsonl")
    assert applied.code == 0, applied.out + applied.err
    assert iam.get_account_password_policy()["PasswordPolicy"]["MinimumPasswordLength"] == 14
    assert "s3cr3t" not in (workdir / "j.jsonl").read_text()

    calls.clear()
    assert cli("rollback", "j.jsonl").code == 1 and calls.records == []
    assert cli("rollback", "j.jsonl", "--check").code == 2  # a check makes no call: it needs no secret
    undone = cli("rollback", "j.jsonl", "-i", inv)
    assert undone.code == 0, undone.out + undone.err
    assert sent and set(sent) == {"s3cr3t-ext"}  # planning, apply and rollback all assumed with it
