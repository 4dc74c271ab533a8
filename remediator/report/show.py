"""`remediator show PLAN.json`: a saved plan rendered for review, as text or markdown.

The plan file is read (and checked) the way `apply` reads it, then shown as the check-mode report it
was: the same formatters, with before/after diffs, under a header that says which plan it is. Nothing
reaches AWS.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

from remediator import planfile
from remediator.errors import ConfigError
from remediator.report import Report, render
from remediator.report import markdown as md

SHOW_FORMATS = ("text", "markdown")


def plan_report(
    path: str | Path,
    *,
    waivers: list[Any] | None = None,
    today: date | None = None,
    fail_on: str | None = None,
) -> Report:
    """The check-mode Report of a saved plan; waivers and --fail-on apply as they would to the run."""
    return _report(planfile.load(path), waivers, today, fail_on)


def show(
    path: str | Path,
    fmt: str = "text",
    *,
    waivers: list[Any] | None = None,
    today: date | None = None,
    fail_on: str | None = None,
) -> str:
    """The plan at `path` rendered in `fmt` (text or markdown). A missing or malformed plan file is a
    ConfigError, as for `apply`."""
    if fmt not in SHOW_FORMATS:
        raise ConfigError(f"show: format {fmt!r} is not one of {', '.join(SHOW_FORMATS)}")
    saved = planfile.load(path)
    report = _report(saved, waivers, today, fail_on)
    made = " ".join(
        part
        for part in (
            f"made {saved.created}" if saved.created else "",
            f"by remediator {saved.tool_version}" if saved.tool_version else "",
        )
        if part
    )
    if fmt == "text":
        return f"PLAN [{path}]" + (f" {made}" if made else "") + "\n" + render(report, "text")
    about = f"Plan file {md._code(str(path))}" + (f" ({made})" if made else "")
    about += f"; apply it with {md._code(f'remediator apply {path}')}."
    heading, _, rest = md.fit(report, md.BUDGET - md._size(about) - 2).partition("\n")
    return f"{heading}\n\n{about}\n{rest}"


def _report(saved: planfile.SavedPlan, waivers: list[Any] | None, today: date | None, fail_on: str | None) -> Report:
    report = Report(
        "check", saved.runs, diff=True, playbook=saved.playbook or None, fail_on=fail_on, title="remediator plan"
    )
    # A guard refused the run that made the plan: the review shows why, as the run did (apply refuses it).
    report.error = saved.guards.refused
    if waivers:
        from remediator.waivers import apply_waivers

        apply_waivers(report, waivers, today)
    return report
