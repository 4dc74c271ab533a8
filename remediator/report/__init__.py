"""The Report owns the outcome of a run: per-task statuses, the recap, and the exit code.

A task's status says how the task itself went: ok, changed, would_change, failed or skipped. Findings
are not a status: a task that only found something ran fine (ok), and one that changed something may
have found something too. The recap and the JSON count findings one by one, next to the task counts.
Statuses and count keys are JSON-friendly (no spaces); human text may spell them in words.

Which findings count, in one place (every format asks the Report, never the findings themselves):
- **open**: not an `info` note and not waived (`remediator.waivers`); counted as `findings`.
- **failing**: open and at or above `fail_on` (`--fail-on`; default: every open finding); only these
  make the exit code 2. Open findings below `fail_on` are still shown and counted.
- **waived**: matched by a waiver that has not expired; shown with the waiver, counted as `waived`, never
  changes the exit code.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from remediator import __version__
from remediator.errors import ConfigError
from remediator.model import APPLIED, INFO, AccountRun, Finding, TaskPlan

OK, CHANGED, WOULD_CHANGE, FAILED, SKIPPED = "ok", "changed", "would_change", "failed", "skipped"
STATUSES = (OK, CHANGED, WOULD_CHANGE, FAILED, SKIPPED)
# The counts' keys for findings, counted one by one (not a task status): open ones, and `info` notes.
FINDINGS, NOTES = "findings", "info"
# ...and, when there are any, the findings a waiver covers (`--waivers`).
WAIVED = "waived"
UNREACHABLE = "unreachable"  # an account never reached: counted on its recap line, flagged in JSON
EXIT_OK, EXIT_ERROR, EXIT_PENDING = 0, 1, 2
# Severities from the least to the most severe; `--fail-on` takes any of them (`info` = every open finding,
# as `low`: notes are never open).
SEVERITY_ORDER = (INFO, "low", "medium", "high", "critical")
FAIL_ON_CHOICES = SEVERITY_ORDER


def severity_rank(severity: str) -> int:
    """Position in SEVERITY_ORDER; a severity it does not know ranks above critical, so it always fails."""
    return SEVERITY_ORDER.index(severity) if severity in SEVERITY_ORDER else len(SEVERITY_ORDER)


def check_fail_on(value: str | None) -> str | None:
    """A `--fail-on` value, checked: one of FAIL_ON_CHOICES (any case), or None for the default."""
    if value is None:
        return None
    severity = value.strip().lower()
    if severity not in FAIL_ON_CHOICES:
        raise ConfigError(f"--fail-on: {value!r} is not a severity (one of: {', '.join(FAIL_ON_CHOICES)})")
    return severity


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
    # --fail-on: only open findings at or above this severity make the exit code 2 (None: all of them).
    fail_on: str | None = None
    # Findings a waiver covers → that waiver (remediator.waivers.Waiver); filled by waivers.apply_waivers.
    waived: dict[Finding, Any] = field(default_factory=dict)
    # Seconds spent, where the runner measured them: (account name, index of the task plan) for a task,
    # (account name, None) for a whole account. JUnit's `time` attributes; 0 where unknown.
    timings: dict[tuple[str, int | None], float] = field(default_factory=dict)
    elapsed: float | None = None  # the whole run's wall time, when measured
    title: str | None = None  # the markdown heading's subject: "remediator check" unless set (`show`: a plan)

    def __post_init__(self) -> None:
        self.fail_on = check_fail_on(self.fail_on)

    # ------------------------------------------------------------ which findings count

    def waiver_of(self, finding: Finding) -> Any:
        """The waiver covering this finding, or None. A note (`info`) is never waived: it is never open."""
        return self.waived.get(finding) if finding.open else None

    def is_open(self, finding: Finding) -> bool:
        """Open: neither an `info` note nor waived. Counted as `findings`, shown as open everywhere."""
        return finding.open and finding not in self.waived

    def fails(self, finding: Finding) -> bool:
        """Open and at or above `fail_on`: what makes the exit code 2."""
        return self.is_open(finding) and severity_rank(finding.severity) >= severity_rank(self.fail_on or "low")

    def open_findings(self, run: AccountRun) -> list[Finding]:
        return [f for f in run.findings if self.is_open(f)]

    def failing_findings(self, run: AccountRun) -> list[Finding]:
        return [f for f in run.findings if self.fails(f)]

    def waived_findings(self, run: AccountRun) -> list[Finding]:
        return [f for f in run.findings if self.waiver_of(f) is not None]

    def below_fail_on(self, run: AccountRun) -> list[Finding]:
        """Open findings that do not fail the run because they rank below `fail_on`."""
        return [f for f in run.findings if self.is_open(f) and not self.fails(f)]

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
        """Tasks by status, then `findings`: every open finding of the account, one by one (those below
        `fail_on` included); then, when there are any, `info`: the notes (findings of severity info), and
        `waived`: the findings a waiver covers. Neither notes nor waived findings change the exit code."""
        counts = dict.fromkeys(STATUSES, 0)
        for plan in run.task_plans:
            counts[self.task_status(run, plan)] += 1
        counts[FINDINGS] = len(self.open_findings(run))
        notes = sum(1 for f in run.findings if not f.open)
        if notes:
            counts[NOTES] = notes
        waived = len(self.waived_findings(run))
        if waived:
            counts[WAIVED] = waived
        if run.unreachable:
            counts[UNREACHABLE] = 1
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
        findings = any(self.failing_findings(run) for run in self.runs)
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
                for finding, entry in zip(plan.findings, data["findings"], strict=True):
                    waiver = self.waiver_of(finding)
                    if waiver is not None:
                        entry["waived"] = waiver.to_dict()
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
                    **({UNREACHABLE: True} if run.unreachable else {}),
                }
            )
        data: dict[str, Any] = {
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
        if self.fail_on:
            data["fail_on"] = self.fail_on
        return data


FORMATS: dict[str, Callable[[Report], str]] = {}


def formatter(name: str) -> Callable[[Callable[[Report], str]], Callable[[Report], str]]:
    def add(fn: Callable[[Report], str]) -> Callable[[Report], str]:
        FORMATS[name] = fn
        return fn

    return add


def render(report: Report, fmt: str) -> str:
    from remediator.report import formats  # noqa: F401  (registers the formatters)

    return FORMATS[fmt](report)
