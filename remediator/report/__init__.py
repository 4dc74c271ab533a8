"""The Report owns the outcome of a run: per-task statuses, the recap, and the exit code.

A task's status says how the task itself went: ok, changed, would_change, failed or skipped. Findings
are not a status: a task that only found something ran fine (ok), and one that changed something may
have found something too. The recap and the JSON count findings one by one, next to the task counts.
Statuses and count keys are JSON-friendly (no spaces); human text may spell them in words.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from remediator import __version__
from remediator.model import APPLIED, AccountRun, TaskPlan

OK, CHANGED, WOULD_CHANGE, FAILED, SKIPPED = "ok", "changed", "would_change", "failed", "skipped"
STATUSES = (OK, CHANGED, WOULD_CHANGE, FAILED, SKIPPED)
# The counts' keys for findings, counted one by one (not a task status): open ones, and `info` notes.
FINDINGS, NOTES = "findings", "info"
EXIT_OK, EXIT_ERROR, EXIT_PENDING = 0, 1, 2


@dataclass
class Report:
    mode: str  # check | apply
    runs: list[AccountRun]
    diff: bool = False
    warnings: list[str] = field(default_factory=list)
    error: str = ""
    journal: str | None = None
    plan_file: str | None = None
    playbook: str | None = None

    def task_status(self, run: AccountRun, plan: TaskPlan) -> str:
        if plan.skipped:
            return SKIPPED
        if plan.error or run.error and plan.changes:
            return FAILED
        if plan.changes:
            if self.mode == "check":
                return WOULD_CHANGE
            statuses = {r.address: r.status for r in run.results}
            if all(statuses.get(c.address) == APPLIED for c in plan.changes):
                return CHANGED
            return FAILED
        return OK  # findings, if any, are counted apart: the task itself ran fine

    def counts(self, run: AccountRun) -> dict[str, int]:
        """Tasks by status, then `findings`: every open finding of the account, one by one; then, when
        there are any, `info`: the notes (findings of severity info), which never change the exit code."""
        counts = dict.fromkeys(STATUSES, 0)
        for plan in run.task_plans:
            counts[self.task_status(run, plan)] += 1
        counts[FINDINGS] = len(run.open_findings)
        notes = len(run.findings) - counts[FINDINGS]
        if notes:
            counts[NOTES] = notes
        return counts

    def account_failed(self, run: AccountRun) -> bool:
        return bool(
            run.error
            or any(p.error for p in run.task_plans)
            or any(r.status != APPLIED for r in run.results)
            or run.converged is False
        )

    @property
    def exit_code(self) -> int:
        if self.error or any(self.account_failed(run) for run in self.runs):
            return EXIT_ERROR
        pending = self.mode == "check" and any(run.changes for run in self.runs)
        findings = any(run.open_findings for run in self.runs)
        return EXIT_PENDING if pending or findings else EXIT_OK

    def to_dict(self) -> dict[str, Any]:
        accounts = []
        for run in self.runs:
            results = {r.address: r for r in run.results}
            tasks = []
            for plan in run.task_plans:
                data = plan.to_dict()
                data["status"] = self.task_status(run, plan)
                for change in data["changes"]:
                    result = results.get(change["address"])
                    change["result"] = result.status if result else None
                    change["result_message"] = result.message if result else ""
                tasks.append(data)
            accounts.append(
                {
                    "name": run.account.name,
                    "account_id": run.account.account_id,
                    "status": "failed" if self.account_failed(run) else "ok",
                    "error": run.error,
                    "converged": run.converged,
                    "leftover": [c.to_dict() for c in run.leftover],
                    "counts": self.counts(run),
                    "tasks": tasks,
                }
            )
        return {
            "format_version": 1,
            "tool_version": __version__,
            "mode": self.mode,
            "playbook": self.playbook,
            "error": self.error,
            "warnings": self.warnings,
            "journal": self.journal,
            "plan_file": self.plan_file,
            "accounts": accounts,
            "exit_code": self.exit_code,
        }


FORMATS: dict[str, Callable[[Report], str]] = {}


def formatter(name: str) -> Callable[[Callable[[Report], str]], Callable[[Report], str]]:
    def add(fn: Callable[[Report], str]) -> Callable[[Report], str]:
        FORMATS[name] = fn
        return fn

    return add


def render(report: Report, fmt: str) -> str:
    from remediator.report import formats  # noqa: F401  (registers the formatters)

    return FORMATS[fmt](report)
