"""--format junit: one test case per account × task, so CI test views show drift as failing tests.

Anything that makes the exit code non-zero shows up as a failure or an error somewhere in the file: an
account error no task carries, a failed convergence check and a run-level error get a test case of
their own, so a red build never comes with an all-green test report.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from remediator.model import APPLIED, AccountRun, Finding, TaskPlan
from remediator.report import CHANGED, FAILED, OK, SKIPPED, WOULD_CHANGE, Report, formatter

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
    _count(root, [case for suite in suites for case in suite.findall("testcase")])
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


def _suite(report: Report, run: AccountRun) -> ET.Element:
    suite = ET.Element("testsuite", name=run.account.name)
    props = ET.SubElement(suite, "properties")
    ET.SubElement(props, "property", name="mode", value=report.mode)
    if run.account.account_id:
        ET.SubElement(props, "property", name="account_id", value=run.account.account_id)
    error_shown = False
    for plan in run.task_plans:
        case = _case(suite, run.account.name, plan.task)
        error_shown |= _task(report, run, plan, case)
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
    """Fill one task's test case; True when it carries the account's error."""
    status = report.task_status(run, plan)
    changes = "\n".join(f"{c.action} {c.address}: {c.summary}" for c in plan.changes)
    findings = "\n".join(
        f"[{f.severity}] {f.resource}: {f.message}" + (f" ({', '.join(f.controls)})" if f.controls else "")
        for f in plan.findings
    )
    if status == SKIPPED:
        _add(case, "skipped", plan.skipped)
    elif status == FAILED and run.error:
        _add(case, "error", run.error, plan.error or _results(run, plan))
        return True
    elif status == FAILED:
        _add(case, "failure", plan.error or "changes not applied", _results(run, plan) if plan.changes else "")
    elif status == WOULD_CHANGE:
        message = "changes pending" + (f", {_open(plan)}" if _open_findings(plan) else "")
        _add(case, "failure", message, "\n".join(t for t in (changes, findings) if t), WOULD_CHANGE)
    elif _open_findings(plan):
        # A task with open findings fails, whether it changed something or not: the exit code (2) says
        # findings are open.
        message = f"changes applied, {_open(plan)}" if status == CHANGED else _open(plan)
        _add(case, "failure", message, findings, "findings")
    if status == CHANGED:
        _text(case, "system-out", changes)
    elif findings:
        _text(case, "system-out", findings)  # info notes only: they never fail a case
    if status == OK and plan.noop_reason and not plan.findings:
        _text(case, "system-out", plan.noop_reason)
    return False


def _open_findings(plan: TaskPlan) -> list[Finding]:
    return [f for f in plan.findings if f.open]


def _open(plan: TaskPlan) -> str:
    return f"{len(_open_findings(plan))} finding(s) open"


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


def _case(suite: ET.Element, classname: str, name: str) -> ET.Element:
    return ET.SubElement(suite, "testcase", classname=_clean(classname), name=_clean(name))


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
