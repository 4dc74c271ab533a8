"""--format markdown: a pull-request comment, a verdict and a table first, the detail folded below.

Reviewers read the heading and the table; the per-change detail (why, whether it can be undone, the
before/after diff) is there for whoever opens it, so the diff goes in a collapsible block.
"""

from __future__ import annotations

import re

from remediator.model import APPLIED, AccountRun, Change, ChangeResult, TaskPlan
from remediator.report import (
    CHANGED,
    EXIT_ERROR,
    EXIT_OK,
    FINDINGS,
    SKIPPED,
    STATUSES,
    WOULD_CHANGE,
    Report,
    formatter,
)
from remediator.report.text import diff_lines, verdict

# Tasks by status, then findings counted one by one: the keys of Report.counts.
COLUMNS = (*STATUSES, FINDINGS)


def _words(status: str) -> str:
    """A status or count key as a reviewer reads it: "would change", not "would_change"."""
    return status.replace("_", " ")


@formatter("markdown")
def render_markdown(report: Report) -> str:
    out = [f"## remediator {report.mode}: {overall_verdict(report)}", ""]
    if report.playbook:
        out += [f"Playbook: {_code(report.playbook)}", ""]
    if report.error:
        out += [f"> **Error:** {_prose(report.error)}", ""]
    for warning in report.warnings:
        out += [f"> **Warning:** {_prose(warning)}", ""]
    if report.runs:
        out += _table(report)
    details = [line for run in report.runs for line in _account(report, run)]
    if details:
        out += details
    elif report.runs:
        out += ["Nothing to change and no findings.", ""]
    if report.plan_file:
        out += [f"Plan written to {_code(report.plan_file)}.", ""]
    if report.journal:
        out += [f"Journal: {_code(report.journal)} (undo with {_code('remediator rollback ' + report.journal)}).", ""]
    return "\n".join(out).rstrip("\n") + "\n"


def overall_verdict(report: Report) -> str:
    """The exit code in words, so the comment's heading says what CI decided."""
    code = report.exit_code
    if code == EXIT_ERROR:
        return "failed"
    if code == EXIT_OK:
        return "converged" if report.mode == "apply" and any(r.converged for r in report.runs) else "compliant"
    pending = report.mode == "check" and any(run.changes for run in report.runs)
    findings = any(run.open_findings for run in report.runs)
    return ", ".join(w for w, on in (("changes pending", pending), ("findings open", findings)) if on)


def _table(report: Report) -> list[str]:
    out = [
        "| account | " + " | ".join(_words(c) for c in COLUMNS) + " | verdict |",
        "|---|" + "---:|" * len(COLUMNS) + "---|",
    ]
    for run in report.runs:
        counts = report.counts(run)
        cells = [_cell(_label(run)), *(str(counts[c]) for c in COLUMNS), _cell(verdict(report, run))]
        out.append("| " + " | ".join(cells) + " |")
    return [*out, ""]


def _account(report: Report, run: AccountRun) -> list[str]:
    """The account's section, or nothing when every task was ok or skipped and nothing went wrong."""
    results = {r.address: r for r in run.results}
    body: list[str] = []
    for plan in run.task_plans:
        status = report.task_status(run, plan)
        if status == SKIPPED or not (plan.changes or plan.findings or plan.error):
            continue
        found = f", {len(plan.findings)} finding(s)" if plan.findings else ""
        body += [f"#### {_prose(plan.task)} — {_words(status)}{found}", ""]
        body += [f"{_code(plan.module)} at {_code(plan.location)}" if plan.location else _code(plan.module), ""]
        if plan.error:
            body += [f"**Failed:** {_prose(plan.error)}", ""]
        for change in plan.changes:
            body += _change(report, change, results.get(change.address))
        if plan.findings:
            body += _findings(plan)
    if run.error:
        body += [f"**Account error:** {_prose(run.error)}", ""]
    if run.converged is False and run.leftover:
        body += ["**Did not converge**; still to change after applying:", ""]
        body += [f"- {_code(c.address)}: {_prose(c.summary)}" for c in run.leftover]
        body.append("")
    if not body:
        return []
    return [f"### {_prose(_label(run))}", "", *body]


def _change(report: Report, change: Change, result: ChangeResult | None) -> list[str]:
    if report.mode == "check":
        word = _words(WOULD_CHANGE)
    elif result is None:
        word = "not applied"
    else:
        word = CHANGED if result.status == APPLIED else result.status
    out = [f"- **{word}** {_code(change.address)} — {change.action}: {_prose(change.summary)}"]
    if change.reason:
        out.append(f"  - why: {_prose(change.reason)}")
    if change.undo is None:
        out.append("  - :warning: **cannot be undone**")
    if result is not None and result.message:
        out.append(f"  - {_prose(result.message)}")
    out.append("")
    lines = diff_lines(change)
    if lines:
        fence = _fence("\n".join(lines))
        out += ["<details><summary>diff</summary>", "", f"{fence}diff", *lines, fence, "", "</details>", ""]
    return out


def _findings(plan: TaskPlan) -> list[str]:
    out = ["| severity | resource | finding | controls |", "|---|---|---|---|"]
    for f in plan.findings:
        out.append(
            f"| {_cell(f.severity)} | {_cell(f.resource)} | {_cell(f.message)} | {_cell(', '.join(f.controls))} |"
        )
    return [*out, ""]


def _label(run: AccountRun) -> str:
    return f"{run.account.name} ({run.account.account_id})" if run.account.account_id else run.account.name


def _prose(text: str) -> str:
    """Keep AWS-supplied text from opening HTML tags in the comment."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _cell(text: str) -> str:
    """A table cell: a `|` or a line break in it would end the cell or the row."""
    return re.sub(r"\s*\n\s*", " ", _prose(text)).replace("|", "\\|")


def _code(text: str) -> str:
    """Inline code that survives backticks in the text (CommonMark: a longer backtick run)."""
    ticks = "`" * (max((len(m) for m in re.findall(r"`+", text)), default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{ticks}{pad}{text}{pad}{ticks}"


def _fence(body: str) -> str:
    """A code fence longer than any backtick run inside, so a value cannot close it early."""
    return "`" * max(3, max((len(m) for m in re.findall(r"`+", body)), default=0) + 1)
