"""--format junit: one test case per account × task, and one per finding where a task has several, so CI
test views show drift as failing tests and count findings one by one.

Anything that makes the exit code non-zero shows up as a failure or an error somewhere in the file: an
account error no task carries, a failed convergence check and a run-level error get a test case of
their own, so a red build never comes with an all-green test report — and nothing that leaves the exit
code alone fails a case, so a green build never comes with a red one:

- A task's case says how the task went: failed (error or failure), changes pending (failure), skipped,
  or passed (changed, ok).
- A task's one finding is judged in the task's case (a failure when it fails the run). Where a task has
  several, each is a case of its own, named `TASK: RESOURCE [RULE]` under the account: a failure when it
  fails the run, skipped when a waiver covers it (the message says whose, why and until when), passed
  with the finding in system-out when it is a note (`info`) or ranks below `--fail-on`.
- Every case has a `time` (seconds): the runner's measure of the task where the Report has one
  (`Report.timings`), else 0; a finding's case takes 0, its task's case carries the time. Suites and
  the whole file add up their cases (or take the account's and the run's own measures, when known).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from remediator.model import APPLIED, AccountRun, Finding, TaskPlan
from remediator.report import CHANGED, FAILED, OK, SKIPPED, WOULD_CHANGE, Report, formatter
from remediator.report.rules import control_key
from remediator.report.text import waived_line

COUNTED = ("failure", "error", "skipped")
# Characters XML 1.0 cannot hold at all; AWS error text has been known to carry them.
_INVALID_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


@formatter("junit")
def render_junit(report: Report) -> str:
    root = ET.Element("testsuites", name="remediator")
    for run in report.runs:
        root.append(_suite(report, run))
    if report.error:
        suite = ET.SubElement(root, "testsuite", name="remediator")
        case = _case(suite, "remediator", "run")
        _add(case, "error", report.error)
    suites = root.findall("testsuite")
    for suite in suites:
        _count(suite, suite.findall("testcase"))
        if suite.get("time") is None:
            suite.set("time", _seconds(sum(float(c.get("time", "0")) for c in suite.findall("testcase"))))
    _count(root, [case for suite in suites for case in suite.findall("testcase")])
    total = report.elapsed if report.elapsed is not None else sum(float(s.get("time", "0")) for s in suites)
    root.set("time", _seconds(total))
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


def _suite(report: Report, run: AccountRun) -> ET.Element:
    suite = ET.Element("testsuite", name=run.account.name)
    if (run.account.name, None) in report.timings:
        suite.set("time", _seconds(report.timings[(run.account.name, None)]))
    props = ET.SubElement(suite, "properties")
    ET.SubElement(props, "property", name="mode", value=report.mode)
    if run.account.account_id:
        ET.SubElement(props, "property", name="account_id", value=run.account.account_id)
    if report.fail_on:
        ET.SubElement(props, "property", name="fail_on", value=report.fail_on)
    error_shown = False
    for index, plan in enumerate(run.task_plans):
        case = _case(suite, run.account.name, plan.task, report.timings.get((run.account.name, index), 0.0))
        error_shown |= _task(report, run, plan, case)
        if len(plan.findings) > 1:
            _findings(report, run, plan, suite)
    if run.converged is not None:
        case = _case(suite, run.account.name, "converged")
        if run.converged is False and run.error:
            _add(case, "error", run.error, _changes_left(run))
            error_shown = True
        elif run.converged is False:
            _add(case, "failure", "did not converge", _changes_left(run))
    if run.error and not error_shown:
        _add(_case(suite, run.account.name, "account"), "error", run.error)
    return suite


def _task(report: Report, run: AccountRun, plan: TaskPlan, case: ET.Element) -> bool:
    """Fill one task's test case; True when it carries the account's error. A single finding is judged
    here; several have cases of their own (`_findings`)."""
    status = report.task_status(run, plan)
    changes = "\n".join(f"{c.action} {c.address}: {c.summary}" for c in plan.changes)
    single = plan.findings[0] if len(plan.findings) == 1 else None
    fails = single is not None and report.waiver_of(single) is None and report.fails(single)
    found = _finding_text(single) if single is not None else ""
    if status == SKIPPED:
        _add(case, "skipped", plan.skipped)
    elif status == FAILED and run.error:
        _add(case, "error", run.error, plan.error or _results(run, plan))
        return True
    elif status == FAILED:
        _add(case, "failure", plan.error or "changes not applied", _results(run, plan) if plan.changes else "")
    elif status == WOULD_CHANGE:
        message = "changes pending" + (", 1 finding open" if fails else "")
        _add(case, "failure", message, "\n".join(t for t in (changes, found if fails else "") if t), WOULD_CHANGE)
    elif fails:
        message = "changes applied, 1 finding open" if status == CHANGED else f"[{single.severity}] {single.message}"
        _add(case, "failure", message, found, "finding")
    if status == CHANGED:
        _text(case, "system-out", "\n".join(t for t in (changes, "" if fails else found) if t))
    elif status == OK:
        several = f"{len(plan.findings)} finding(s), each its own test case" if len(plan.findings) > 1 else ""
        note = _single_note(report, single) if single is not None and not fails else ""
        _text(case, "system-out", "\n".join(t for t in (plan.noop_reason, several, note) if t))
    return False


def _single_note(report: Report, finding: Finding) -> str:
    """A task's one finding that does not fail the run: waived, below --fail-on, or a note."""
    text = _finding_text(finding)
    waiver = report.waiver_of(finding)
    if waiver is not None:
        return f"{text}\n{waived_line(waiver)}"
    if report.is_open(finding):
        return f"{text}\nbelow --fail-on {report.fail_on}: reported, does not fail the run"
    return text


def _findings(report: Report, run: AccountRun, plan: TaskPlan, suite: ET.Element) -> None:
    """One case per finding of the task, named `TASK: RESOURCE [RULE]` (made unique within the task)."""
    names: dict[str, int] = {}
    for finding in plan.findings:
        key = control_key(finding.controls)
        name = f"{plan.task}: {finding.resource}" + (f" [{key}]" if key else "")
        names[name] = names.get(name, 0) + 1
        if names[name] > 1:
            name += f" #{names[name]}"
        case = _case(suite, run.account.name, name)
        text = _finding_text(finding)
        waiver = report.waiver_of(finding)
        if waiver is not None:
            _add(case, "skipped", waived_line(waiver))
            _text(case, "system-out", text)
        elif report.fails(finding):
            _add(case, "failure", f"[{finding.severity}] {finding.message}", text, "finding")
        elif report.is_open(finding):
            _text(case, "system-out", f"{text}\nbelow --fail-on {report.fail_on}: reported, does not fail the run")
        else:
            _text(case, "system-out", text)  # a note (info): never fails


def _finding_text(finding: Finding) -> str:
    controls = f" ({', '.join(finding.controls)})" if finding.controls else ""
    return f"[{finding.severity}] {finding.resource}: {finding.message}{controls}\naddress: {finding.address}"


def _seconds(value: float) -> str:
    return f"{max(value, 0.0):.3f}"


def _results(run: AccountRun, plan: TaskPlan) -> str:
    statuses = {r.address: r for r in run.results}
    lines = []
    for change in plan.changes:
        result = statuses.get(change.address)
        status = result.status if result else "not applied"
        note = f" ({result.message})" if result and result.message else ""
        word = "changed" if status == APPLIED else status
        lines.append(f"{word}: {change.action} {change.address}: {change.summary}{note}")
    return "\n".join(lines)


def _changes_left(run: AccountRun) -> str:
    return "\n".join(f"{c.action} {c.address}: {c.summary}" for c in run.leftover)


def _case(suite: ET.Element, classname: str, name: str, seconds: float = 0.0) -> ET.Element:
    return ET.SubElement(suite, "testcase", classname=_clean(classname), name=_clean(name), time=_seconds(seconds))


def _add(case: ET.Element, tag: str, message: str, body: str = "", kind: str = "") -> None:
    element = ET.SubElement(case, tag, message=_clean(message))
    if kind:
        element.set("type", kind)
    if body:
        element.text = _clean(body)


def _text(case: ET.Element, tag: str, body: str) -> None:
    if body:
        ET.SubElement(case, tag).text = _clean(body)


def _count(element: ET.Element, cases: list[ET.Element]) -> None:
    """tests/failures/errors/skipped from the built cases, so the totals cannot disagree with them."""
    element.set("tests", str(len(cases)))
    for tag in COUNTED:
        plural = tag if tag == "skipped" else tag + "s"
        element.set(plural, str(sum(1 for case in cases if case.find(tag) is not None)))


def _clean(text: str) -> str:
    return _INVALID_XML.sub("\ufffd", text)
