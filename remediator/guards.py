"""Invariants checked on a whole plan before anything is applied. A tripped guard applies nothing."""

from __future__ import annotations

from remediator import admins
from remediator.aws.context import ReadContext
from remediator.errors import GuardError
from remediator.model import AccountRun

MIN_ADMINS_FOR_HARD_EXPIRY = 2


def check_account(run: AccountRun, ctx: ReadContext) -> None:
    """Raise GuardError when this account's plan must not be applied."""
    for plan in run.task_plans:
        if plan.max_changes is not None and len(plan.changes) > plan.max_changes:
            raise GuardError(
                f"task {plan.task!r} would make {len(plan.changes)} changes, more than its max_changes"
                f" of {plan.max_changes}; nothing applied"
            )
    if _turns_on_hard_expiry(run):
        census = admins.census(ctx)
        count = len(census.console_users)
        if count < MIN_ADMINS_FOR_HARD_EXPIRY:
            names = ", ".join(a.name for a in census.console_users) or "none"
            raise GuardError(
                f"hard_expiry refused: only {count} administrator(s) with console access could reset expired"
                f" passwords ({names}); at least {MIN_ADMINS_FOR_HARD_EXPIRY} are needed, or everyone may be"
                " locked out"
            )


def check_run(runs: list[AccountRun], max_changes: int | None) -> None:
    """--max-changes: the blast radius of the whole run, across accounts."""
    if max_changes is None:
        return
    total = sum(len(run.changes) for run in runs)
    if total > max_changes:
        raise GuardError(f"the run would make {total} changes, more than --max-changes {max_changes}; nothing applied")


def _turns_on_hard_expiry(run: AccountRun) -> bool:
    for change in run.changes:
        turns_on = bool((change.after or {}).get("HardExpiry")) and not (change.before or {}).get("HardExpiry")
        if change.module == "iam_password_policy" and turns_on:
            return True
    return False
