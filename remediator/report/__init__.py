"""The Report owns the outcome of a run: per-task statuses, the recap, and the exit code."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from remediator import __version__
from remediator.model import APPLIED, AccountRun, TaskPlan

OK, CHANGED, WOULD_CHANGE, FAILED, SKIPPED, FINDINGS = "ok", "changed", "would change", "failed", "skipped", "findings"
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
        if plan.findings:
            return FINDINGS
        return OK

    def counts(self, run: AccountRun) -> dict[str, int]:
        counts = {OK: 0, CHANGED: 0, WOULD_CHANGE: 0, FAILED: 0, SKIPPED: 0, FINDINGS: 0}
        for plan in run.task_plans:
            counts[self.task_status(run, plan)] += 1
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
        findings = any(run.findings for run in self.runs)
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
