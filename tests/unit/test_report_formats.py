"""markdown, junit and sarif rendered from Reports built by hand: no AWS, no emulator.

Each format is read back the way its consumer reads it (ElementTree, json), so the tests check what a
CI test view, code scanning or a PR comment would actually see.
"""

from __future__ import annotations

import argparse
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from remediator import cli
from remediator.model import (
    APPLIED,
    FAILED,
    SKIPPED,
    STALE,
    Account,
    AccountRun,
    ApiCall,
    Change,
    ChangeResult,
    Finding,
    TaskPlan,
)
from remediator.report import EXIT_ERROR, EXIT_OK, EXIT_PENDING, FORMATS, Report, render
from remediator.report.sarif import FINGERPRINT

POLICY = "iam_password_policy"
CALL = (ApiCall("iam", "update_account_password_policy", {"MinimumPasswordLength": 14}),)


def change(account: str, name: str, *, undo: bool = True, summary: str = "MinimumPasswordLength 8 → 14") -> Change:
    return Change(
        address=f"{account}/global/{POLICY}/{name}",
        module=POLICY,
        resource=name,
        action="update",
        before={"MinimumPasswordLength": 8, "RequireSymbols": True},
        after={"MinimumPasswordLength": 14, "RequireSymbols": True},
        calls=CALL,
        undo=CALL if undo else None,
        summary=summary,
        reason="fields differ from the task",
    )


def plan(account: str, task: str, *, line: int | None = 7, **kw: object) -> TaskPlan:
    location = f"playbooks/baseline.yml:{line}" if line else "playbooks/baseline.yml"
    return TaskPlan(account=account, task=task, module=POLICY, location=location, **kw)  # type: ignore[arg-type]


FINDING = Finding(
    address="prod/global/iam_password_policy/root",
    resource="root",
    severity="critical",
    message="the root user has no MFA",
    controls=("CIS 1.5", "CIS 1.6"),
)
LOW = Finding(address="prod/global/iam_password_policy/keys", resource="keys", severity="low", message="old key")


def check_report() -> Report:
    """prod: a pending change, findings, a skipped task and an ok one; broken: an account error."""
    prod = AccountRun(
        Account("prod", account_id="111111111111"),
        task_plans=[
            plan("prod", "password | policy", changes=[change("prod", "policy", undo=False)]),
            plan("prod", "root mfa", line=None, findings=[FINDING, LOW]),
            plan("prod", "optional", skipped="when: enforce is false"),
            plan("prod", "already fine", noop_reason="nothing to do"),
        ],
    )
    broken = AccountRun(
        Account("broken"),
        task_plans=[plan("broken", "password | policy", changes=[change("broken", "policy")])],
        error="AccessDenied: sts:AssumeRole",
    )
    return Report("check", [prod, broken], playbook="playbooks/baseline.yml")


def apply_report() -> Report:
    """One account: a task applied, one with a failed then a skipped change, one stale."""
    applied, failed, halted, stale = (change("prod", n) for n in ("a", "b", "c", "d"))
    run = AccountRun(
        Account("prod"),
        task_plans=[
            plan("prod", "applied", changes=[applied]),
            plan("prod", "failing", changes=[failed, halted]),
            plan("prod", "stale", changes=[stale]),
        ],
        results=[
            ChangeResult(applied.address, APPLIED),
            ChangeResult(failed.address, FAILED, "Throttling: rate exceeded"),
            ChangeResult(halted.address, SKIPPED, "not applied: an earlier change failed"),
            ChangeResult(stale.address, STALE, "the resource changed since the plan was made; skipped"),
        ],
        converged=True,
    )
    return Report("apply", [run], journal=".remediator/journal/x.jsonl")


def clean_apply_report() -> Report:
    done = change("prod", "policy")
    run = AccountRun(
        Account("prod"),
        task_plans=[plan("prod", "policy", changes=[done])],
        results=[ChangeResult(done.address, APPLIED)],
        converged=True,
    )
    return Report("apply", [run])


def test_all_formats_are_registered() -> None:
    render(check_report(), "text")  # imports remediator.report.formats
    assert {"text", "json", "markdown", "junit", "sarif"} <= set(FORMATS)


# ---------------------------------------------------------------- markdown


def test_markdown_heading_table_and_escaped_pipes() -> None:
    report = check_report()
    assert report.exit_code == EXIT_ERROR
    md = render(report, "markdown")
    assert md.startswith("## remediator check: failed\n")
    assert "| account | ok | changed | would change | failed | skipped | findings | verdict |" in md
    # the findings-only task is ok as a task; its two findings are counted one by one
    assert "| prod (111111111111) | 2 | 0 | 1 | 0 | 1 | 2 | changes pending |" in md
    assert "| broken | 0 | 0 | 0 | 1 | 0 | 0 | FAILED |" in md
    assert "#### password | policy — would change\n" in md
    assert "#### root mfa — ok, 2 finding(s)\n" in md


def test_markdown_change_detail_and_diff_block() -> None:
    md = render(check_report(), "markdown")
    assert "- **would change** `prod/global/iam_password_policy/policy` — update: MinimumPasswordLength 8 → 14" in md
    assert "why: fields differ from the task" in md
    prod = md.split("### prod")[1].split("### broken")[0]
    assert prod.count("cannot be undone") == 1
    assert "cannot be undone" not in md.split("### broken")[1]
    block = (
        "<details><summary>diff</summary>\n\n"
        "```diff\n- MinimumPasswordLength: 8\n+ MinimumPasswordLength: 14\n```\n\n</details>"
    )
    assert block in md
    assert "RequireSymbols" not in md  # unchanged fields stay out of the diff
    assert "**Account error:** AccessDenied: sts:AssumeRole" in md


def test_markdown_findings_skip_ok_and_skipped_tasks() -> None:
    md = render(check_report(), "markdown")
    assert "| critical | root | the root user has no MFA | CIS 1.5, CIS 1.6 |" in md
    assert "optional" not in md and "already fine" not in md


def test_markdown_escapes_pipes_and_html_in_cells() -> None:
    finding = Finding("a/b", "r|s", "high", "bad <b>thing</b> | here\nnext", ("X|1",))
    run = AccountRun(Account("x|y"), task_plans=[plan("x|y", "t", findings=[finding])])
    md = render(Report("check", [run]), "markdown")
    assert "| x\\|y | 1 | 0 | 0 | 0 | 0 | 1 | findings open |" in md
    assert "| high | r\\|s | bad &lt;b&gt;thing&lt;/b&gt; \\| here next | X\\|1 |" in md
    assert md.startswith("## remediator check: findings open\n")


def test_markdown_diff_fence_outlasts_backticks_in_values() -> None:
    c = Change("a", POLICY, "r", "create", None, {"note": "```x```"}, CALL, None, "s")
    run = AccountRun(Account("a"), task_plans=[plan("a", "t", changes=[c])])
    md = render(Report("check", [run]), "markdown")
    assert "````diff\n+ note: ```x```\n````" in md


@pytest.mark.parametrize(
    ("report", "heading"),
    [
        (clean_apply_report(), "## remediator apply: converged"),
        (Report("check", [AccountRun(Account("a"), [plan("a", "t")])]), "## remediator check: compliant"),
        (apply_report(), "## remediator apply: failed"),
    ],
)
def test_markdown_verdict_follows_exit_code(report: Report, heading: str) -> None:
    assert render(report, "markdown").startswith(heading + "\n")


def test_markdown_apply_words() -> None:
    md = render(apply_report(), "markdown")
    assert "- **changed** `prod/global/iam_password_policy/a`" in md
    assert "- **failed** `prod/global/iam_password_policy/b`" in md
    assert "Throttling: rate exceeded" in md
    assert "- **skipped** `prod/global/iam_password_policy/c`" in md
    assert "- **stale** `prod/global/iam_password_policy/d`" in md
    assert "remediator rollback .remediator/journal/x.jsonl" in md


# ---------------------------------------------------------------- junit


def junit(report: Report) -> ET.Element:
    return ET.fromstring(render(report, "junit"))


def counts(element: ET.Element) -> tuple[int, int, int, int]:
    return tuple(int(element.get(k, "-1")) for k in ("tests", "failures", "errors", "skipped"))  # type: ignore[return-value]


def case(root: ET.Element, account: str, task: str) -> ET.Element:
    found = root.find(f"./testsuite/testcase[@classname='{account}'][@name='{task}']")
    assert found is not None, f"no testcase {account}/{task}"
    return found


def test_junit_check_mode() -> None:
    root = junit(check_report())
    assert root.tag == "testsuites"
    suites = {s.get("name"): s for s in root.findall("testsuite")}
    assert set(suites) == {"prod", "broken"}
    # four task cases and one case per finding (two): the pending change and both findings fail
    assert counts(suites["prod"]) == (6, 3, 0, 1)
    assert counts(suites["broken"]) == (1, 0, 1, 0)
    assert counts(root) == (7, 3, 1, 1)

    pending = case(root, "prod", "password | policy").find("failure")
    assert pending is not None and pending.get("message") == "changes pending"
    assert pending.get("type") == "would_change"
    assert "update prod/global/iam_password_policy/policy: MinimumPasswordLength 8 → 14" in (pending.text or "")

    # the findings-only task ran fine; each of its findings is a case of its own
    task = case(root, "prod", "root mfa")
    assert task.find("failure") is None
    assert "2 finding(s), each its own test case" in (task.findtext("system-out") or "")
    critical = case(root, "prod", "root mfa: root [CIS 1.5, CIS 1.6]").find("failure")
    assert critical is not None and critical.get("message") == "[critical] the root user has no MFA"
    assert critical.get("type") == "finding"
    assert "[critical] root: the root user has no MFA (CIS 1.5, CIS 1.6)" in (critical.text or "")
    low = case(root, "prod", "root mfa: keys").find("failure")
    assert low is not None and low.get("message") == "[low] old key"

    skipped = case(root, "prod", "optional").find("skipped")
    assert skipped is not None and skipped.get("message") == "when: enforce is false"

    ok = case(root, "prod", "already fine")
    assert [child.tag for child in ok] == ["system-out"]

    error = case(root, "broken", "password | policy")
    assert error.find("failure") is None
    assert error.find("error").get("message") == "AccessDenied: sts:AssumeRole"  # type: ignore[union-attr]


def test_junit_apply_mode() -> None:
    root = junit(apply_report())
    suite = root.find("testsuite")
    assert suite is not None
    # three tasks plus the convergence check, which passed
    assert counts(suite) == (4, 2, 0, 0) == counts(root)
    assert case(root, "prod", "applied").find("failure") is None
    assert case(root, "prod", "converged").find("failure") is None
    failing = case(root, "prod", "failing").find("failure")
    assert failing is not None and failing.get("message") == "changes not applied"
    assert "failed: update prod/global/iam_password_policy/b" in (failing.text or "")
    assert "Throttling: rate exceeded" in (failing.text or "")
    assert "skipped: update prod/global/iam_password_policy/c" in (failing.text or "")
    stale = case(root, "prod", "stale").find("failure")
    assert stale is not None and "stale: update prod/global/iam_password_policy/d" in (stale.text or "")


def test_junit_account_error_without_changes_and_not_converged() -> None:
    unreachable = AccountRun(Account("gone"), error="no credentials")
    drifted = AccountRun(
        Account("drift"),
        task_plans=[plan("drift", "policy", changes=[change("drift", "policy")])],
        results=[ChangeResult("drift/global/iam_password_policy/policy", APPLIED)],
        converged=False,
        leftover=[change("drift", "policy")],
    )
    report = Report("apply", [unreachable, drifted], error="one account failed")
    assert report.exit_code == EXIT_ERROR
    root = junit(report)
    assert case(root, "gone", "account").find("error").get("message") == "no credentials"  # type: ignore[union-attr]
    converged = case(root, "drift", "converged").find("failure")
    assert converged is not None and converged.get("message") == "did not converge"
    assert "drift/global/iam_password_policy/policy" in (converged.text or "")
    assert case(root, "remediator", "run").find("error") is not None
    assert counts(root) == (4, 1, 2, 0)  # gone/account, drift/policy, drift/converged, run


def test_junit_strips_characters_xml_cannot_hold() -> None:
    run = AccountRun(Account("a"), task_plans=[plan("a", "t", error="bad\x00byte\x1b")])
    root = junit(Report("check", [run]))
    assert case(root, "a", "t").find("failure").get("message") == "bad\ufffdbyte\ufffd"  # type: ignore[union-attr]


# ---------------------------------------------------------------- sarif


def sarif(report: Report) -> dict:
    data = json.loads(render(report, "sarif"))
    assert data["version"] == "2.1.0"
    assert data["$schema"] == "https://json.schemastore.org/sarif-2.1.0.json"
    assert len(data["runs"]) == 1
    return data["runs"][0]


def test_sarif_check_mode_results() -> None:
    run = sarif(check_report())
    driver = run["tool"]["driver"]
    assert driver["name"] == "remediator" and driver["version"]
    # a drift rule per module, a rule per finding rule and severity (GitHub's severity is the rule's)
    rule_ids = [r["id"] for r in driver["rules"]]
    assert rule_ids == [POLICY, f"{POLICY}:CIS 1.5, CIS 1.6/critical", f"{POLICY}/low"]
    rules = {r["id"]: r for r in driver["rules"]}
    assert rules[f"{POLICY}:CIS 1.5, CIS 1.6/critical"]["properties"]["tags"] == ["security", "CIS 1.5", "CIS 1.6"]
    results = run["results"]
    assert len(results) == 4  # two changes, two findings
    assert [r["ruleId"] for r in results] == [rule_ids[0], rule_ids[1], rule_ids[2], rule_ids[0]]
    assert [r["ruleIndex"] for r in results] == [0, 1, 2, 0]

    pending = results[0]
    assert pending["level"] == "warning"
    assert pending["message"]["text"].startswith("MinimumPasswordLength 8 → 14. Why: fields differ from the task.")
    assert "Cannot be undone." in pending["message"]["text"]
    location = pending["locations"][0]
    assert location["physicalLocation"] == {
        "artifactLocation": {"uri": "playbooks/baseline.yml"},
        "region": {"startLine": 7},
    }
    assert location["logicalLocations"] == [
        {"fullyQualifiedName": "prod/global/iam_password_policy/policy", "kind": "resource"}
    ]
    assert pending["properties"]["account"] == "prod"
    assert pending["properties"]["action"] == "update"
    assert pending["properties"]["address"] == "prod/global/iam_password_policy/policy"

    critical, low = results[1], results[2]
    assert (critical["level"], low["level"]) == ("error", "note")
    assert critical["properties"]["controls"] == ["CIS 1.5", "CIS 1.6"]
    assert "region" not in critical["locations"][0]["physicalLocation"]  # task location has no line
    assert critical["message"]["text"] == "root: the root user has no MFA. Controls: CIS 1.5, CIS 1.6."

    assert results[3]["properties"]["account"] == "broken"
    notes = run["invocations"][0]
    assert notes["executionSuccessful"] is False and notes["exitCode"] == EXIT_ERROR
    assert any("AccessDenied" in n["message"]["text"] for n in notes["toolExecutionNotifications"])


def test_sarif_apply_levels() -> None:
    # the applied change ("a") is not an alert: only what is still open is
    results = sarif(apply_report())["results"]
    levels = {r["properties"]["address"].rsplit("/", 1)[1]: r["level"] for r in results}
    assert levels == {"b": "error", "c": "warning", "d": "error"}
    assert {r["properties"]["result"] for r in results} == {FAILED, SKIPPED, STALE}
    failed = next(r for r in results if r["level"] == "error")
    assert "Result: failed (Throttling: rate exceeded)." in failed["message"]["text"]


def test_sarif_finding_severity_levels() -> None:
    findings = [Finding(f"a/{s}", s, s, "m") for s in ("critical", "high", "medium", "low")]
    run = AccountRun(Account("a"), task_plans=[plan("a", "t", findings=findings)])
    results = sarif(Report("check", [run]))["results"]
    assert [r["level"] for r in results] == ["error", "error", "warning", "note"]


def test_sarif_fingerprints_are_stable_and_distinct() -> None:
    first = sarif(check_report())["results"]
    moved = check_report()
    for run in moved.runs:
        for task in run.task_plans:
            task.location = "elsewhere/other.yml:99"
    second = sarif(moved)["results"]
    prints = [r["partialFingerprints"][FINGERPRINT] for r in first]
    assert prints == [r["partialFingerprints"][FINGERPRINT] for r in second]
    assert len(set(prints)) == len(prints)
    # a change keeps its fingerprint from check to apply, so the alert stays one alert while it fails
    check_print = sarif(
        Report("check", [AccountRun(Account("prod"), [plan("prod", "policy", changes=[change("prod", "b")])])])
    )
    assert (
        check_print["results"][0]["partialFingerprints"] == sarif(apply_report())["results"][0]["partialFingerprints"]
    )


def test_sarif_uri_relative_to_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    inside = tmp_path / "dir with space" / "book.yml"
    outside = Path("/elsewhere/book.yml")
    runs = [
        AccountRun(Account("in"), [TaskPlan("in", "t", POLICY, f"{inside}:3", findings=[LOW])]),
        AccountRun(Account("out"), [TaskPlan("out", "t", POLICY, str(outside), findings=[LOW])]),
        AccountRun(Account("none"), [TaskPlan("none", "t", POLICY, "", findings=[LOW])]),
    ]
    results = sarif(Report("check", runs))["results"]
    assert results[0]["locations"][0]["physicalLocation"] == {
        "artifactLocation": {"uri": "dir%20with%20space/book.yml"},
        "region": {"startLine": 3},
    }
    assert results[1]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "file:///elsewhere/book.yml"
    assert "physicalLocation" not in results[2]["locations"][0]
    assert results[2]["locations"][0]["logicalLocations"][0]["fullyQualifiedName"] == LOW.address


def test_sarif_clean_run_has_no_results() -> None:
    report = Report("check", [AccountRun(Account("a"), [plan("a", "t", noop_reason="fine")])])
    assert report.exit_code == EXIT_OK
    run = sarif(report)
    assert run["results"] == [] and run["tool"]["driver"]["rules"] == []
    assert run["invocations"][0]["executionSuccessful"] is True


def test_exit_pending_report_renders_everywhere() -> None:
    run = AccountRun(Account("a"), [plan("a", "t", changes=[change("a", "p")])])
    report = Report("check", [run])
    assert report.exit_code == EXIT_PENDING
    for fmt in ("markdown", "junit", "sarif"):
        assert render(report, fmt).endswith("\n")


@pytest.mark.parametrize("fmt", ["markdown", "junit", "sarif"])
def test_cli_report_file_gets_the_format_while_stdout_stays_text(
    fmt: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / f"report.{fmt}"
    code = cli.emit(check_report(), argparse.Namespace(report=str(out), format=fmt))
    assert code == EXIT_ERROR
    assert out.read_text(encoding="utf-8") == render(check_report(), fmt)
    assert "RECAP" in capsys.readouterr().out
