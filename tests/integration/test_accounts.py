"""Reaching accounts: AssumeRole with an external id, and refusing credentials for the wrong account."""

from __future__ import annotations

from tests.conftest import cli, write

BOOK = "- tasks:\n    - iam_password_policy: {minimum_length: 14}\n"


def test_assume_role_with_external_id(iam, aws, workdir, calls, monkeypatch):
    monkeypatch.setenv("EXT_ID", "s3cr3t-ext")
    inv = write(
        workdir,
        "inv.yml",
        f"""\
all:
  accounts:
    member:
      account_id: "123456789012"
      endpoint_url: "{aws}"
      role_arn: arn:aws:iam::123456789012:role/remediator
      external_id: "{{{{ lookup_env('EXT_ID') }}}}"
      session_name: nightly-baseline
""",
    )
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
