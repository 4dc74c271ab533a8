"""The GitOps loop through the CLI: --waivers, --fail-on and `show` on a real run against the emulator."""

from __future__ import annotations

import json

from tests.conftest import cli, write, write_inventory

# A user with a console password and no MFA: one medium finding (CIS console MFA), nothing to change.
USERS = "- tasks:\n    - name: users\n      iam_users: {require_mfa_for_console: true}\n"


def console_user(iam, name: str = "carol") -> None:
    iam.create_user(UserName=name)
    iam.create_login_profile(UserName=name, Password="Xx-0123456789!")


def test_a_waived_finding_is_reported_and_leaves_the_exit_code_alone(iam, aws, workdir, calls, pinned_clock):
    console_user(iam)
    inv, book = write_inventory(workdir, aws), write(workdir, "play.yml", USERS)
    assert cli("run", book, "-i", inv, "--check").code == 2
    waivers = write(workdir, "waivers.yml", (
        "waivers:\n"
        "  - resource: carol\n    rule: iam_users\n    reason: break-glass, MFA token in the safe\n"
        "    owner: security@example.com\n    expires: 2099-01-01\n"
    ))  # fmt: skip

    text = cli("run", book, "-i", inv, "--check", "--waivers", waivers)
    assert text.code == 0, text.out + text.err
    assert "waived" in text.out and "security@example.com" in text.out
    report = json.loads(cli("run", book, "-i", inv, "--check", "--waivers", waivers, "--format", "json").out)
    assert report["exit_code"] == 0 and report["accounts"][0]["counts"]["waived"] == 1
    sarif = json.loads(cli("run", book, "-i", inv, "--check", "--waivers", waivers, "--format", "sarif").out)
    assert sarif["runs"][0]["results"] == []
    assert calls.mutating == []


def test_an_expired_waiver_no_longer_applies_and_says_so(iam, aws, workdir, pinned_clock):
    console_user(iam)
    inv, book = write_inventory(workdir, aws), write(workdir, "play.yml", USERS)
    waivers = write(workdir, "waivers.yml", (
        "- resource: carol\n  rule: iam_users\n  reason: temporary\n  owner: me\n  expires: 2020-01-01\n"
    ))  # fmt: skip
    result = cli("run", book, "-i", inv, "--check", "--waivers", waivers)
    assert result.code == 2, result.out + result.err
    assert "expired on 2020-01-01" in result.out + result.err


def test_a_bad_waivers_file_is_bad_input_before_any_call(aws, workdir, calls):
    inv, book = write_inventory(workdir, aws), write(workdir, "play.yml", USERS)
    waivers = write(workdir, "waivers.yml", "- resource: carol\n  rule: iam_users\n  reason: x\n  owner: me\n")
    result = cli("run", book, "-i", inv, "--check", "--waivers", waivers)
    assert result.code == 1 and "waivers.yml:1" in result.err and "expires" in result.err
    assert "Traceback" not in result.err and calls.records == []


def test_fail_on_high_lets_a_medium_finding_pass(iam, aws, workdir, pinned_clock):
    console_user(iam)
    inv, book = write_inventory(workdir, aws), write(workdir, "play.yml", USERS)
    assert cli("run", book, "-i", inv, "--check", "--fail-on", "medium").code == 2
    passed = cli("run", book, "-i", inv, "--check", "--fail-on", "high")
    assert passed.code == 0, passed.out + passed.err
    assert "finding (medium)" in passed.out


def test_show_renders_a_saved_plan_for_review(iam, aws, workdir):
    iam.update_account_password_policy(MinimumPasswordLength=8)
    inv = write_inventory(workdir, aws)
    book = write(workdir, "play.yml", "- tasks:\n    - iam_password_policy: {minimum_length: 14}\n")
    assert cli("run", book, "-i", inv, "--check", "--plan-out", "plan.json").code == 2

    text = cli("show", "plan.json")
    markdown = cli("show", "plan.json", "--format", "markdown")

    assert text.code == 0 and "MinimumPasswordLength 8 → 14" in text.out
    assert markdown.code == 0 and "<!-- remediator-report -->" in markdown.out
    assert "MinimumPasswordLength" in markdown.out
