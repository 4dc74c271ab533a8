"""One pipeline for `run` and `apply PLAN`: reach → plan → guards → journal → apply → verify.

`run` goes through every step; `apply PLAN` starts from a saved plan and goes through the rest from
reach on, so a plan made by one identity is judged again with the credentials that apply it (their own
key and user, the administrators they leave, `--max-changes`). The CLI only parses arguments, calls
one of the two entry points, and prints the Report.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from remediator import guards
from remediator.applier import apply_account
from remediator.aws.context import ReadContext
from remediator.aws.session import AccountSession
from remediator.errors import GuardError, RemediatorError
from remediator.journal import Journal
from remediator.model import Account, AccountRun, TaskPlan
from remediator.planner import fail_account, plan_account, reach
from remediator.report import Report


@dataclass(frozen=True)
class Options:
    check: bool = False
    forks: int = 5
    max_changes: int | None = None
    journal: str | None = None
    diff: bool = False


def run_playbook(
    accounts: list[Account],
    task_plans: dict[str, list[TaskPlan]],
    options: Options,
    *,
    warnings: list[str] | None = None,
    before_apply: Callable[[Report], None] | None = None,
) -> Report:
    """Plan the prepared tasks for every account, check the guards, and apply unless in check mode.

    `before_apply` sees the planned report before anything is written (the CLI saves --plan-out there).
    """
    sessions = {a.name: AccountSession(a, read_only=options.check) for a in accounts}

    def plan_one(account: Account) -> AccountRun:
        return plan_account(account, task_plans.get(account.name, []), sessions[account.name])

    runs = _each(plan_one, accounts, options.forks)
    report = Report("check" if options.check else "apply", runs, diff=options.diff, warnings=list(warnings or []))
    _check_run(report, options.max_changes)
    if before_apply is not None:
        before_apply(report)
    if not options.check and not report.error:
        _apply(report, sessions, options)
    return report


def apply_plan(runs: list[AccountRun], options: Options) -> Report:
    """Apply a saved plan: reach each account and judge the guards again with the applying credentials."""
    sessions = {run.account.name: AccountSession(run.account, read_only=False) for run in runs}
    report = Report("apply", runs, diff=options.diff)

    def prepare_one(run: AccountRun) -> None:
        if run.error:
            return
        try:
            reader = reach(sessions[run.account.name])
        except RemediatorError as exc:
            fail_account(run, str(exc))
            return
        try:
            guards.check_account(run, ReadContext(reader))
        except GuardError as exc:
            run.error = str(exc)
        except RemediatorError as exc:
            run.error = f"could not check the guards: {exc}"

    _each(prepare_one, runs, options.forks)
    _check_run(report, options.max_changes)
    if not report.error:
        _apply(report, sessions, options)
    return report


def _check_run(report: Report, max_changes: int | None) -> None:
    try:
        guards.check_run(report.runs, max_changes)
    except GuardError as exc:
        report.error = str(exc)


def _apply(report: Report, sessions: dict[str, AccountSession], options: Options) -> None:
    if not any(run.changes for run in report.runs):
        return
    path = Path(options.journal) if options.journal else default_journal_path()
    journal = Journal(path)
    report.journal = str(path)
    _each(lambda run: apply_account(run, sessions[run.account.name], journal), report.runs, options.forks)


def default_journal_path() -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    return Path(".remediator") / "journal" / f"{stamp}.jsonl"


def _each(fn: Callable[[Any], Any], items: list[Any], forks: int) -> list[Any]:
    with ThreadPoolExecutor(max_workers=max(1, forks)) as pool:
        return list(pool.map(fn, items))
