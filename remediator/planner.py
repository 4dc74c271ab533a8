"""Read → pure plan, per account, for the prepared tasks. Reads only, through read-only clients."""

from __future__ import annotations

import logging
import time
from dataclasses import replace

from remediator import guards, registry
from remediator.aws.context import ReadContext
from remediator.aws.retry import RetryPolicy
from remediator.aws.session import AccountSession
from remediator.errors import GuardError, RemediatorError
from remediator.model import Account, AccountRun, Change, TaskPlan

log = logging.getLogger("remediator.planner")


def scope_of(account: Account, module_global: bool = True) -> str:
    return f"{account.name}/global" if module_global else f"{account.name}/{account.region}"


def plan_task(ctx: ReadContext, plan: TaskPlan) -> None:
    """Fill plan.changes/findings/noop_reason, or plan.error when the module refuses."""
    module = registry.get(plan.module)
    try:
        current = module.read(ctx, plan.args)
        result = module.plan(plan.args, current, scope_of(ctx.account, module.global_service))
    except RemediatorError as exc:
        plan.error = str(exc)
        return
    plan.changes, plan.findings, plan.noop_reason = result.changes, result.findings, result.noop_reason


# Reaching an account is one GetCallerIdentity with few retries: a dead endpoint or missing credentials
# fail the account within the minute, instead of each task retrying on its own.
REACH_POLICY = RetryPolicy(attempts=2, base_delay=1.0, max_delay=5.0, total_seconds=20.0)


# An account's error starts with this when the account could not be reached at all (its role could not
# be assumed, its endpoint did not answer, its credentials are for another account): the account's own
# status, `unreachable`, never a pass. The text survives plan files and results, so merged shards keep it.
UNREACHABLE = "cannot reach the account"


def reach(session: AccountSession, *, confirm: bool = False) -> AccountSession:
    """The account's read-only session, once the account has proven that it answers, with credentials
    for the account the inventory names: AssumeRole's answer for a role, else one GetCallerIdentity
    (always, with `confirm`: the preflight)."""
    try:
        reader = session.reader()
        reader.verify_account(REACH_POLICY, confirm=confirm)
    except RemediatorError as exc:
        raise RemediatorError(f"{UNREACHABLE}: {exc}")
    return reader


def proven(account: Account, reader: AccountSession) -> Account:
    """The account with the id its credentials were proven to reach. An inventory may leave account_id out;
    the plan file and the journal then record the id found (reaching the account asked who the credentials
    are), so that `apply` and `rollback` write to that account and to no other."""
    if account.account_id:
        return account  # reaching the account proved the credentials are for it
    try:
        found = reader.identity().get("Account")
    except RemediatorError:
        return account
    return replace(account, account_id=found) if isinstance(found, str) and found else account


def is_unreachable(run: AccountRun) -> bool:
    return run.unreachable or run.error.startswith(UNREACHABLE)


def fail_account(run: AccountRun, reason: str) -> None:
    """An account that cannot be reached: its error, and every task it would have run marked failed."""
    run.error = reason
    run.unreachable = True
    for plan in run.task_plans:
        if not plan.skipped and not plan.error:
            plan.error = "not run: the account could not be reached"


def plan_account(
    account: Account,
    plans: list[TaskPlan],
    session: AccountSession,
    timings: dict[tuple[str, int | None], float] | None = None,
) -> AccountRun:
    """Reach the account, plan its tasks with read-only clients, and check the guards on the whole plan.

    `timings` (when given) gets the seconds each task's planning took, keyed (account, task index)."""
    run = AccountRun(account=account, task_plans=plans)
    try:
        reader = reach(session)
    except RemediatorError as exc:
        fail_account(run, str(exc))
        return run
    run.account = proven(account, reader)
    ctx = ReadContext(reader)
    for index, plan in enumerate(plans):
        if not plan.skipped:
            started = time.monotonic()
            plan_task(ctx, plan)
            if timings is not None:
                timings[(account.name, index)] = time.monotonic() - started
            ctx.planned.update(c.creates for c in plan.changes if c.creates)
    if not any(p.error for p in plans):
        try:
            guards.check_account(run, ctx)
        except GuardError as exc:
            run.error = str(exc)
        except RemediatorError as exc:
            run.error = f"could not check the guards: {exc}"
    return run


def replan(session: AccountSession, plans: list[TaskPlan]) -> list[Change]:
    """Fresh reads and plans of the given tasks: what is still left to change (empty = converged)."""
    ctx = ReadContext(session)
    left: list[Change] = []
    for original in plans:
        probe = TaskPlan(original.account, original.task, original.module, original.location, original.args)
        plan_task(ctx, probe)
        if probe.error:
            raise RemediatorError(f"task {original.task!r}: verification failed: {probe.error}")
        left.extend(probe.changes)
    return left
