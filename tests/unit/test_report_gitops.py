"""The GitOps loop's reports: --fail-on, `show PLAN`, the pull-request comment, SARIF for code scanning,
JUnit with times and one case per finding.

Reports are built by hand from remediator.model types (a plan file with planfile's writer): no AWS.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from datetime import date
from pathlib import Path

import pytest

from remediator import __version__, controls, planfile
from remediator.errors import ConfigError
from remediator.model import APPLIED, FAILED, Account, AccountRun, ApiCall, Change, ChangeResult, Finding, TaskPlan
from remediator.report import EXIT_ERROR, EXIT_OK, EXIT_PENDING, Report, check_fail_on, render
from remediator.report.markdown import GITHUB_LIMIT, MARKER
from remediator.report.sarif import FINGERPRINT
from remediator.report.show import show
from remediator.waivers import Waiver

POLICY = "iam_password_policy"
ROOT = "iam_root_account"
CALL = (ApiCall("iam", "update_account_password_policy", {"MinimumPasswordLength": 14}),)


def change(account: str, name: str = "password-policy", summary: str = "MinimumPasswordLength 8 → 14") -> Change:
    return Change(
        address=f"{account}/global/{POLICY}/{name}",
        module=POLICY,
        resource=name,
        action="update",
        before={"MinimumPasswordLength": 8},
        after={"MinimumPasswordLength": 14},
        calls=CALL,
        undo=CALL,
        summary=summary,
        reason="fields differ from the task",
    )


def finding(severity: str, resource: str = "root", account: str = "prod", rule: str = "root_mfa") -> Finding:
    return Finding(
        address=f"{account}/global/{ROOT}/{resource}",
        resource=resource,
        severity=severity,
        message=f"a {severity} problem with {resource}",
        controls=controls.of(rule),
    )


def findings_report(*severities: str, fail_on: str | None = None, changes: list[Change] | None = None) -> Report:
    found = [finding(s, f"r{i}") for i, s in enumerate(severities)]
    plans = [TaskPlan("prod", "root", ROOT, "book.yml:3", findings=found)]
    if changes:
        plans.append(TaskPlan("prod", "policy", POLICY, "book.yml:9", changes=changes))
    return Report("check", [AccountRun(Account("prod"), task_plans=plans)], fail_on=fail_on)


# ---------------------------------------------------------------- --fail-on


@pytest.mark.parametrize(
    ("fail_on", "severities", "code"),
    [
        (None, ["low"], EXIT_PENDING),
        (None, ["info"], EXIT_OK),
        ("info", ["low"], EXIT_PENDING),  # info = every open finding; notes are never open
        ("info", ["info"], EXIT_OK),
        ("low", ["low"], EXIT_PENDING),
        ("medium", ["low"], EXIT_OK),
        ("medium", ["medium"], EXIT_PENDING),
        ("high", ["medium", "low"], EXIT_OK),
        ("high", ["high", "low"], EXIT_PENDING),
        ("critical", ["high"], EXIT_OK),
        ("critical", ["critical"], EXIT_PENDING),
        ("critical", ["severe"], EXIT_PENDING),  # a severity nobody knows always fails
    ],
)
def test_fail_on_thresholds(fail_on: str | None, severities: list[str], code: int) -> None:
    assert findings_report(*severities, fail_on=fail_on).exit_code == code


def test_fail_on_leaves_pending_changes_and_errors_alone() -> None:
    assert findings_report("low", fail_on="critical", changes=[change("prod")]).exit_code == EXIT_PENDING
    report = findings_report("low", fail_on="critical")
    report.error = "a guard tripped"
    assert report.exit_code == EXIT_ERROR


def test_fail_on_values_are_checked() -> None:
    assert check_fail_on("HIGH") == "high"
    assert check_fail_on(None) is None
    with pytest.raises(ConfigError, match="--fail-on: 'severe' is not a severity"):
        check_fail_on("severe")
    with pytest.raises(ConfigError):
        Report("check", [], fail_on="urgent")


def test_below_fail_on_is_reported_not_failed_in_every_format() -> None:
    report = findings_report("medium", fail_on="high")
    assert report.exit_code == EXIT_OK
    assert report.counts(report.runs[0])["findings"] == 1  # still counted: reported, not failing

    text = render(report, "text")
    assert "finding (medium): r0: a medium problem with r0" in text
    assert "findings=1  compliant (1 finding(s) below high)" in text
    assert "fail on: high (open findings below it are reported and do not fail the run)" in text

    md = render(report, "markdown")
    assert md.startswith("## remediator check: compliant (1 finding(s) below high)\n")
    assert "Only findings at or above **high** fail the run (`--fail-on high`)" in md

    data = json.loads(render(report, "json"))
    assert data["fail_on"] == "high" and data["exit_code"] == EXIT_OK

    root = ET.fromstring(render(report, "junit"))
    assert root.get("failures") == "0"
    below = root.find(".//testcase[@name='root']")  # the task's one finding is judged in the task's case
    assert below is not None and "below --fail-on high" in (below.findtext("system-out") or "")

    run = json.loads(render(report, "sarif"))["runs"][0]
    assert run["invocations"][0]["exitCode"] == EXIT_OK
    assert len(run["results"]) == 1 and run["properties"]["failOn"] == "high"


def test_default_reports_say_nothing_of_fail_on() -> None:
    report = findings_report("medium")
    assert "fail_on" not in json.loads(render(report, "json"))
    assert "fail on" not in render(report, "text")
    assert render(report, "markdown").startswith("## remediator check: findings open\n")


def test_failing_and_quiet_findings_together_say_findings_open() -> None:
    report = findings_report("high", "low", fail_on="high")
    assert report.exit_code == EXIT_PENDING
    assert "findings=2  findings open" in render(report, "text")
    root = ET.fromstring(render(report, "junit"))
    assert root.get("failures") == "1"


# ---------------------------------------------------------------- show PLAN.json


CRITICAL = finding("critical")


def write_plan(tmp_path: Path) -> Path:
    runs = [
        AccountRun(
            Account("prod", account_id="111111111111"),
            task_plans=[
                TaskPlan("prod", "policy", POLICY, "book.yml:3", args={"minimum_length": 14}, changes=[change("prod")]),
                TaskPlan("prod", "root", ROOT, "book.yml:9", args={"require_mfa": True}, findings=[CRITICAL]),
            ],
        )
    ]
    path = tmp_path / "plan.json"
    planfile.write(path, runs, playbook="book.yml", playbook_digest="d1", inventory_digest="d2")
    return path


def test_show_text(tmp_path: Path) -> None:
    path = write_plan(tmp_path)
    text = show(path)
    first = text.splitlines()[0]
    assert first.startswith(f"PLAN [{path}] made ") and first.endswith("by remediator " + __version__)
    assert "  would change: prod/global/iam_password_policy/password-policy" in text
    assert "    - MinimumPasswordLength: 8\n    + MinimumPasswordLength: 14" in text  # diffs, for review
    assert "finding (critical): root: a critical problem with root" in text
    assert "would_change=1 failed=0 skipped=0 findings=1  changes pending" in text


def test_show_markdown(tmp_path: Path) -> None:
    path = write_plan(tmp_path)
    md = show(path, "markdown")
    assert md.startswith("## remediator plan: changes pending, findings open\n\nPlan file `")
    assert f"apply it with `remediator apply {path}`." in md
    assert "Playbook: `book.yml`" in md
    assert "```diff\n- MinimumPasswordLength: 8\n+ MinimumPasswordLength: 14\n```" in md
    assert md.rstrip("\n").splitlines()[-1] == MARKER


def test_show_with_waivers_and_fail_on(tmp_path: Path) -> None:
    path = write_plan(tmp_path)
    waiver = Waiver(ROOT, "root", "break-glass", "sec@example.com", date(2099, 1, 1))
    text = show(path, waivers=[waiver], fail_on="critical")
    assert "finding (critical, waived): root" in text


def test_show_refuses_other_formats_and_bad_files(tmp_path: Path) -> None:
    path = write_plan(tmp_path)
    with pytest.raises(ConfigError, match="show: format 'sarif'"):
        show(path, "sarif")
    with pytest.raises(ConfigError, match="plan file not found"):
        show(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{}", encoding="utf-8")
    with pytest.raises(ConfigError, match="not a remediator plan file"):
        show(bad)


# ---------------------------------------------------------------- markdown for a pull-request comment


def size(text: str) -> int:
    return len(text.encode("utf-8"))


def test_markdown_ends_with_one_hidden_marker() -> None:
    md = render(findings_report("high", changes=[change("prod")]), "markdown")
    assert md.count(MARKER) == 1
    assert md.endswith("\n\n" + MARKER + "\n")
    assert MARKER.startswith("<!--") and MARKER.endswith("-->")  # hidden when GitHub renders it


def test_markdown_findings_by_rule_and_severity() -> None:
    found = [
        finding("critical", "root"),
        finding("high", "root", rule="root_use"),
        finding("high", "root2", rule="root_use"),
        finding("medium", "root3", rule="root_use"),
        Finding("prod/global/iam_admins/account", "account", "high", "only one admin"),
    ]
    plans = [
        TaskPlan("prod", "root", ROOT, "book.yml:3", findings=found[:4]),
        TaskPlan("prod", "admins", "iam_admins", "book.yml:5", findings=found[4:]),
    ]
    md = render(Report("check", [AccountRun(Account("prod"), task_plans=plans)]), "markdown")
    table = md.split("### Findings by rule\n\n", 1)[1].split("\n\n", 1)[0].splitlines()
    assert table == [
        "| rule | controls | critical | high | medium |",
        "|---|---|---:|---:|---:|",
        "| `iam_root_account:root_mfa` | CIS v3.0 1.5, CIS v5.0 1.4 | 1 | 0 | 0 |",
        "| `iam_root_account:root_use` | CIS v3.0 1.7, CIS v5.0 1.6 | 0 | 2 | 1 |",
        "| `iam_admins` |  | 0 | 1 | 0 |",
    ]


def big_report(accounts: int, tasks: int, per_task: int) -> Report:
    runs = []
    for a in range(accounts):
        name = f"account-{a:03d}"
        plans = []
        for t in range(tasks):
            changes = [change(name, f"policy-{t}-{i}", "x" * 120) for i in range(per_task)]
            found = [finding("high", f"user-{t}-{i}", name, "console_mfa") for i in range(per_task)]
            plans.append(TaskPlan(name, f"task {t}", POLICY, "book.yml:3", changes=changes, findings=found))
        runs.append(AccountRun(Account(name), task_plans=plans))
    return Report("check", runs, playbook="book.yml")


def test_markdown_is_capped_with_a_note_of_what_was_cut() -> None:
    report = big_report(accounts=30, tasks=5, per_task=10)  # 1,500 changes and 1,500 findings
    md = render(report, "markdown")
    assert size(md) <= GITHUB_LIMIT
    assert md.startswith("## remediator check: changes pending, findings open\n")
    assert md.endswith("\n" + MARKER + "\n")
    for a in range(30):  # the account table is whole
        assert f"| account-{a:03d} | 0 | 0 | 5 | 0 | 0 | 50 | changes pending |" in md
    match = re.search(r"not shown: (\d+) of (\d+) change\(s\), (\d+) of (\d+) finding\(s\)", md)
    assert match, md[:3000]
    cut_changes, all_changes, cut_findings, all_findings = map(int, match.groups())
    assert (all_changes, all_findings) == (1500, 1500)
    assert md.count("- **would change** ") == all_changes - cut_changes
    assert md.count("| high | user-") == all_findings - cut_findings
    assert cut_changes > 0 and cut_findings > 0
    assert "Shortened to fit one GitHub comment" in md and "the diffs are left out" in md
    assert "<details>" not in md  # diffs go first
    detail = md.split(MARKER)[0].rstrip()
    assert not detail.endswith(("|---|---|---|---|", "---|"))  # no headless table at the cut
    assert detail.endswith(("- why: fields differ from the task", "|"))  # whole items only


def test_markdown_drops_only_the_diffs_when_that_is_enough() -> None:
    report = big_report(accounts=1, tasks=4, per_task=40)  # ~100 KB with diffs, less without
    whole = render(report, "markdown")
    assert size(whole) <= GITHUB_LIMIT
    assert "the diffs are left out" in whole and "not shown" not in whole
    assert whole.count("- **would change** ") == 160 and whole.count("| high | user-") == 160


def test_markdown_small_reports_are_untouched() -> None:
    md = render(findings_report("high", changes=[change("prod")]), "markdown")
    assert "Shortened" not in md and "<details><summary>diff</summary>" in md


def test_markdown_cap_holds_even_when_the_head_alone_is_too_big() -> None:
    report = findings_report("high")
    report.warnings = [f"warning {i}: " + "w" * 200 for i in range(1000)]
    md = render(report, "markdown")
    assert size(md) <= GITHUB_LIMIT and md.endswith(MARKER + "\n")
    assert "Cut here to fit one GitHub comment" in md


# ---------------------------------------------------------------- sarif for code scanning


def sarif_run(report: Report) -> dict:
    return json.loads(render(report, "sarif"))["runs"][0]


def band(score: str) -> str:
    """GitHub's mapping of properties.security-severity to the severity it shows."""
    value = float(score)
    return "critical" if value >= 9.0 else "high" if value >= 7.0 else "medium" if value >= 4.0 else "low"


def test_sarif_security_severity_per_severity() -> None:
    run = sarif_run(findings_report("critical", "high", "medium", "low", "info", changes=[change("prod")]))
    rules = {r["id"]: r for r in run["tool"]["driver"]["rules"]}
    for severity in ("critical", "high", "medium", "low"):
        rule = rules[f"iam_root_account:root_mfa/{severity}"]
        score = rule["properties"]["security-severity"]
        assert isinstance(score, str) and band(score) == severity and float(score) >= 0.1
        assert rule["name"] == "iam_root_account:root_mfa"
        assert rule["properties"]["tags"] == ["security", "CIS v3.0 1.5", "CIS v5.0 1.4"]
    assert "security-severity" not in rules["iam_root_account:root_mfa/info"]["properties"]
    assert rules["iam_root_account:root_mfa/critical"]["defaultConfiguration"]["level"] == "error"
    assert band(rules[POLICY]["properties"]["security-severity"]) == "medium"  # drift
    # every result points at its rule
    ids = [r["id"] for r in run["tool"]["driver"]["rules"]]
    assert all(ids[r["ruleIndex"]] == r["ruleId"] for r in run["results"])
    assert {r["ruleId"] for r in run["results"]} == set(ids)


def test_sarif_fingerprints_stable_and_distinct_per_resource() -> None:
    def prints(report: Report) -> list[str]:
        return [r["partialFingerprints"][FINGERPRINT] for r in sarif_run(report)["results"]]

    first = prints(findings_report("high", "high", changes=[change("prod")]))
    assert first == prints(findings_report("high", "high", changes=[change("prod")]))
    assert len(set(first)) == 3  # r0, r1 and the change: one rule, distinct resources
    other_rule = [finding("high", "r0", rule="root_use")]
    plans = [TaskPlan("prod", "root", ROOT, "b:1", findings=other_rule)]
    report = Report("check", [AccountRun(Account("prod"), plans)])
    assert prints(report)[0] != first[0]  # same resource, another rule


def test_sarif_apply_mode_alerts_only_what_is_still_open() -> None:
    done, broken, drifted = change("prod", "a"), change("prod", "b"), change("prod", "c")
    run = AccountRun(
        Account("prod"),
        task_plans=[
            TaskPlan("prod", "t", POLICY, "book.yml:3", changes=[done, broken, drifted], findings=[finding("low")])
        ],
        results=[
            ChangeResult(done.address, APPLIED),
            ChangeResult(broken.address, FAILED, "AccessDenied"),
            ChangeResult(drifted.address, APPLIED),
        ],
        converged=False,
        leftover=[drifted],
    )
    results = sarif_run(Report("apply", [run]))["results"]
    addresses = [r["properties"]["address"] for r in results]
    assert addresses == [broken.address, drifted.address, finding("low").address]
    assert [r["level"] for r in results] == ["error", "error", "note"]

    clean = AccountRun(
        Account("prod"),
        task_plans=[TaskPlan("prod", "t", POLICY, "book.yml:3", changes=[done])],
        results=[ChangeResult(done.address, APPLIED)],
        converged=True,
    )
    assert sarif_run(Report("apply", [clean]))["results"] == []


# ---------------------------------------------------------------- junit


def test_junit_time_on_every_case() -> None:
    report = findings_report("high", "low", changes=[change("prod")])
    report.timings = {("prod", 0): 1.25, ("prod", 1): 0.5}
    report.elapsed = 3.0
    root = ET.fromstring(render(report, "junit"))
    cases = root.findall(".//testcase")
    assert cases and all(re.fullmatch(r"\d+\.\d{3}", c.get("time", "")) for c in cases)
    by_name = {c.get("name"): c.get("time") for c in cases}
    assert by_name["root"] == "1.250" and by_name["policy"] == "0.500"
    assert by_name["root: r0 [root_mfa]"] == "0.000"
    assert root.find("testsuite").get("time") == "1.750"  # type: ignore[union-attr]
    assert root.get("time") == "3.000"


def test_junit_time_defaults_to_zero() -> None:
    root = ET.fromstring(render(findings_report("high"), "junit"))
    assert {c.get("time") for c in root.iter("testcase")} == {"0.000"}
    assert root.get("time") == "0.000"


def test_junit_a_single_finding_is_judged_in_its_task_case() -> None:
    root = ET.fromstring(render(findings_report("high"), "junit"))
    assert [c.get("name") for c in root.iter("testcase")] == ["root"]
    failure = root.find(".//testcase[@name='root']/failure")
    assert failure is not None and failure.get("message") == "[high] a high problem with r0"


def test_junit_one_case_per_finding_where_a_task_has_several() -> None:
    twice = [finding("high", "root"), finding("medium", "root"), finding("low", "other")]
    plans = [TaskPlan("prod", "root", ROOT, "book.yml:3", findings=twice)]
    root = ET.fromstring(render(Report("check", [AccountRun(Account("prod"), task_plans=plans)]), "junit"))
    names = [c.get("name") for c in root.iter("testcase")]
    assert names == ["root", "root: root [root_mfa]", "root: root [root_mfa] #2", "root: other [root_mfa]"]
    assert root.get("tests") == "4" and root.get("failures") == "3"
    assert {c.get("classname") for c in root.iter("testcase")} == {"prod"}
