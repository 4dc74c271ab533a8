"""Invariants checked on a whole plan before anything is applied. A tripped guard applies nothing."""

from __future__ import annotations

from remediator import admins
from remediator.aws.context import ReadContext
from remediator.aws.reads import authorization_details, login_profile_exists
from remediator.errors import GuardError
from remediator.identity import run_identity
from remediator.keys import QUARANTINE_POLICY
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
    check_own_credentials(run, ctx)
    check_last_admins(run, ctx)
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


# Calls that could take away the credentials a run signs with: a key made inactive or deleted, a user
# deleted, quarantined or stripped of its console password.
CREDENTIAL_CALLS = {
    "update_access_key",
    "delete_access_key",
    "delete_user",
    "put_user_policy",
    "delete_login_profile",
}


def check_own_credentials(run: AccountRun, ctx: ReadContext) -> None:
    """Defence in depth: modules leave the run's own key and user alone; this proves no plan touches them."""
    risky = [(c, call) for c in run.changes for call in c.calls if call.operation in CREDENTIAL_CALLS]
    if not risky:
        return
    own = run_identity(ctx)
    for change, call in risky:
        key, user = call.params.get("AccessKeyId"), call.params.get("UserName")
        if call.operation == "update_access_key" and call.params.get("Status") == "Active":
            continue
        if call.operation == "put_user_policy" and call.params.get("PolicyName") != QUARANTINE_POLICY:
            continue  # an inline policy a task manages on purpose, not a quarantine
        if (key and key in own.key_ids) or (
            own.user_name and user == own.user_name and call.operation != "update_access_key"
        ):
            raise GuardError(
                f"{change.address} would {call.operation.replace('_', ' ')} the run's own credentials"
                f" ({own.arn}); nothing applied"
            )


def check_last_admins(run: AccountRun, ctx: ReadContext) -> None:
    """Never leave fewer administrators who can reset passwords than hard expiry needs: a plan that takes
    full admin rights or the console password from an administrator (a member removed from the admin
    group, an admin user deleted or quarantined, an admin policy detached) is judged on the account as it
    would be after every change of the run, and refused when it lowers the count below the minimum."""
    calls = [call for change in run.changes for call in change.calls]
    if not any(call.operation in admins.ADMIN_CALLS for call in calls):
        return
    before = admins.census(ctx)
    details, no_console = admins.after_calls(authorization_details(ctx), calls)
    console = {a.name for a in before.console_users}

    def has_console(name: str) -> bool:
        if name in no_console:
            return False
        return name in console or login_profile_exists(ctx, name)

    after = admins.census_of(details, has_console)
    left, had = len(after.console_users), len(before.console_users)
    if left >= had or left >= MIN_ADMINS_FOR_HARD_EXPIRY:
        return
    kept = {a.name for a in after.console_users}
    lost = [a.name for a in before.console_users if a.name not in kept]
    users = authorization_details(ctx)["UserDetailList"]
    their_groups = {g for u in users if u["UserName"] in lost for g in u.get("GroupList", [])}
    by = sorted(
        change.address
        for change in run.changes
        if any(
            call.operation in admins.ADMIN_CALLS
            and (call.params.get("UserName") in lost or call.params.get("GroupName") in their_groups)
            for call in change.calls
        )
    )
    names = ", ".join(sorted(kept)) or "none"
    raise GuardError(
        f"the run would leave {left} administrator(s) with console access ({names}), fewer than the"
        f" {MIN_ADMINS_FOR_HARD_EXPIRY} needed so that one can reset another's password; it takes"
        f" {', '.join(lost)} away ({', '.join(by[:5])}); nothing applied"
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
