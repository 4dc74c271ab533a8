"""iam_access_keys end to end through the CLI, against the emulator over HTTP.

Key creation and last-use dates are set in-process on moto's backend (the API cannot set them): tests/emulator.py.
"""

from __future__ import annotations

import json
from collections import Counter

import boto3
import pytest

from tests.conftest import cli, write, write_inventory
from tests.emulator import ACCOUNT, age_key, days_ago, keep_key_dates, sign_as, today

DEACTIVATE = "- tasks:\n    - name: keys\n      iam_access_keys: {unused_days: 90, action: deactivate}\n"
TAG = "remediator:deactivated:"
pytestmark = pytest.mark.usefixtures("pinned_clock")  # "now" is one instant for the product and the test


def new_key(iam, user, created_days=None, used_days=None, secrets=None):
    """A new access key of `user` (created if missing), backdated when `created_days` is given."""
    if not any(u["UserName"] == user for u in iam.list_users()["Users"]):
        iam.create_user(UserName=user)
    key = iam.create_access_key(UserName=user)["AccessKey"]
    if secrets is not None:
        secrets.append(key["SecretAccessKey"])
    if created_days is not None:
        age_key(key["AccessKeyId"], created_days, used_days)
    return key["AccessKeyId"]


def status(iam, user):
    return {k["AccessKeyId"]: k["Status"] for k in iam.list_access_keys(UserName=user)["AccessKeyMetadata"]}


def tags(iam, user):
    return {t["Key"]: t["Value"] for t in iam.list_user_tags(UserName=user)["Tags"]}


def findings_of(report_json):
    report = json.loads(report_json)
    return [f for account in report["accounts"] for plan in account["tasks"] for f in plan["findings"]]


def test_four_steps_deactivate_only_the_stale_key_never_its_sibling(iam, aws, workdir, calls):
    stale = new_key(iam, "bob", 400, 200)
    busy = new_key(iam, "bob", 400, 1)  # the sibling: same user, in use
    young = new_key(iam, "carol", 10)  # never used, but younger than the window
    inv, book = write_inventory(workdir, aws), write(workdir, "play.yml", DEACTIVATE)

    first = cli("run", book, "-i", inv, "--check")
    assert first.code == 2, first.out + first.err
    assert f"would change: test/global/iam_access_keys/bob/{stale}" in first.out
    assert "200 days ago" in first.out
    assert busy not in first.out and young not in first.out
    assert calls.mutating == []

    second = cli("run", book, "-i", inv)
    assert second.code == 0, second.out + second.err
    assert status(iam, "bob") == {stale: "Inactive", busy: "Active"}
    assert status(iam, "carol") == {young: "Active"}
    assert tags(iam, "bob") == {TAG + stale: today()}
    assert calls.mutating == ["UpdateAccessKey", "TagUser"]

    calls.clear()
    third = cli("run", book, "-i", inv)
    assert third.code == 0, third.out + third.err
    assert calls.mutating == []
    fourth = cli("run", book, "-i", inv, "--check")
    assert fourth.code == 0 and "would change" not in fourth.out, fourth.out


def test_report_mode_one_finding_per_key_with_evidence_and_controls(iam, aws, workdir, calls):
    unused = new_key(iam, "dave", 300, 150)
    never = new_key(iam, "erin", 200)
    old_busy = new_key(iam, "fred", 200, 1)
    lru = new_key(iam, "gina", 100, 30)
    mru = new_key(iam, "gina", 20, 1)
    book = write(
        workdir,
        "play.yml",
        "- tasks:\n    - iam_access_keys: {unused_days: 90, max_age_days: 180, max_active_per_user: 1}\n",
    )
    result = cli("run", book, "-i", write_inventory(workdir, aws), "--format", "json")
    assert result.code == 2, result.out + result.err
    found = {f["resource"]: f for f in findings_of(result.out)}
    assert sorted(found) == sorted([f"dave/{unused}", f"erin/{never}", f"fred/{old_busy}", f"gina/{lru}"])
    assert f"gina/{mru}" not in found
    dave = found[f"dave/{unused}"]
    assert "unused" in dave["message"] and "rotation due" in dave["message"] and "150 days ago" in dave["message"]
    assert set(dave["controls"]) == {"CIS v3.0 1.12", "CIS v5.0 1.11", "CIS v3.0 1.14", "CIS v5.0 1.13"}
    assert "never used" in found[f"erin/{never}"]["message"]
    assert found[f"fred/{old_busy}"]["controls"] == ["CIS v3.0 1.14", "CIS v5.0 1.13"]
    assert found[f"gina/{lru}"]["controls"] == ["CIS v3.0 1.13", "CIS v5.0 1.12"]
    assert calls.mutating == []


def test_the_runs_own_key_stays_active_with_a_finding(iam, aws, workdir, calls, monkeypatch):
    own = iam.create_user(UserName="runner") and iam.create_access_key(UserName="runner")["AccessKey"]
    other = new_key(iam, "other", 400, 200)
    age_key(own["AccessKeyId"], 400, 200)
    keep_key_dates(monkeypatch)  # so the run's own key matches the rule and only the guard keeps it
    sign_as(monkeypatch, own)
    sts = boto3.Session().client("sts", endpoint_url=aws, region_name="us-east-1")  # a fresh session reads the env
    assert sts.get_caller_identity()["Arn"] == f"arn:aws:iam::{ACCOUNT}:user/runner"

    inv, book = write_inventory(workdir, aws), write(workdir, "play.yml", DEACTIVATE)
    result = cli("run", book, "-i", inv)
    assert result.code == 2, result.out + result.err  # applied; the finding about the own key stays open
    assert status(iam, "runner") == {own["AccessKeyId"]: "Active"}
    assert status(iam, "other") == {other: "Inactive"}
    assert f"finding (low): runner/{own['AccessKeyId']}" in result.out
    assert "the key this run signs with" in result.out
    assert own["SecretAccessKey"] not in result.out + result.err


@pytest.mark.slow
def test_max_changes_defaults_to_25_and_the_task_may_set_it(iam, aws, workdir, calls):
    keys = [new_key(iam, f"user-{n:02d}", 400, 200) for n in range(26)]
    inv = write_inventory(workdir, aws)

    default = cli("run", write(workdir, "d.yml", DEACTIVATE), "-i", inv)
    assert default.code == 1 and "more than its max_changes of 25" in default.out, default.out
    assert calls.mutating == []

    body = "- tasks:\n    - iam_access_keys: {unused_days: 90, action: deactivate}\n      max_changes: %d\n"
    tight = cli("run", write(workdir, "t.yml", body % 25), "-i", inv)
    assert tight.code == 1 and "more than its max_changes of 25" in tight.out
    assert calls.mutating == []

    exact = cli("run", write(workdir, "e.yml", body % 26), "-i", inv)
    assert exact.code == 0, exact.out + exact.err
    assert Counter(calls.mutating) == {"UpdateAccessKey": 26, "TagUser": 26}
    assert all(status(iam, f"user-{n:02d}") == {key: "Inactive"} for n, key in enumerate(keys))


def test_deactivation_rolls_back(iam, aws, workdir):
    stale = new_key(iam, "hank", 400, 200)
    sibling = new_key(iam, "hank", 5)
    inv, book = write_inventory(workdir, aws), write(workdir, "play.yml", DEACTIVATE)
    assert cli("run", book, "-i", inv, "--journal", "j.jsonl").code == 0
    assert status(iam, "hank") == {stale: "Inactive", sibling: "Active"}

    check = cli("rollback", "j.jsonl", "--check")
    assert check.code == 2 and "would undo" in check.out, check.out
    done = cli("rollback", "j.jsonl")
    assert done.code == 0, done.out + done.err
    assert status(iam, "hank") == {stale: "Active", sibling: "Active"}
    assert tags(iam, "hank") == {}
    assert cli("rollback", "j.jsonl", "--check").code == 0


def test_deactivated_keys_are_deleted_after_delete_after_days(iam, aws, workdir, calls):
    stale = new_key(iam, "ivan", 400, 200)
    untagged = new_key(iam, "judy", 400, 200)
    iam.update_access_key(UserName="judy", AccessKeyId=untagged, Status="Inactive")  # not remediator's doing
    inv = write_inventory(workdir, aws)
    book = write(
        workdir,
        "play.yml",
        "- tasks:\n    - iam_access_keys: {unused_days: 90, action: deactivate, delete_after_days: 30}\n",
    )
    assert cli("run", book, "-i", inv).code == 0
    assert status(iam, "ivan") == {stale: "Inactive"}

    calls.clear()
    soon = cli("run", book, "-i", inv)  # deactivated today: not yet
    assert soon.code == 0 and calls.mutating == [], soon.out

    long_ago = days_ago(40).date().isoformat()
    iam.tag_user(UserName="ivan", Tags=[{"Key": TAG + stale, "Value": long_ago}])
    check = cli("run", book, "-i", inv, "--check")
    assert (
        check.code == 2 and "cannot be undone" in check.out and f"deactivated by remediator on {long_ago}" in check.out
    )
    assert calls.mutating == []

    done = cli("run", book, "-i", inv)
    assert done.code == 0, done.out + done.err
    assert status(iam, "ivan") == {}
    assert tags(iam, "ivan") == {}
    assert status(iam, "judy") == {untagged: "Inactive"}
    assert calls.mutating == ["DeleteAccessKey", "UntagUser"]


@pytest.mark.slow
@pytest.mark.parametrize("action", ["report", "deactivate"])
def test_reads_grow_with_candidate_keys_not_with_users(emulator, aws, workdir, calls, action):
    book = write(workdir, "play.yml", f"- tasks:\n    - iam_access_keys: {{unused_days: 90, action: {action}}}\n")
    inv = write_inventory(workdir, aws)
    by_size: dict[int, Counter[str]] = {}
    for fresh in (3, 30):
        emulator.reset()
        for n in range(fresh):
            new_key(boto3.client("iam", endpoint_url=aws, region_name="us-east-1"), f"fresh-{n:02d}", 400, 1)
        client = boto3.client("iam", endpoint_url=aws, region_name="us-east-1")
        for n in range(3):
            new_key(client, f"stale-{n}", 400, 200)
        new_key(client, "stale-0", 380, 2)  # a busy sibling: the report proves its use, no live read needed
        calls.clear()
        result = cli("run", book, "-i", inv, "--check")
        assert result.code == 2, result.out + result.err
        by_size[fresh] = Counter(op for _, _, op, _ in calls.records)
    assert by_size[30] == by_size[3], (by_size[3], by_size[30])
    assert by_size[3]["ListAccessKeys"] == 3
    # report mode takes last use from the credential report; a key to deactivate is confirmed live
    assert by_size[3]["GetAccessKeyLastUsed"] == (0 if action == "report" else 3)
    assert by_size[3]["GetCredentialReport"] == 1


def test_secrets_never_reach_output_reports_or_journal(iam, aws, workdir):
    secrets: list[str] = []
    new_key(iam, "kate", 400, 200, secrets)
    new_key(iam, "kate", 400, 100, secrets)
    new_key(iam, "leo", 10, None, secrets)
    inv, book = write_inventory(workdir, aws), write(workdir, "play.yml", DEACTIVATE)
    outputs = [
        cli("run", book, "-i", inv, "--check", "--format", "json", "--diff"),
        cli("run", book, "-i", inv, "--journal", "j.jsonl", "--format", "json", "--report", "r.json"),
        cli("rollback", "j.jsonl"),
    ]
    texts = [o.out + o.err for o in outputs] + [(workdir / "j.jsonl").read_text(), (workdir / "r.json").read_text()]
    assert outputs[1].code == 0, outputs[1].out + outputs[1].err
    assert len(secrets) == 3
    for secret in secrets:
        assert all(secret not in text for text in texts)


def test_a_key_used_between_plan_and_apply_is_stale_and_left_alone(iam, aws, workdir, calls):
    used_later = new_key(iam, "mia", 400, 200)
    still_idle = new_key(iam, "ned", 400, 200)
    inv, book = write_inventory(workdir, aws), write(workdir, "play.yml", DEACTIVATE)
    assert cli("run", book, "-i", inv, "--check", "--plan-out", "plan.json").code == 2
    age_key(used_later, 400, 0)  # the key signs a request after the plan was made

    applied = cli("apply", "plan.json")
    assert applied.code == 1, applied.out + applied.err
    assert f"stale: test/global/iam_access_keys/mia/{used_later}" in applied.out
    assert status(iam, "mia") == {used_later: "Active"}
    assert status(iam, "ned") == {still_idle: "Inactive"}
    assert calls.mutating == ["UpdateAccessKey", "TagUser"]


def test_the_key_that_assumes_the_runs_role_is_protected_too(iam, aws, workdir, calls, monkeypatch):
    """A run that assumes a role signs with temporary keys; the long-term key behind them stays active."""
    base = iam.create_user(UserName="runner") and iam.create_access_key(UserName="runner")["AccessKey"]
    age_key(base["AccessKeyId"], 400, 200)
    keep_key_dates(monkeypatch)
    sign_as(monkeypatch, base)
    role = f"arn:aws:iam::{ACCOUNT}:role/remediator"
    inv = write_inventory(workdir, aws, test={"role_arn": role})
    result = cli("run", write(workdir, "play.yml", DEACTIVATE), "-i", inv)
    assert calls.count("AssumeRole") == 1
    assert status(iam, "runner") == {base["AccessKeyId"]: "Active"}, result.out + result.err
    assert "the key this run signs with" in result.out
