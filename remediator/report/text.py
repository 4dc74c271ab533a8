"""Text for people: per account, per task, with before/after under --diff, and a recap.

A task's lines say "would change" in words; the recap uses the JSON names (`would_change=N`) and counts
findings one by one. A task with both changes and findings prints both.
"""

from __future__ import annotations

import json
from typing import Any

from remediator.model import APPLIED, AccountRun, Change
from remediator.report import OK, SKIPPED, Report, formatter


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True)
    return "null" if value is None else str(value)


def diff_lines(change: Change) -> list[str]:
    """'- field: old' / '+ field: new' for each field the change alters."""
    before, after = change.before or {}, change.after or {}
    lines = []
    for key in list(dict.fromkeys([*before, *after])):
        old, new = before.get(key), after.get(key)
        if change.before is not None and change.after is not None and old == new:
            continue
        if change.before is not None and key in before:
            lines.append(f"- {key}: {_value(old)}")
        if change.after is not None and key in after:
            lines.append(f"+ {key}: {_value(new)}")
    return lines


@formatter("text")
def render_text(report: Report) -> str:
    out: list[str] = []
    for warning in report.warnings:
        out.append(f"[WARNING] {warning}")
    for run in report.runs:
        out += render_account(report, run)
    out.append("")
    out.append("RECAP " + "*" * 50)
    for run in report.runs:
        counts = report.counts(run)
        numbers = " ".join(f"{k}={v}" for k, v in counts.items())
        out.append(f"{run.account.name:<20} {numbers}  {verdict(report, run)}")
    if report.fail_on:
        out.append(f"fail on: {report.fail_on} (open findings below it are reported and do not fail the run)")
    if report.error:
        out.append(f"ERROR: {report.error}")
    if report.plan_file:
        out.append(f"plan file: {report.plan_file}")
    if report.journal:
        out.append(f"journal: {report.journal} (undo with: remediator rollback {report.journal})")
    return "\n".join(out) + "\n"


def render_account(report: Report, run: AccountRun) -> list[str]:
    label = f"{run.account.name} ({run.account.account_id})" if run.account.account_id else run.account.name
    out = ["", f"ACCOUNT [{label}] " + "*" * 40]
    results = {r.address: r for r in run.results}
    for plan in run.task_plans:
        status = report.task_status(run, plan)
        out.append(f"TASK [{plan.task}] ({plan.module}, {plan.location})")
        if status == SKIPPED:
            out.append(f"  skipping: {plan.skipped}")
            continue
        if plan.error:
            out.append(f"  failed: {plan.error}")
            continue
        if status == OK and plan.noop_reason:
            out.append(f"  {'nothing to change' if plan.findings else 'ok'}: {plan.noop_reason}")
        for change in plan.changes:
            result = results.get(change.address)
            if report.mode == "check":
                word = "would change"
            elif result is None:
                word = "not applied"
            else:
                word = "changed" if result.status == APPLIED else result.status
            out.append(f"  {word}: {change.address}")
            out.append(f"    {change.action}: {change.summary}")
            if change.reason:
                out.append(f"    why: {change.reason}")
            if change.undo is None:
                out.append("    cannot be undone")
            if result is not None and result.message:
                out.append(f"    {result.message}")
            if report.diff:
                out += [f"    {line}" for line in diff_lines(change)]
        for finding in plan.findings:
            ids = f" [{', '.join(finding.controls)}]" if finding.controls else ""
            waiver = report.waiver_of(finding)
            label = f"{finding.severity}, waived" if waiver is not None else finding.severity
            out.append(f"  finding ({label}): {finding.resource}: {finding.message}{ids}")
            if waiver is not None:
                out.append(f"    {waived_line(waiver)}")
    if run.error:
        out.append(f"ERROR [{run.account.name}]: {run.error}")
    if run.converged is True:
        out.append(f"VERIFIED [{run.account.name}]: converged: a fresh read finds nothing left to change")
    elif run.converged is False:
        out.append(f"VERIFIED [{run.account.name}]: did not converge: still to change after applying:")
        out += [f"    {c.address}: {c.summary}" for c in run.leftover]
    return out


def verdict(report: Report, run: AccountRun) -> str:
    if report.account_failed(run):
        return "FAILED"
    failing = bool(report.failing_findings(run))
    below = len(report.below_fail_on(run))
    quiet = f" ({below} finding(s) below {report.fail_on})" if below and not failing else ""
    if report.mode == "check":
        return "changes pending" if run.changes else ("findings open" if failing else "compliant" + quiet)
    if run.converged:
        return "converged" + (", findings open" if failing else quiet)
    return "findings open" if failing else "compliant" + quiet


def waived_line(waiver: Any) -> str:
    """One line on a waiver, as every human format shows it next to the finding it covers."""
    return f"waived until {waiver.expires.isoformat()} by {waiver.owner}: {waiver.reason} ({waiver.location})"
