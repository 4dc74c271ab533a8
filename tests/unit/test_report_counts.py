"""How reports count and label tasks: statuses, the recap's numbers, findings counted one by one.

Reports are built by hand from remediator.model types: no AWS, no emulator. A task's status says how the
task went (ok, changed, would_change, failed, skipped); findings are counted apart, one by one, so a
task that changed something and found something shows both.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from typing import Any

import pytest

from remediator.model import APPLIED, Account, AccountRun, ApiCall, Change, ChangeResult, Finding, TaskPlan
from remediator.report import EXIT_PENDING, Report, render

MODULE = "iam_users"
CALL = (ApiCall("iam", "update_login_profile", {"UserName": "alice"}),)
STATUSES = {"ok", "changed", "would_change", "failed", "skipped"}
COUNT_KEYS = ["ok", "changed", "would_change", "failed", "skipped", "findings"]


def finding(task: str, n: int) -> Finding:
    return Finding(
        address=f"prod/global/{MODULE}/{task}-{n}",
        resource=f"{task}-user-{n}",
        severity="high",
        message=f"{task} problem number {n}",
        controls=("CIS 1.10",),
    )


def change(name: str) -> Change:
    return Change(
        address=f"prod/global/{MODULE}/{name}",
        module=MODULE,
        resource=name,
        action="update",
        before={"PasswordResetRequired": False},
        after={"PasswordResetRequired": True},
        calls=CALL,
        undo=CALL,
        summary=f"require a password reset for {name}",
    )


def task(name: str, **kw: Any) -> TaskPlan:
    return TaskPlan(account="prod", task=name, module=MODULE, location="book.yml:3", **kw)


def nine_findings() -> Report:
    """Three tasks with three findings each, nothing to change."""
    tasks = [task(name, findings=[finding(name, n) for n in range(3)]) for name in ("mfa", "keys", "admins")]
    return Report("check", [AccountRun(Account("prod", account_id="111111111111"), task_plans=tasks)])


def mixed(mode: str) -> Report:
    """One task with one change and two findings; applied in apply mode."""
    fix = change("alice")
    plan = task("reset", changes=[fix], findings=[finding("reset", 1), finding("reset", 2)])
    results = [ChangeResult(fix.address, APPLIED)] if mode == "apply" else []
    return Report(mode, [AccountRun(Account("prod"), task_plans=[plan], results=results)])


def recap(report: Report) -> str:
    text = render(report, "text")
    (line,) = [line for line in text.split("RECAP", 1)[1].splitlines() if line.startswith("prod")]
    return line


def as_json(report: Report) -> dict[str, Any]:
    return json.loads(render(report, "json"))


# ---------------------------------------------------------------- findings counted one by one


def test_nine_findings_over_three_tasks_count_nine_in_the_recap() -> None:
    report = nine_findings()
    line = recap(report)
    assert "findings=9" in line
    # The three tasks ran fine: they are ok as tasks, their findings are counted apart.
    assert line.split() == ["prod", *(f"{k}={v}" for k, v in zip(COUNT_KEYS, (3, 0, 0, 0, 0, 9), strict=True))] + [
        "findings",
        "open",
    ]
    assert report.exit_code == EXIT_PENDING


def test_nine_findings_over_three_tasks_count_nine_in_json() -> None:
    (account,) = as_json(nine_findings())["accounts"]
    assert account["counts"]["findings"] == 9
    assert list(account["counts"]) == sorted(COUNT_KEYS)  # json output sorts keys
    assert account["counts"] == {"ok": 3, "changed": 0, "would_change": 0, "failed": 0, "skipped": 0, "findings": 9}
    assert [t["status"] for t in account["tasks"]] == ["ok", "ok", "ok"]
    assert sum(len(t["findings"]) for t in account["tasks"]) == 9


def test_counts_keep_their_order() -> None:
    report = nine_findings()
    assert list(report.counts(report.runs[0])) == COUNT_KEYS


# ---------------------------------------------------------------- a task with changes and findings


def test_changes_and_findings_in_check_mode() -> None:
    report = mixed("check")
    run = report.runs[0]
    assert report.task_status(run, run.task_plans[0]) == "would_change"
    assert report.counts(run) == {"ok": 0, "changed": 0, "would_change": 1, "failed": 0, "skipped": 0, "findings": 2}
    (data,) = as_json(report)["accounts"][0]["tasks"]
    assert data["status"] == "would_change"
    assert len(data["findings"]) == 2

    text = render(report, "text")
    assert "  would change: prod/global/iam_users/alice" in text  # human words in the task's lines
    assert "finding (high): reset-user-1: reset problem number 1 [CIS 1.10]" in text
    assert "finding (high): reset-user-2: reset problem number 2 [CIS 1.10]" in text
    assert "ok=0 changed=0 would_change=1 failed=0 skipped=0 findings=2  changes pending" in recap(report)


def test_changes_and_findings_in_apply_mode() -> None:
    report = mixed("apply")
    run = report.runs[0]
    assert report.task_status(run, run.task_plans[0]) == "changed"
    assert report.counts(run) == {"ok": 0, "changed": 1, "would_change": 0, "failed": 0, "skipped": 0, "findings": 2}
    (account,) = as_json(report)["accounts"]
    assert account["tasks"][0]["status"] == "changed"
    assert account["counts"]["findings"] == 2

    text = render(report, "text")
    assert "  changed: prod/global/iam_users/alice" in text
    assert text.count("  finding (high): reset-user-") == 2
    assert "ok=0 changed=1 would_change=0 failed=0 skipped=0 findings=2  findings open" in recap(report)
    assert report.exit_code == EXIT_PENDING  # the findings are still open


def test_markdown_counts_findings_one_by_one() -> None:
    md = render(mixed("check"), "markdown")
    assert "| account | ok | changed | would change | failed | skipped | findings | verdict |" in md
    assert "| prod | 0 | 0 | 1 | 0 | 0 | 2 | changes pending |" in md
    assert "#### reset — would change, 2 finding(s)" in md
    assert "| high | reset-user-1 | reset problem number 1 | CIS 1.10 |" in md


# ---------------------------------------------------------------- no spaces in JSON statuses and keys


def statuses_and_count_keys(data: Any) -> Iterator[str]:
    """Every key of a `counts` dict and every task `status` value, however deep."""
    if isinstance(data, dict):
        for key, value in data.items():
            if key == "counts" and isinstance(value, dict):
                yield from value
            elif key == "status" and isinstance(value, str):
                yield value
            yield from statuses_and_count_keys(value)
    elif isinstance(data, list):
        for item in data:
            yield from statuses_and_count_keys(item)


@pytest.mark.parametrize("report", [mixed("check"), mixed("apply"), nine_findings()], ids=["check", "apply", "nine"])
def test_json_statuses_and_count_keys_have_no_spaces(report: Report) -> None:
    found = list(statuses_and_count_keys(as_json(report)))
    assert found  # the walk did find counts and statuses
    assert [s for s in found if " " in s] == []
    assert {s for s in found} <= STATUSES | {"findings"}


# ---------------------------------------------------------------- text: noop reason of a findings-only task


def test_findings_only_task_is_ok_and_says_nothing_to_change_before_its_findings() -> None:
    plans = [
        task("mfa", findings=[finding("mfa", 1)], noop_reason="2 user(s) checked"),
        task("fine", noop_reason="policy already strict"),
        task("later", skipped="when: false"),
    ]
    report = Report("check", [AccountRun(Account("prod"), task_plans=plans)])
    assert [report.task_status(report.runs[0], p) for p in plans] == ["ok", "ok", "skipped"]
    lines = render(report, "text").splitlines()
    at = lines.index("  nothing to change: 2 user(s) checked")
    assert lines[at + 1].startswith("  finding (high): mfa-user-1:")
    assert "  ok: 2 user(s) checked" not in lines
    assert "  ok: policy already strict" in lines  # a clean task's reason is still an ok line
    assert "ok=2 changed=0 would_change=0 failed=0 skipped=1 findings=1  findings open" in recap(report)


# ---------------------------------------------------------------- junit


def junit_case(report: Report, name: str) -> ET.Element:
    root = ET.fromstring(render(report, "junit"))
    found = root.find(f"./testsuite/testcase[@name='{name}']")
    assert found is not None
    return found


def test_junit_findings_only_task_passes_and_each_finding_is_a_failing_case() -> None:
    report = nine_findings()
    (account,) = as_json(report)["accounts"]
    assert account["tasks"][0]["status"] == "ok"
    root = ET.fromstring(render(report, "junit"))
    assert root.get("tests") == "12" and root.get("failures") == "9"  # three tasks, nine findings
    for name in ("mfa", "keys", "admins"):
        assert junit_case(report, name).find("failure") is None, name
        for n in range(3):
            failure = junit_case(report, f"{name}: {name}-user-{n} [CIS 1.10]").find("failure")
            assert failure is not None, (name, n)
            assert failure.get("message") == f"[high] {name} problem number {n}"
            assert f"[high] {name}-user-{n}: {name} problem number {n} (CIS 1.10)" in (failure.text or "")


def test_junit_changes_and_findings_have_their_own_cases() -> None:
    pending = junit_case(mixed("check"), "reset").find("failure")
    assert pending is not None
    assert pending.get("message") == "changes pending"
    assert pending.get("type") == "would_change"
    assert "update prod/global/iam_users/alice" in (pending.text or "")
    found = junit_case(mixed("check"), "reset: reset-user-2 [CIS 1.10]").find("failure")
    assert found is not None and "[high] reset-user-2" in (found.text or "")

    applied = junit_case(mixed("apply"), "reset")
    assert applied.find("failure") is None
    assert "update prod/global/iam_users/alice" in (applied.findtext("system-out") or "")
    failure = junit_case(mixed("apply"), "reset: reset-user-1 [CIS 1.10]").find("failure")
    assert failure is not None and "[high] reset-user-1" in (failure.text or "")
