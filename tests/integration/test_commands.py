"""The commands a user types: the README's first command, sandbox, validate, doc, permissions, schema."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from remediator.loader import yamlfile
from remediator.sandbox import demo
from remediator.sandbox.server import free_port
from tests.conftest import REPO, cli, write, write_inventory

PLAYBOOKS = sorted((REPO / "playbooks").glob("*.yml"))


def run(args: list[str], cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    return subprocess.run(
        [sys.executable, "-m", "remediator", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture
def repo_copy(tmp_path: Path) -> Path:
    for folder in ("playbooks", "inventories", "templates"):
        if (REPO / folder).exists():
            shutil.copytree(REPO / folder, tmp_path / folder)
    return tmp_path


@pytest.mark.slow
def test_readme_first_command_converges_the_demo_account(repo_copy, aws_managed):
    check = run(
        ["run", "playbooks/cis-iam-baseline.yml", "-i", "inventories/sandbox.yml", "--check", "--diff"], repo_copy
    )
    assert check.returncode == 2, check.stdout + check.stderr
    assert "would change" in check.stdout and "+ MinimumPasswordLength: 14" in check.stdout
    assert "MaxSessionDuration 43200 → 3600" in check.stdout and "legacy-full-access" in check.stdout

    # Applying converges every change; what no API call should fix (the full-admin policy, root MFA,
    # a single administrator, stale keys in report mode) stays open as findings: exit 2, not 0.
    applied = run(["run", "playbooks/cis-iam-baseline.yml", "-i", "inventories/sandbox.yml", "--diff"], repo_copy)
    assert applied.returncode == 2, applied.stdout + applied.stderr
    assert "converged" in applied.stdout and "findings open" in applied.stdout
    assert "legacy-full-access" in applied.stdout
    assert "Traceback" not in applied.stderr

    # The embedded emulator starts afresh with each run: check again on one emulator seeded with the same
    # demo account. Nothing is left to change; only the finding remains.
    demo.seed(aws_managed)
    inventory = write_inventory(repo_copy, aws_managed, name="one-emulator.yml")
    book = repo_copy / "playbooks" / "cis-iam-baseline.yml"
    assert cli("run", book, "-i", inventory, "--journal", repo_copy / "j.jsonl").code == 2
    again = cli("run", book, "-i", inventory, "--check", "--diff")
    assert again.code == 2, again.out + again.err
    assert "would change" not in again.out and "would_change=0" in again.out
    assert "findings open" in again.out and "legacy-full-access" in again.out


@pytest.mark.slow
def test_sandbox_serves_one_state_for_check_apply_check(tmp_path):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "remediator", "sandbox", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        first = proc.stdout.readline()
        assert f"http://127.0.0.1:{port}" in first, first + proc.stderr.read()
        inv = write(tmp_path, "inv.yml", f"all:\n  accounts:\n    demo: {{endpoint_url: 'http://127.0.0.1:{port}'}}\n")
        book = REPO / "playbooks" / "cis-iam-baseline.yml"
        # The baseline leaves the demo's full-admin policy open as a finding: exit 2 throughout, and only
        # "would change" tells a pending change from a finding.
        first = cli("run", book, "-i", inv, "--check")
        assert first.code == 2 and "would change" in first.out
        assert cli("run", book, "-i", inv, "--journal", tmp_path / "j.jsonl").code == 2
        after = cli("run", book, "-i", inv, "--check")
        assert after.code == 2 and "would change" not in after.out and "findings open" in after.out
        assert cli("rollback", tmp_path / "j.jsonl").code == 0
        undone = cli("run", book, "-i", inv, "--check")
        assert undone.code == 2 and "would change" in undone.out
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
    assert proc.returncode == 0


@pytest.mark.parametrize("playbook", PLAYBOOKS, ids=lambda p: p.name)
def test_every_shipped_playbook_matches_the_schema_and_validates(playbook):
    schema = json.loads(cli("schema").out)
    data = yamlfile.plain(yamlfile.load(playbook))
    jsonschema.validate(data, schema)
    result = cli("validate", playbook, "-i", REPO / "inventories" / "sandbox.yml")
    assert result.code == 0, result.err
    assert result.out.startswith("ok:")


def test_schema_rejects_an_unknown_option():
    schema = json.loads(cli("schema").out)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate([{"tasks": [{"iam_password_policy": {"min_length": 14}}]}], schema)


def test_doc_lists_modules_and_documents_one():
    listing = cli("doc")
    assert listing.code == 0 and "iam_password_policy" in listing.out
    one = cli("doc", "iam_password_policy")
    assert one.code == 0
    for text in ("minimum_length", "integer (6–128)", "EXAMPLE", "iam:UpdateAccountPasswordPolicy"):
        assert text in one.out
    unknown = cli("doc", "iam_nothing")
    assert unknown.code == 1 and "no module named" in unknown.err


def test_permissions_for_check_mode_has_no_writes(tmp_path):
    book = REPO / "playbooks" / "cis-iam-baseline.yml"
    check = json.loads(cli("permissions", book, "--check").out)
    actions = [a for s in check["Statement"] for a in s["Action"]]
    assert "iam:GetAccountPasswordPolicy" in actions
    assert not any(a.startswith(("iam:Update", "iam:Delete")) for a in actions)
    full = json.loads(cli("permissions", book).out)
    write_actions = [a for s in full["Statement"] if s["Sid"] == "RemediatorWrite" for a in s["Action"]]
    assert "iam:UpdateAccountPasswordPolicy" in write_actions


def test_python_dash_m_works(tmp_path):
    result = run(["--version"], tmp_path, timeout=60)
    assert result.returncode == 0 and "remediator" in result.stdout


@pytest.mark.slow
def test_a_plan_made_against_the_embedded_emulator_is_refused_by_apply(repo_copy):
    planned = run(
        ["run", "playbooks/cis-iam-baseline.yml", "-i", "inventories/sandbox.yml", "--check", "--plan-out", "p.json"],
        repo_copy,
    )
    assert planned.returncode == 2, planned.stderr
    applied = run(["apply", "p.json"], repo_copy)
    assert applied.returncode == 1
    assert "embedded emulator" in applied.stderr and "Traceback" not in applied.stderr


def test_an_ascii_only_terminal_still_gets_the_report_and_the_journal(aws, workdir):
    """The report (with its → arrows) is written after the changes: an output encoding that cannot hold a
    character must not lose it, nor the journal's path that rollback needs."""
    import boto3

    boto3.client("iam", endpoint_url=aws, region_name="us-east-1").update_account_password_policy(
        MinimumPasswordLength=8
    )
    inv = write_inventory(workdir, aws)
    book = write(workdir, "play.yml", "- tasks:\n    - iam_password_policy: {minimum_length: 14}\n")
    env = {**os.environ, "PYTHONIOENCODING": "ascii", "AWS_ACCESS_KEY_ID": "testing"}
    result = subprocess.run(
        [sys.executable, "-m", "remediator", "run", str(book), "-i", str(inv), "--diff"],
        cwd=workdir, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "MinimumPasswordLength 8 \\u2192 14" in result.stdout
    assert "journal: .remediator/journal/" in result.stdout and "converged" in result.stdout


def test_a_play_with_an_empty_task_list_says_so_and_changes_nothing(aws, workdir, calls):
    """`tasks: []` is allowed (a play being written); the run says it has nothing to do. A play without
    `tasks` at all is bad input (tests/integration/test_bad_input.py)."""
    inv = write_inventory(workdir, aws)
    book = write(workdir, "play.yml", "- name: placeholder\n  accounts: all\n  tasks: []\n")
    result = cli("run", str(book), "-i", str(inv))
    assert result.code == 0, result.out + result.err
    assert "play.yml:1: play 'placeholder' has no tasks (tasks: []); nothing to do" in result.out
    assert calls.mutating == []


def test_the_users_and_groups_playbook_converges_the_demo_account(aws_managed, workdir, calls):
    """playbooks/users-and-groups.yml on the demo account: groups with their policies and exactly their
    members, people as users in them; the four steps, then a rollback that puts the demo back."""
    demo.seed(aws_managed)
    inv = write_inventory(workdir, aws_managed)
    book = REPO / "playbooks" / "users-and-groups.yml"

    check = cli("run", book, "-i", inv, "--check")
    assert check.code == 2, check.out + check.err
    assert "add user erin to group admins" in check.out and "create group read-only" in check.out
    assert calls.mutating == []
    applied = cli("run", book, "-i", inv, "--journal", workdir / "j.jsonl")
    assert applied.code == 0, applied.out + applied.err
    assert "converged" in applied.out
    calls.clear()
    again = cli("run", book, "-i", inv)
    assert again.code == 0 and calls.mutating == []
    assert cli("run", book, "-i", inv, "--check").code == 0

    import boto3

    iam = boto3.client("iam", endpoint_url=aws_managed, region_name="us-east-1")
    members = {
        g: sorted(u["UserName"] for u in iam.get_group(GroupName=g)["Users"])
        for g in ("admins", "developers", "read-only")
    }
    assert members == {"admins": ["alice", "erin"], "developers": ["bob", "carol", "dave"], "read-only": ["frank"]}
    assert all(not iam.list_attached_user_policies(UserName=u)["AttachedPolicies"] for u in ("erin", "frank"))

    assert cli("rollback", workdir / "j.jsonl").code == 0
    assert "erin" not in {u["UserName"] for u in iam.list_users()["Users"]}
