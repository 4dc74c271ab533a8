"""Journal + rollback: undo a run's changes, newest first; rollback --check says what it would do."""

from __future__ import annotations

import json

from tests.conftest import cli, write, write_inventory

SEEDED = {"MinimumPasswordLength": 8, "RequireNumbers": True, "MaxPasswordAge": 60, "PasswordReusePrevention": 3}
BOOK = """\
- tasks:
    - name: Strong passwords
      iam_password_policy: {minimum_length: 14, require_symbols: true, reuse_prevention: 24}
"""


def live(iam):
    return iam.get_account_password_policy()["PasswordPolicy"]


def test_rollback_restores_the_seeded_policy(iam, aws, workdir):
    iam.update_account_password_policy(**SEEDED)
    seeded = live(iam)
    inv, book = write_inventory(workdir, aws), write(workdir, "play.yml", BOOK)
    assert cli("run", book, "-i", inv, "--journal", "j.jsonl").code == 0
    assert live(iam)["MinimumPasswordLength"] == 14

    check = cli("rollback", "j.jsonl", "--check")
    assert check.code == 2 and "would undo" in check.out
    assert live(iam)["MinimumPasswordLength"] == 14

    done = cli("rollback", "j.jsonl")
    assert done.code == 0, done.out + done.err
    assert live(iam) == seeded

    after = cli("rollback", "j.jsonl", "--check")
    assert after.code == 0 and "nothing to undo" in after.out


def test_rollback_of_a_created_policy_deletes_it(iam, aws, workdir):
    inv, book = write_inventory(workdir, aws), write(workdir, "play.yml", BOOK)
    assert cli("run", book, "-i", inv, "--journal", "j.jsonl").code == 0
    assert cli("rollback", "j.jsonl").code == 0
    try:
        iam.get_account_password_policy()
        raise AssertionError("policy should be gone")
    except iam.exceptions.NoSuchEntityException:
        pass


def test_rollback_leaves_a_resource_changed_since_the_run(iam, aws, workdir, calls):
    iam.update_account_password_policy(**SEEDED)
    inv, book = write_inventory(workdir, aws), write(workdir, "play.yml", BOOK)
    assert cli("run", book, "-i", inv, "--journal", "j.jsonl").code == 0
    iam.update_account_password_policy(MinimumPasswordLength=20)
    calls.clear()
    result = cli("rollback", "j.jsonl")
    assert result.code == 1 and "changed since the run" in result.out
    assert calls.mutating == []
    assert live(iam)["MinimumPasswordLength"] == 20


def test_journal_records_before_image_and_undo_without_secrets(iam, aws, workdir):
    iam.update_account_password_policy(**SEEDED)
    inv, book = write_inventory(workdir, aws), write(workdir, "play.yml", BOOK)
    assert cli("run", book, "-i", inv, "--journal", "j.jsonl").code == 0
    records = [json.loads(line) for line in (workdir / "j.jsonl").read_text().splitlines()]
    assert [r["type"] for r in records] == ["run", "begin", "end"]
    begin = records[1]
    assert begin["change"]["before"]["MinimumPasswordLength"] == 8
    assert begin["change"]["undo"][0]["operation"] == "update_account_password_policy"
    text = (workdir / "j.jsonl").read_text()
    assert "testing" not in text  # the access key id / secret of the session never reach the journal


def test_default_journal_is_written_under_dot_remediator(iam, aws, workdir):
    iam.update_account_password_policy(**SEEDED)
    inv, book = write_inventory(workdir, aws), write(workdir, "play.yml", BOOK)
    result = cli("run", book, "-i", inv)
    journals = list((workdir / ".remediator" / "journal").glob("*.jsonl"))
    assert len(journals) == 1
    assert "remediator rollback" in result.out


TRUST_BY_ACCOUNT_ID = """\
- tasks:
    - name: Auditors' role
      iam_role:
        name: auditor
        trust_policy:
          Version: "2012-10-17"
          Statement: [{Effect: Allow, Principal: {AWS: "123456789012"}, Action: sts:AssumeRole}]
"""


def test_a_trust_policy_aws_rewrote_is_not_a_change_since_the_run(iam, aws, workdir):
    """AWS stores an account-id principal as the account's root ARN (the emulator keeps what it was given):
    rollback compares the documents by meaning, so the role it created is still its own and is deleted."""
    inv, book = write_inventory(workdir, aws), write(workdir, "play.yml", TRUST_BY_ACCOUNT_ID)
    assert cli("run", book, "-i", inv, "--journal", "j.jsonl").code == 0
    rewritten = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:root"}, "Action": "sts:AssumeRole"}
        ],
    }
    iam.update_assume_role_policy(RoleName="auditor", PolicyDocument=json.dumps(rewritten))
    assert cli("run", book, "-i", inv, "--check").code == 0  # planning already compared by meaning

    done = cli("rollback", "j.jsonl")
    assert done.code == 0, done.out + done.err
    assert "auditor" not in [r["RoleName"] for r in iam.list_roles()["Roles"]]
