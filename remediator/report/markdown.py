"""--format markdown: a pull-request comment, a verdict and tables first, the detail folded below.

Reviewers read the heading and the tables (accounts; findings by rule and severity); the per-change
detail (why, whether it can be undone, the before/after diff) is there for whoever opens it, so the diff
goes in a collapsible block.

The comment is made to be posted and updated by a bot: its last line is the hidden marker `MARKER`, by
which the bot finds its own comment again, and it never exceeds GitHub's limit for a comment
(`GITHUB_LIMIT` characters; measured here in UTF-8 bytes, which are never fewer, against `BUDGET`, which
leaves room for a bot's own footer). A report too large loses first its diffs, then the detail of its
last tasks, and says what it left out; the heading, the tables, warnings and errors are always kept.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from remediator.model import APPLIED, AccountRun, Change, ChangeResult, Finding, TaskPlan
from remediator.report import (
    CHANGED,
    EXIT_ERROR,
    EXIT_OK,
    FINDINGS,
    SEVERITY_ORDER,
    SKIPPED,
    STATUSES,
    WAIVED,
    WOULD_CHANGE,
    Report,
    formatter,
    severity_rank,
)
from remediator.report.rules import rule_name
from remediator.report.text import diff_lines, verdict, waived_line

# Tasks by status, then findings counted one by one: the keys of Report.counts.
COLUMNS = (*STATUSES, FINDINGS)
MARKER = "<!-- remediator-report -->"
GITHUB_LIMIT = 65_536
BUDGET = 65_000

# Kinds of body lines, for cutting a report to size: a line that starts a change or a finding (counted
# when left out), a line that only frames what follows (dropped when nothing follows it), or content.
CHANGE, FINDING, FRAME, CONTENT = "change", "finding", "frame", ""


@dataclass(frozen=True)
class _Line:
    text: str
    kind: str = CONTENT


def _words(status: str) -> str:
    """A status or count key as a reviewer reads it: "would change", not "would_change"."""
    return status.replace("_", " ")


@formatter("markdown")
def render_markdown(report: Report) -> str:
    return fit(report, BUDGET)


def fit(report: Report, budget: int = BUDGET) -> str:
    """The comment, at most `budget` bytes of UTF-8: whole if it fits, else without diffs, else with the
    detail of its last tasks cut, and a note saying what was left out."""
    head, body, tail = _parts(report, diffs=True)
    text = _join(head, [line.text for line in body], tail)
    if _size(text) <= budget:
        return text
    head, body, tail = _parts(report, diffs=False)
    total_changes = sum(1 for line in body if line.kind == CHANGE)
    total_findings = sum(1 for line in body if line.kind == FINDING)
    has_diffs = any(diff_lines(c) for run in report.runs for c in run.changes)
    note = _cut_note(has_diffs, 0, total_changes, 0, total_findings)
    text = _join([*head, note, ""], [line.text for line in body], tail)
    if _size(text) <= budget:
        return text
    # Cut the body's tail: keep the longest prefix that fits with a note of the worst length.
    worst = _cut_note(has_diffs, total_changes, total_changes, total_findings, total_findings)
    fixed = _size(_join([*head, worst, ""], [], tail))
    room, keep = budget - fixed, 0
    for index, line in enumerate(body):
        room -= _size(line.text) + 1
        if room < 0:
            break
        keep = index + 1
    while 0 < keep < len(body) and body[keep].kind == CONTENT and body[keep].text:
        keep -= 1  # cut between items, never inside one (a change and its why, undo and result lines)
    kept = body[:keep]
    while kept and (kept[-1].kind == FRAME or not kept[-1].text):
        kept.pop()  # headings, table headers and blank lines with nothing left under them
    dropped = body[len(kept) :]
    left_changes = sum(1 for line in dropped if line.kind == CHANGE)
    left_findings = sum(1 for line in dropped if line.kind == FINDING)
    note = _cut_note(has_diffs, left_changes, total_changes, left_findings, total_findings)
    text = _join([*head, note, ""], [*(line.text for line in kept), ""], tail)
    if _size(text) <= budget:
        return text
    return _hard_cut(text, budget)  # the tables alone are too large (thousands of accounts or warnings)


def _join(head: list[str], body: list[str], tail: list[str]) -> str:
    return "\n".join([*head, *body, *tail]).rstrip("\n") + "\n\n" + MARKER + "\n"


def _size(text: str) -> int:
    return len(text.encode("utf-8"))


def _cut_note(diffs: bool, changes: int, all_changes: int, findings: int, all_findings: int) -> str:
    left = [f"{changes} of {all_changes} change(s)" if changes else "", f"{findings} of {all_findings} finding(s)"]
    shown = [t for t in left if t and not t.startswith("0 of")]
    parts = (["the diffs are left out"] if diffs else []) + ([f"not shown: {', '.join(shown)}"] if shown else [])
    return (
        f"> :scissors: **Shortened to fit one GitHub comment** (at most {GITHUB_LIMIT:,} characters): "
        + "; ".join(parts or ["some detail is left out"])
        + ". The whole report: `--format json`, or `--report FILE` with `--format markdown`."
    )


def _hard_cut(text: str, budget: int) -> str:
    note = "\n\n> :scissors: **Cut here to fit one GitHub comment**; the whole report: `--format json`.\n\n" + MARKER
    room = budget - _size(note) - 1
    cut = text.encode("utf-8")[:room].decode("utf-8", errors="ignore")
    return cut[: cut.rfind("\n")] + note + "\n"


def _parts(report: Report, *, diffs: bool) -> tuple[list[str], list[_Line], list[str]]:
    """The comment in three parts: what is always shown, the detail that may be cut, and the footer."""
    head = [f"## {_prose(report.title or 'remediator ' + report.mode)}: {overall_verdict(report)}", ""]
    if report.playbook:
        head += [f"Playbook: {_code(report.playbook)}", ""]
    if report.error:
        head += [f"> **Error:** {_prose(report.error)}", ""]
    for warning in report.warnings:
        head += [f"> **Warning:** {_prose(warning)}", ""]
    if report.runs:
        head += _table(report)
    head += _rules_table(report)
    body = [line for run in report.runs for line in _account(report, run, diffs)]
    if not body and report.runs:
        body = [_Line("Nothing to change and no findings."), _Line("")]
    tail: list[str] = []
    if report.plan_file:
        tail += [f"Plan written to {_code(report.plan_file)}.", ""]
    if report.journal:
        tail += [f"Journal: {_code(report.journal)} (undo with {_code('remediator rollback ' + report.journal)}).", ""]
    return head, body, tail


def overall_verdict(report: Report) -> str:
    """The exit code in words, so the comment's heading says what CI decided."""
    code = report.exit_code
    if code == EXIT_ERROR:
        return "failed"
    if code == EXIT_OK:
        word = "converged" if report.mode == "apply" and any(r.converged for r in report.runs) else "compliant"
        below = sum(len(report.below_fail_on(run)) for run in report.runs)
        return word + (f" ({below} finding(s) below {report.fail_on})" if below else "")
    pending = report.mode == "check" and any(run.changes for run in report.runs)
    findings = any(report.failing_findings(run) for run in report.runs)
    return ", ".join(w for w, on in (("changes pending", pending), ("findings open", findings)) if on)


def _table(report: Report) -> list[str]:
    columns = COLUMNS + ((WAIVED,) if report.waived else ())
    out = [
        "| account | " + " | ".join(_words(c) for c in columns) + " | verdict |",
        "|---|" + "---:|" * len(columns) + "---|",
    ]
    for run in report.runs:
        counts = report.counts(run)
        cells = [_cell(_label(run)), *(str(counts.get(c, 0)) for c in columns), _cell(verdict(report, run))]
        out.append("| " + " | ".join(cells) + " |")
    return [*out, ""]


def _rules_table(report: Report) -> list[str]:
    """Findings counted by rule and severity over every account: open ones by severity, notes as `info`,
    and waived ones apart. Nothing when there are no findings."""
    rows: dict[str, dict[str, int]] = {}
    ids: dict[str, list[str]] = {}
    for run in report.runs:
        for plan in run.task_plans:
            for finding in plan.findings:
                name = rule_name(plan.module, finding)
                column = WAIVED if report.waiver_of(finding) is not None else finding.severity
                row = rows.setdefault(name, {})
                row[column] = row.get(column, 0) + 1
                known = ids.setdefault(name, [])
                known += [c for c in finding.controls if c not in known]
    if not rows:
        return []
    seen = {column for row in rows.values() for column in row}
    columns = [s for s in reversed(SEVERITY_ORDER) if s in seen]
    columns += sorted(c for c in seen if c not in SEVERITY_ORDER and c != WAIVED)  # a severity unknown here
    columns += [WAIVED] if WAIVED in seen else []

    def order(name: str) -> tuple[int, int, str]:
        row = rows[name]
        worst = max((severity_rank(c) for c in row if c != WAIVED), default=-1)
        return (-worst, -sum(row.values()), name)

    out = [
        "### Findings by rule",
        "",
        "| rule | controls | " + " | ".join(columns) + " |",
        "|---|---|" + "---:|" * len(columns),
    ]
    for name in sorted(rows, key=order):
        cells = [_code(name), _cell(", ".join(ids[name])), *(str(rows[name].get(c, 0)) for c in columns)]
        out.append("| " + " | ".join(cells) + " |")
    out.append("")
    if report.fail_on:
        out += [
            f"Only findings at or above **{report.fail_on}** fail the run ({_code('--fail-on ' + report.fail_on)});"
            " the others are reported.",
            "",
        ]
    return out


def _account(report: Report, run: AccountRun, diffs: bool) -> list[_Line]:
    """The account's section, or nothing when every task was ok or skipped and nothing went wrong."""
    results = {r.address: r for r in run.results}
    body: list[_Line] = []
    for plan in run.task_plans:
        status = report.task_status(run, plan)
        if status == SKIPPED or not (plan.changes or plan.findings or plan.error):
            continue
        found = f", {len(plan.findings)} finding(s)" if plan.findings else ""
        waived = sum(1 for f in plan.findings if report.waiver_of(f) is not None)
        found += f", {waived} waived" if waived else ""
        body += _frame(f"#### {_prose(plan.task)} — {_words(status)}{found}", "")
        body += _frame(f"{_code(plan.module)} at {_code(plan.location)}" if plan.location else _code(plan.module), "")
        if plan.error:
            body += _content(f"**Failed:** {_prose(plan.error)}", "")
        for change in plan.changes:
            body += _change(report, change, results.get(change.address), diffs)
        if plan.findings:
            body += _findings(report, plan)
    if run.error:
        body += _content(f"**Account error:** {_prose(run.error)}", "")
    if run.converged is False and run.leftover:
        body += _frame("**Did not converge**; still to change after applying:", "")
        body += _content(*(f"- {_code(c.address)}: {_prose(c.summary)}" for c in run.leftover))
        body.append(_Line(""))
    if not body:
        return []
    return [*_frame(f"### {_prose(_label(run))}", ""), *body]


def _frame(*texts: str) -> list[_Line]:
    return [_Line(t, FRAME) for t in texts]


def _content(*texts: str) -> list[_Line]:
    return [_Line(t) for t in texts]


def _change(report: Report, change: Change, result: ChangeResult | None, diffs: bool) -> list[_Line]:
    if report.mode == "check":
        word = _words(WOULD_CHANGE)
    elif result is None:
        word = "not applied"
    else:
        word = CHANGED if result.status == APPLIED else result.status
    out = [_Line(f"- **{word}** {_code(change.address)} — {change.action}: {_prose(change.summary)}", CHANGE)]
    if change.reason:
        out += _content(f"  - why: {_prose(change.reason)}")
    if change.undo is None:
        out += _content("  - :warning: **cannot be undone**")
    if result is not None and result.message:
        out += _content(f"  - {_prose(result.message)}")
    out += _content("")
    lines = diff_lines(change) if diffs else []
    if lines:
        fence = _fence("\n".join(lines))
        out += _content("<details><summary>diff</summary>", "", f"{fence}diff", *lines, fence, "", "</details>", "")
    return out


def _findings(report: Report, plan: TaskPlan) -> list[_Line]:
    out = _frame("| severity | resource | finding | controls |", "|---|---|---|---|")
    for f in plan.findings:
        out.append(_Line(_finding_row(report, f), FINDING))
    return [*out, _Line("")]


def _finding_row(report: Report, f: Finding) -> str:
    text = _cell(f.message)
    waiver = report.waiver_of(f)
    if waiver is not None:
        text += f" — **waived** {_cell(waived_line(waiver).removeprefix('waived '))}"
    return f"| {_cell(f.severity)} | {_cell(f.resource)} | {text} | {_cell(', '.join(f.controls))} |"


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
