"""One pipeline for `run` and `apply PLAN`: reach → plan → guards → journal → apply → verify.

`run` goes through every step; `apply PLAN` starts from a saved plan and goes through the rest from
reach on, so a plan made by one identity is judged again with the credentials that apply it (their own
key and user, the administrators they leave, `--max-changes`). The CLI only parses arguments, calls
one of the two entry points, and prints the Report.

Accounts run `forks` at a time, in threads: each has its own session (one AssumeRole, credentials that
refresh themselves), its own rate limit, and what they all share lives in one `Hub` per run (the base
session, the STS budget). `Events` hears how the run goes: an account started, an account finished
(its result is final: the CLI streams it), a throttle.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from remediator import guards
from remediator.applier import apply_account, verify
from remediator.aws.context import ReadContext
from remediator.aws.session import AccountSession, Hub
from remediator.errors import GuardError, RemediatorError
from remediator.journal import Journal
from remediator.model import APPLIED, Account, AccountRun, TaskPlan
from remediator.planner import fail_account, plan_account, plan_task, reach
from remediator.report import Report


@dataclass(frozen=True)
class Options:
    check: bool = False
    forks: int = 5
    max_changes: int | None = None
    journal: str | None = None
    diff: bool = False


class Events:
    """What a run tells about itself as it goes (the CLI's live progress and streamed results). Called
    from worker threads: implementations lock what they share."""

    def phase(self, name: str, total: int) -> None:
        """A phase (`planning`, `applying`, `reaching`) starts, over `total` accounts."""

    def started(self, account: Account) -> None:
        """An account is being worked on."""

    def done(self, account: Account) -> None:
        """An account is through the current phase."""

    def finished(self, report: Report, run: AccountRun) -> None:
        """An account's result is final: nothing later in the run changes it."""

    def throttled(self, account: Account, total: int) -> None:
        """AWS throttled a call of the account; `total` throttles in the run so far."""


def run_playbook(
    accounts: list[Account],
    task_plans: dict[str, list[TaskPlan]],
    options: Options,
    *,
    warnings: list[str] | None = None,
    before_apply: Callable[[Report], None] | None = None,
    events: Events | None = None,
) -> Report:
    """Plan the prepared tasks for every account, check the guards, and apply unless in check mode.

    `before_apply` sees the planned report before anything is written (the CLI saves --plan-out there).
    """
    events = events or Events()
    started = time.monotonic()
    hub = Hub()
    sessions = {a.name: AccountSession(a, read_only=options.check, hub=hub) for a in accounts}
    report = Report("check" if options.check else "apply", [], diff=options.diff, warnings=list(warnings or []))
    timings: dict[tuple[str, int | None], float] = {}
    watch = _ThrottleWatch(sessions, events)

    def plan_one(account: Account) -> AccountRun:
        events.started(account)
        began = time.monotonic()
        run = plan_account(account, task_plans.get(account.name, []), sessions[account.name], timings)
        timings[(account.name, None)] = time.monotonic() - began
        watch.check(account)
        events.done(account)
        if options.check or not run.changes:
            events.finished(report, run)  # nothing later changes it: a check, or nothing to apply
        return run

    events.phase("planning", len(accounts))
    report.runs = _each(plan_one, accounts, options.forks)
    _record_timings(report, timings)
    _check_run(report, options.max_changes)
    try:
        if before_apply is not None:
            before_apply(report)
        if not options.check and not report.error:
            _apply(report, sessions, options, events, watch)
    finally:
        if not options.check:
            for run in report.runs:  # not applied after all (a guard of the whole run tripped)
                if run.changes and not run.results:
                    events.finished(report, run)
        _record_elapsed(report, started)
    return report


def apply_plan(runs: list[AccountRun], options: Options, *, events: Events | None = None) -> Report:
    """Apply a saved plan: reach each account and judge the guards again with the applying credentials."""
    events = events or Events()
    started = time.monotonic()
    hub = Hub()
    sessions = {run.account.name: AccountSession(run.account, read_only=False, hub=hub) for run in runs}
    report = Report("apply", runs, diff=options.diff)
    watch = _ThrottleWatch(sessions, events)

    def prepare_one(run: AccountRun) -> None:
        events.started(run.account)
        try:
            _prepare_apply(run, sessions[run.account.name])
        finally:
            events.done(run.account)

    _check_run(report, options.max_changes)  # needs no call: judged before any account is reached
    if not report.error:
        events.phase("reaching", len(runs))
        _each(prepare_one, runs, options.forks)
    try:
        if not report.error:
            _apply(report, sessions, options, events, watch)
    finally:
        for run in report.runs:
            if not run.changes or not run.results:
                events.finished(report, run)
        _record_elapsed(report, started)
    return report


def _prepare_apply(run: AccountRun, session: AccountSession) -> None:
    if run.error:
        return
    try:
        reader = reach(session)
    except RemediatorError as exc:
        fail_account(run, str(exc))
        return
    try:
        guards.check_account(run, ReadContext(reader))
    except GuardError as exc:
        run.error = str(exc)
    except RemediatorError as exc:
        run.error = f"could not check the guards: {exc}"


@dataclass
class Reached:
    """One account of a preflight: who the run would act as there, or why it cannot get in."""

    account: Account
    arn: str = ""
    error: str = ""

    @property
    def ok(self) -> bool:
        return not self.error


def preflight(accounts: list[Account], forks: int, *, events: Events | None = None) -> list[Reached]:
    """Reach every account the way a run would (assume its role), then make one call with its credentials
    (GetCallerIdentity), and nothing else: no read, no plan, no write. Unreachable accounts carry the
    error STS or the endpoint gave."""
    events = events or Events()
    hub = Hub()
    sessions = {a.name: AccountSession(a, read_only=True, hub=hub) for a in accounts}
    watch = _ThrottleWatch(sessions, events)

    def one(account: Account) -> Reached:
        events.started(account)
        try:
            reader = reach(sessions[account.name], confirm=True)
            reached = Reached(account, arn=str(reader.identity().get("Arn", "")))
        except RemediatorError as exc:
            reached = Reached(account, error=str(exc))
        watch.check(account)
        events.done(account)
        return reached

    events.phase("reaching", len(accounts))
    return _each(one, accounts, forks)


def _check_run(report: Report, max_changes: int | None) -> None:
    try:
        guards.check_run(report.runs, max_changes)
    except GuardError as exc:
        report.error = str(exc)


def _apply(
    report: Report, sessions: dict[str, AccountSession], options: Options, events: Events, watch: _ThrottleWatch
) -> None:
    pending = [run for run in report.runs if run.changes]
    if not pending:
        return
    path = Path(options.journal) if options.journal else default_journal_path()
    journal = Journal(path)
    report.journal = str(path)

    def apply_one(run: AccountRun) -> None:
        events.started(run.account)
        session = sessions[run.account.name]
        apply_account(run, session, journal)
        if session.expired_writes:
            replan_expired(run, session, journal)
        watch.check(run.account)
        events.done(run.account)
        events.finished(report, run)

    events.phase("applying", len(pending))
    _each(apply_one, pending, options.forks)


def replan_expired(run: AccountRun, session: AccountSession, journal: Journal | None) -> None:
    """Writes AWS refused because the temporary credentials had expired changed nothing, and the
    credentials are fresh now (see AccountSession). The tasks whose changes did not all apply are read
    and planned again, judged by the guards again, and what is still to do is applied, once; then the
    account is verified again. A write is never repeated blindly from a plan made before the refusal."""
    session.expired_writes = 0
    applied = {r.address for r in run.results if r.status == APPLIED}
    pending = [p for p in run.task_plans if any(c.address not in applied for c in p.changes)]
    if not pending:
        return
    reader = session.reader()
    ctx = ReadContext(reader)
    fresh: list[tuple[TaskPlan, TaskPlan]] = []
    for plan in pending:
        probe = TaskPlan(plan.account, plan.task, plan.module, plan.location, plan.args, max_changes=plan.max_changes)
        plan_task(ctx, probe)
        if probe.error:
            return  # the refusal stands as the task's failure; nothing more is tried
        fresh.append((plan, probe))
    again = AccountRun(run.account, task_plans=[probe for _, probe in fresh])
    try:
        guards.check_account(again, ctx)
    except RemediatorError as exc:
        run.error = f"planned again after the credentials expired: {exc}"
        return
    not_applied = {c.address for plan in pending for c in plan.changes if c.address not in applied}
    run.results = [r for r in run.results if r.address not in not_applied]
    for plan, probe in fresh:
        plan.changes = [c for c in plan.changes if c.address in applied] + probe.changes
    apply_account(again, session, journal)
    run.results += again.results
    done = {r.address for r in run.results if r.status == APPLIED}
    verify(run, reader, [p for p in run.task_plans if any(c.address in done for c in p.changes)])


class _ThrottleWatch:
    """Tells `events` of the throttles the accounts' rate limits have seen, as they add up."""

    def __init__(self, sessions: dict[str, AccountSession], events: Events) -> None:
        self.sessions = sessions
        self.events = events
        self.seen: dict[str, int] = {}
        self._lock = threading.Lock()

    def check(self, account: Account) -> None:
        session = self.sessions.get(account.name)
        if session is None:
            return
        with self._lock:
            count = session.limiter.throttles
            if count <= self.seen.get(account.name, 0):
                return
            self.seen[account.name] = count
            total = sum(self.seen.values())
        self.events.throttled(account, total)


def _record_timings(report: Report, timings: dict[tuple[str, int | None], float]) -> None:
    if isinstance(getattr(report, "timings", None), dict):
        report.timings.update(timings)  # type: ignore[attr-defined]


def _record_elapsed(report: Report, started: float) -> None:
    if hasattr(report, "elapsed"):
        report.elapsed = time.monotonic() - started  # type: ignore[attr-defined]


def default_journal_path() -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    return Path(".remediator") / "journal" / f"{stamp}.jsonl"


def _each(fn: Callable[[Any], Any], items: list[Any], forks: int) -> list[Any]:
    """fn over items, `forks` at a time; results in the items' order. A bug in one account's work fails
    the run as before (the exception propagates), after the other accounts have finished."""
    if not items:
        return []
    with ThreadPoolExecutor(max_workers=max(1, min(forks, len(items)))) as pool:
        futures = {pool.submit(fn, item): i for i, item in enumerate(items)}
        results: list[Any] = [None] * len(items)
        for future in as_completed(futures):
            results[futures[future]] = future.result()
        return results
