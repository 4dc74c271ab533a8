"""iam_root_account end to end through the CLI, against the emulator over HTTP: findings, never writes.

The emulator pins GetAccountSummary's AccountMFAEnabled and AccountAccessKeysPresent to 0 and sends no
`<root_account>` row in the credential report; real AWS sends both (see ../shared/aws-samples). So the
tests inject them with `after-call` handlers on the parsed responses, as real AWS would answer.
"""

from __future__ import annotations

import csv
import io
import json

import pytest

from tests.conftest import cli, write, write_inventory
from tests.emulator import days_ago

PLAY = """\
- name: root
  accounts: all
  tasks:
    - name: Root account
      iam_root_account:
        require_mfa: true
        forbid_access_keys: true
        max_days_since_use: 90
"""
ROOT_ARN = "arn:aws:iam::123456789012:root"
pytestmark = pytest.mark.usefixtures("pinned_clock")  # "now" is one instant for the product and the test


def _iso(days: int | None) -> str:
    if days is None:
        return "N/A"
    return days_ago(days).replace(microsecond=0).isoformat()


def root_row(password_days_ago: int | None, key_days_ago: int | None = None, key_active: bool = False) -> dict:
    """A `<root_account>` row as AWS writes it (values as in the real samples)."""
    key = key_active or key_days_ago is not None
    return {
        "user": "<root_account>",
        "arn": ROOT_ARN,
        "user_creation_time": _iso(2000),
        "password_enabled": "not_supported",
        "password_last_used": _iso(password_days_ago) if password_days_ago is not None else "no_information",
        "password_last_changed": "not_supported",
        "password_next_rotation": "not_supported",
        "mfa_active": "true",
        "access_key_1_active": "true" if key_active else "false",
        "access_key_1_last_rotated": _iso(1000) if key else "N/A",
        "access_key_1_last_used_date": _iso(key_days_ago),
        "access_key_1_last_used_region": "us-east-1" if key_days_ago is not None else "N/A",
        "access_key_1_last_used_service": "s3" if key_days_ago is not None else "N/A",
        "access_key_2_active": "false",
        "access_key_2_last_rotated": "N/A",
        "access_key_2_last_used_date": "N/A",
        "access_key_2_last_used_region": "N/A",
        "access_key_2_last_used_service": "N/A",
        "cert_1_active": "false",
        "cert_1_last_rotated": "N/A",
        "cert_2_active": "false",
        "cert_2_last_rotated": "N/A",
    }


def with_root_row(content: bytes, row: dict) -> bytes:
    """The emulator's report with the root row first, as AWS orders it."""
    lines = content.decode("utf-8").splitlines()
    header = next(csv.reader([lines[0]]))
    out = io.StringIO()
    csv.DictWriter(out, fieldnames=header, lineterminator="\n").writerow({k: row.get(k, "N/A") for k in header})
    return ("\n".join([lines[0], out.getvalue().rstrip("\n"), *lines[1:]]) + "\n").encode("utf-8")


def real_aws(client_hooks, *, mfa: int, keys: int, root: dict | None):
    """Answer GetAccountSummary and GetCredentialReport with what real AWS would send."""
    seen = {"summary": 0, "report": 0}

    def hook(client):
        def summary(parsed, **_):
            if "SummaryMap" in parsed:
                seen["summary"] += 1
                parsed["SummaryMap"].update(AccountMFAEnabled=mfa, AccountAccessKeysPresent=keys)

        def report(parsed, **_):
            if "Content" in parsed and root is not None:
                seen["report"] += 1
                parsed["Content"] = with_root_row(parsed["Content"], root)

        client.meta.events.register("after-call.iam.GetAccountSummary", summary)
        client.meta.events.register("after-call.iam.GetCredentialReport", report)

    client_hooks.append(hook)
    return seen


def run(workdir, aws, *extra: str, play: str = PLAY):
    return cli("run", write(workdir, "play.yml", play), "-i", write_inventory(workdir, aws), *extra)


def test_findings_exit_2_with_cis_ids_in_text_and_sarif(iam, aws, workdir, calls, client_hooks):
    iam.create_user(UserName="kim")
    seen = real_aws(client_hooks, mfa=0, keys=1, root=root_row(3, key_days_ago=40, key_active=True))

    text = run(workdir, aws)
    assert text.code == 2, text.out + text.err
    assert "finding (critical)" in text.out and "the root user has no MFA device" in text.out
    assert "the root user has access keys (GetAccountSummary AccountAccessKeysPresent = 1" in text.out
    assert "key 1 active, last used" in text.out
    assert "finding (high)" in text.out and "the root user was used 3 days ago (password sign-in" in text.out
    for control in ("CIS v3.0 1.4", "CIS v3.0 1.5", "CIS v3.0 1.7", "CIS v5.0 1.3", "CIS v5.0 1.4", "CIS v5.0 1.6"):
        assert control in text.out, control
    assert ROOT_ARN in text.out
    assert seen["summary"] >= 1 and seen["report"] >= 1

    sarif = run(workdir, aws, "--check", "--format", "sarif")
    assert sarif.code == 2, sarif.err
    results = json.loads(sarif.out)["runs"][0]["results"]
    assert {r["ruleId"] for r in results} == {  # one rule per control and severity: GitHub's severity is per rule
        "iam_root_account:root_mfa/critical",
        "iam_root_account:root_access_keys/critical",
        "iam_root_account:root_use/high",
    }
    by_controls = {tuple(r["properties"]["controls"]): r for r in results}
    assert set(by_controls) == {
        ("CIS v3.0 1.5", "CIS v5.0 1.4"),
        ("CIS v3.0 1.4", "CIS v5.0 1.3"),
        ("CIS v3.0 1.7", "CIS v5.0 1.6"),
    }
    assert by_controls[("CIS v3.0 1.5", "CIS v5.0 1.4")]["level"] == "error"
    assert {r["properties"]["address"] for r in results} == {"test/global/iam_root_account/root"}
    # Three findings on one resource stay three alerts across runs.
    assert len({json.dumps(r["partialFingerprints"], sort_keys=True) for r in results}) == 3
    assert calls.mutating == []


def test_compliant_root_exits_0(iam, aws, workdir, calls, client_hooks):
    real_aws(client_hooks, mfa=1, keys=0, root=root_row(400))
    result = run(workdir, aws)
    assert result.code == 0, result.out + result.err
    assert "finding (" not in result.out
    assert "root MFA enabled; no root access keys; root last used 400 days ago (password sign-in" in result.out
    assert calls.mutating == []
    assert calls.count("GetAccountSummary") == 1 and calls.count("GetCredentialReport") == 1


def test_recent_root_key_use_is_found_although_the_password_is_old(iam, aws, workdir, calls, client_hooks):
    real_aws(client_hooks, mfa=1, keys=0, root=root_row(400, key_days_ago=5))
    result = run(workdir, aws, "--check")
    assert result.code == 2, result.out + result.err
    assert "the root user was used 5 days ago (access key 1, s3" in result.out and "CIS v5.0 1.6" in result.out
    assert calls.mutating == []


def test_without_a_root_row_the_plan_says_so(iam, aws, workdir, calls, client_hooks):
    """The emulator's report has no root row: say the rule could not be checked, do not crash or find."""
    real_aws(client_hooks, mfa=1, keys=0, root=None)
    result = run(workdir, aws, "--check")
    assert result.code == 0, result.out + result.err
    assert "root use not checked (max_days_since_use 90): the credential report has no <root_account> row" in (
        result.out
    )
    assert calls.mutating == []


def test_plain_emulator_reports_root_mfa_off(iam, aws, workdir, calls):
    """Without injection the emulator's AccountMFAEnabled = 0 is a finding like any other."""
    play = PLAY.replace("        max_days_since_use: 90\n", "")
    result = run(workdir, aws, "--check", play=play)
    assert result.code == 2, result.out + result.err
    assert "the root user has no MFA device (GetAccountSummary AccountMFAEnabled = 0)" in result.out
    assert "no root access keys" in result.out
    assert calls.count("GetCredentialReport") == 0 and calls.count("GenerateCredentialReport") == 0
    assert calls.mutating == []


def test_every_rule_off_is_refused_before_any_call(aws, workdir, calls):
    play = "- tasks:\n    - iam_root_account: {require_mfa: false, forbid_access_keys: false}\n"
    result = run(workdir, aws, "--check", play=play)
    assert result.code == 1
    assert "every rule is off" in result.out + result.err
    assert calls.count("GetAccountSummary") == 0
