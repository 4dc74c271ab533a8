"""iam_access_keys end to end through the CLI, against the emulator over HTTP.

Key creation and last-use dates are set in-process on moto's backend (the API cannot set them): tests/emulator.py.
"""

from __future__ import annotations

import json
from collections import Counter

import boto3
import pytest

from tests.conftest import cli, write, write_inventory
from tests.emulator import ACCOUNT, age_key, backend, days_ago, keep_key_dates, sign_as, today

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
    assert calls.mutating == ["TagUser", "UpdateAccessKey"]  # dated first: a cut leaves an active tagged key

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
    # Both modes plan on the credential report's last use: one call per user holding a candidate key. A key
    # to deactivate is confirmed live at apply, just before it is written (see the tests below).
    assert by_size[3]["GetAccessKeyLastUsed"] == 0
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
    assert calls.mutating == ["TagUser", "UpdateAccessKey"]  # dated first: a cut leaves an active tagged key


def plan_changes(path):
    plan = json.loads(path.read_text())
    return {c["resource"]: c for account in plan["accounts"] for task in account["task_plans"] for c in task["changes"]}


def cached_credential_report():
    """AWS serves a credential report up to four hours old; the emulator builds a new one for every request.
    A client hook that serves the first report any client got from then on, as AWS would between a plan and
    its apply."""
    first: dict[str, bytes] = {}

    def after(parsed, **_):
        if "Content" in parsed:
            parsed["Content"] = first.setdefault("content", parsed["Content"])

    def hook(client):
        client.meta.events.register("after-call.iam.GetCredentialReport", after)

    return hook


def test_a_check_mode_plan_is_to_confirm_at_apply_and_apply_confirms_each_key_live(iam, aws, workdir, calls):
    stale = new_key(iam, "olga", 400, 200)
    never = new_key(iam, "pete", 300)
    inv, book = write_inventory(workdir, aws), write(workdir, "play.yml", DEACTIVATE)

    check = cli("run", book, "-i", inv, "--check", "--plan-out", "plan.json")
    assert check.code == 2, check.out + check.err
    assert calls.count("GetAccessKeyLastUsed") == 0  # planned on the credential report: one call per user
    assert calls.count("ListAccessKeys") == 2
    assert "to confirm at apply" in check.out
    changes = plan_changes(workdir / "plan.json")
    assert sorted(changes) == sorted([f"olga/{stale}", f"pete/{never}"])
    for change in changes.values():
        assert "to confirm at apply" in change["reason"] and "(credential report)" in change["reason"]
    assert (
        changes[f"olga/{stale}"]["before"]["LastUsedDate"] == days_ago(200).replace(second=0, microsecond=0).isoformat()
    )
    assert changes[f"pete/{never}"]["before"]["LastUsedDate"] is None

    calls.clear()
    applied = cli("apply", "plan.json")
    assert applied.code == 0, applied.out + applied.err
    assert status(iam, "olga") == {stale: "Inactive"} and status(iam, "pete") == {never: "Inactive"}
    # each change's key confirmed live just before its write; nothing read for the verification's non-candidates
    assert [op for _, _, op, _ in calls.records if op in ("GetAccessKeyLastUsed", "UpdateAccessKey")] == [
        "GetAccessKeyLastUsed",
        "UpdateAccessKey",
        "GetAccessKeyLastUsed",
        "UpdateAccessKey",
    ]


def test_a_key_used_after_a_check_mode_plan_is_refused_at_apply_with_the_reason(
    iam, aws, workdir, calls, client_hooks, caplog
):
    """The credential report AWS serves at apply may still be the one the plan was made from: the live read
    at apply is what finds the use, and the change is skipped as stale with a message saying why."""
    client_hooks.append(cached_credential_report())
    used_later = new_key(iam, "quin", 400, 200)
    still_idle = new_key(iam, "rosa", 400, 200)
    inv, book = write_inventory(workdir, aws), write(workdir, "play.yml", DEACTIVATE)
    check = cli("run", book, "-i", inv, "--check", "--plan-out", "plan.json")
    assert check.code == 2 and calls.count("GetAccessKeyLastUsed") == 0, check.out + check.err
    assert "to confirm at apply" in plan_changes(workdir / "plan.json")[f"quin/{used_later}"]["reason"]
    age_key(used_later, 400, 0)  # the key signs a request after the plan was made

    applied = cli("apply", "plan.json")
    assert applied.code == 1, applied.out + applied.err
    assert f"stale: test/global/iam_access_keys/quin/{used_later}" in applied.out
    # the CLI prints this warning on stderr (in-process here, the log handler is pytest's)
    [warning] = [r.getMessage() for r in caplog.records if r.name == "remediator.iam_access_keys"]
    assert f"access key {used_later} of user quin was used {today()}" in warning
    assert f"after the credential report's {days_ago(200).date().isoformat()}" in warning
    assert "a change planned on the report is stale and is not made" in warning
    assert status(iam, "quin") == {used_later: "Active"}
    assert status(iam, "rosa") == {still_idle: "Inactive"}
    assert calls.mutating == ["TagUser", "UpdateAccessKey"]  # dated first: a cut leaves an active tagged key


def test_keys_remediator_deactivated_are_not_read_again_until_due(iam, aws, workdir, calls):
    """Once applied, the sweep is compliant at a constant cost: a key remediator deactivated and not yet due
    for deletion breaks no rule, so its user is not a candidate (ListAccessKeys is not called for it)."""
    keys = [new_key(iam, f"sam-{n}", 400, 200) for n in range(3)]
    inv = write_inventory(workdir, aws)
    book = write(
        workdir,
        "play.yml",
        "- tasks:\n    - iam_access_keys: {unused_days: 90, action: deactivate, delete_after_days: 30}\n",
    )
    assert cli("run", book, "-i", inv).code == 0
    assert all(status(iam, f"sam-{n}") == {key: "Inactive"} for n, key in enumerate(keys))

    calls.clear()
    again = cli("run", book, "-i", inv, "--check")
    assert again.code == 0, again.out + again.err
    assert calls.count("ListAccessKeys") == 0 and calls.count("GetAccessKeyLastUsed") == 0

    long_ago = days_ago(40).date().isoformat()
    iam.tag_user(UserName="sam-1", Tags=[{"Key": TAG + keys[1], "Value": long_ago}])
    calls.clear()
    due = cli("run", book, "-i", inv, "--check")
    assert due.code == 2 and f"sam-1/{keys[1]}" in due.out, due.out + due.err
    assert calls.count("ListAccessKeys") == 1  # only the user with a key due for deletion


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


# --- enforce_rotation ------------------------------------------------------------------------------------

ENFORCE = (
    "- tasks:\n    - name: rotate\n"
    "      iam_access_keys: {max_age_days: 90, enforce_rotation: true, action: deactivate%s}\n"
)
NOWHERE = "http://127.0.0.1:9"  # nothing listens there: bad input must fail before any call


def used_from(key_id, days, service, region):
    """Set a key's last use (days ago) with its service and region, as GetAccessKeyLastUsed reports them."""
    from moto.iam.models import AccessKeyLastUsed

    key = next(k for u in backend().users.values() for k in u.access_keys if k.access_key_id == key_id)
    key.last_used = AccessKeyLastUsed(days_ago(days), service, region)


def test_four_steps_enforced_rotation_deactivates_an_old_key_in_use_never_its_sibling(iam, aws, workdir, calls):
    old = new_key(iam, "app", 200, 1)
    used_from(old, 1, "s3", "eu-west-1")
    sibling = new_key(iam, "app", 10, 1)  # same user, young and in use
    inv, book = write_inventory(workdir, aws), write(workdir, "play.yml", ENFORCE % "")

    first = cli("run", book, "-i", inv, "--check")
    assert first.code == 2, first.out + first.err
    assert f"would change: test/global/iam_access_keys/app/{old}" in first.out
    assert "enforced rotation" in first.out and "rotation enforced: older than 90 days plus 14 days' grace" in first.out
    yesterday = days_ago(1).date().isoformat()
    assert f"What breaks: whatever still signs with it, last used {yesterday} (1 day ago) by s3 in eu-west-1" in (
        first.out
    )
    assert sibling not in first.out
    assert calls.count("GetAccessKeyLastUsed") == 1  # what breaks comes from a live read of that key only
    assert calls.mutating == []

    second = cli("run", book, "-i", inv)
    assert second.code == 0, second.out + second.err
    assert status(iam, "app") == {old: "Inactive", sibling: "Active"}
    assert tags(iam, "app") == {TAG + old: today()}  # reversible: rollback finds it again
    assert calls.mutating == ["TagUser", "UpdateAccessKey"]  # dated first: a cut leaves an active tagged key

    calls.clear()
    third = cli("run", book, "-i", inv)
    assert third.code == 0, third.out + third.err
    assert calls.mutating == []
    fourth = cli("run", book, "-i", inv, "--check")
    assert fourth.code == 0 and "would change" not in fourth.out, fourth.out


def test_within_the_grace_period_an_old_key_is_only_reported_with_its_start_date(iam, aws, workdir, calls):
    old = new_key(iam, "app", 200, 1)
    inv = write_inventory(workdir, aws)
    book = write(workdir, "play.yml", ENFORCE % ", rotation_grace_days: 120")

    result = cli("run", book, "-i", inv)
    assert result.code == 2, result.out + result.err
    starts = days_ago(-10).date().isoformat()
    assert f"finding (medium): app/{old}" in result.out
    assert f"enforced rotation starts {starts} (in 10 days): it is then deactivated even if in use" in result.out
    assert "What breaks then: whatever still signs with it" in result.out
    assert calls.mutating == []
    assert status(iam, "app") == {old: "Active"}


def test_an_enforced_change_is_not_stale_when_the_key_is_used_after_the_plan(iam, aws, workdir, calls):
    """Age alone decided it: the key's next use, certain for a key in use, must not make the saved plan stale."""
    old = new_key(iam, "app", 200, 3)
    inv, book = write_inventory(workdir, aws), write(workdir, "play.yml", ENFORCE % "")
    assert cli("run", book, "-i", inv, "--check", "--plan-out", "plan.json").code == 2
    age_key(old, 200, 0)  # used again after the plan was made

    applied = cli("apply", "plan.json")
    assert applied.code == 0, applied.out + applied.err
    assert status(iam, "app") == {old: "Inactive"}
    assert calls.mutating == ["TagUser", "UpdateAccessKey"]  # dated first: a cut leaves an active tagged key


@pytest.mark.parametrize(
    ("options", "line", "option", "says"),
    [
        (
            "unused_days: 90\n        enforce_rotation: true\n        action: deactivate",
            7,
            "enforce_rotation",
            "needs max_age_days",
        ),
        (
            "max_age_days: 90\n        enforce_rotation: true\n        action: report",
            7,
            "enforce_rotation",
            "give action: deactivate (reversible) or delete",
        ),
        (
            "max_age_days: 90\n        rotation_grace_days: 30",
            7,
            "rotation_grace_days",
            "does nothing without enforce_rotation: true",
        ),
    ],
    ids=["without-max-age-days", "with-action-report", "grace-without-enforcement"],
)
def test_enforce_rotation_bad_input_is_one_line_exit_1_no_call(workdir, calls, options, line, option, says):
    body = (
        f"- name: baseline\n  accounts: all\n  tasks:\n    - name: rotate\n      iam_access_keys:\n        {options}\n"
    )
    book, inv = write(workdir, "play.yml", body), write_inventory(workdir, NOWHERE)

    result = cli("run", book, "-i", inv, "--check")
    assert result.code == 1, result.out + result.err
    assert result.out == "" and "Traceback" not in result.err
    lines = result.err.splitlines()
    assert len(lines) == 1, result.err
    assert lines[0].startswith(f"error: {book}:{line}: "), lines[0]
    assert "task 'rotate'" in lines[0] and f"option {option!r}" in lines[0] and says in lines[0], lines[0]
    assert calls.records == []


def test_doc_shows_the_enforcement_options():
    result = cli("doc", "iam_access_keys")
    assert result.code == 0, result.err
    options = {line.split()[0]: line for line in result.out.splitlines() if line.startswith("  ") and line.split()}
    assert "boolean" in options["enforce_rotation"] and "default false" in options["enforce_rotation"]
    assert "integer" in options["rotation_grace_days"] and "default 14" in options["rotation_grace_days"]
    assert "enforce_rotation: true" in result.out.split("EXAMPLE", 1)[1]


# --- the confirmation at apply and the concurrent reads, in-process ----------------------------------------


class FakeLive:
    """What `keys.LiveKeys` answers, without AWS: a fixed last use, and the keys it was asked about."""

    def __init__(self, used):
        self.used, self.asked = used, []

    def last_used(self, key_id):
        self.asked.append(key_id)
        return {"LastUsedDate": self.used, "ServiceName": "s3", "Region": "us-east-1"}

    def holder(self, user):
        return None


def one_key(source, used="2026-01-01T10:20:30+00:00"):
    key = {"AccessKeyId": "AKIAUMA0000000000001", "Status": "Active", "CreateDate": "2025-01-01T00:00:00+00:00"}
    key |= {"LastUsedDate": used, "LastUsedService": "s3", "LastUsedRegion": "us-east-1", "LastUsedSource": source}
    data = {"now": "2026-06-01T00:00:00+00:00", "own_keys": [], "users": []}
    data["users"] = [{"UserName": "uma", "DeactivatedKeys": {}, "Keys": [key]}]
    return data


def test_the_applier_sees_a_keys_last_use_confirmed_live_never_the_reports():
    from remediator.applier import is_stale
    from remediator.modules.iam_access_keys import UNCONFIRMED, AccessKeys

    module = AccessKeys()
    planned = module.plan(
        {"unused_days": 90, "action": "deactivate"}, module.load_current(one_key("credential report")), "a/global"
    )
    [change] = planned.changes
    assert change.before["LastUsedDate"] == "2026-01-01T10:20:00+00:00" and "to confirm at apply" in change.reason

    current = module.load_current(one_key("credential report"))
    unread = module.resource_state(current, change.resource)  # no live reader: never taken as confirmed
    assert unread["LastUsedDate"].startswith(UNCONFIRMED) and is_stale(unread, change.before)

    live = FakeLive("2026-01-01T10:20:59.5+00:00")  # the same use, printed with another precision
    confirmed = module.resource_state({**current, "live": live}, change.resource)
    assert live.asked == ["AKIAUMA0000000000001"] and not is_stale(confirmed, change.before)

    used_since = module.resource_state({**current, "live": FakeLive("2026-05-31T08:00:00+00:00")}, change.resource)
    assert is_stale(used_since, change.before)

    # a key this read already took live is not read again
    live = FakeLive("2026-05-31T08:00:00+00:00")
    module.resource_state({**module.load_current(one_key("GetAccessKeyLastUsed")), "live": live}, change.resource)
    assert live.asked == []


def test_concurrent_reads_keep_their_order_and_share_one_read_per_name(aws, iam, calls):
    import random
    import time

    from remediator.aws.context import ReadContext
    from remediator.aws.session import AccountSession
    from remediator.keys import READ_WORKERS, concurrently, list_keys
    from remediator.model import Account

    pick = random.Random(0)

    def slow(i):
        time.sleep(pick.random() / 100)
        return i * i

    assert READ_WORKERS > 1
    assert concurrently(slow, range(40)) == [i * i for i in range(40)]

    def fails(i):
        if i in (5, 9):
            raise ValueError(i)
        return i

    with pytest.raises(ValueError, match="5"):
        concurrently(fails, range(12))

    new_key(iam, "tara")
    ctx = ReadContext(AccountSession(Account("test", endpoint_url=aws), read_only=True))
    calls.clear()
    listed = concurrently(lambda _: list_keys(ctx, "tara"), range(16))
    assert all(entry == listed[0] for entry in listed) and len(listed[0]) == 1
    assert calls.count("ListAccessKeys") == 1  # cached per context, loaded once whichever thread asked first
