"""Apply a plan: per change, re-read and skip it if stale, journal it, run its calls; then verify.

This is the only place (with rollback) that holds a writable client, and it runs nothing but the
`ApiCall`s a plan carries.
"""

from __future__ import annotations

import time
from typing import Any

from remediator import policydoc, registry
from remediator.aws import retry
from remediator.aws.context import ReadContext
from remediator.aws.session import AccountSession
from remediator.errors import AwsError, RemediatorError
from remediator.journal import Journal
from remediator.model import (
    APPLIED,
    FAILED,
    SKIPPED,
    STALE,
    AccountRun,
    ApiCall,
    ChangeResult,
)
from remediator.planner import replan

# IAM is eventually consistent: a verification that still sees a difference looks again after these
# pauses (a minute in all), the time AWS documents changes may take to be seen everywhere.
VERIFY_PAUSES: tuple[float, ...] = (2.0, 4.0, 8.0, 16.0, 30.0)

# Calls that bring an IAM entity into existence, and the parameter that names it.
CREATE_CALLS = {
    "create_role": ("role", "RoleName"),
    "create_user": ("user", "UserName"),
    "create_group": ("group", "GroupName"),
    "create_instance_profile": ("instance-profile", "InstanceProfileName"),
}
# What AWS answers a call whose work is already done, by the call's verb.
_ALREADY_DONE = {
    "create": "EntityAlreadyExists",
    "delete": "NoSuchEntity",
    "remove": "NoSuchEntity",
    "detach": "NoSuchEntity",
}
# Parameters that name an entity, as Change.creates keys spell them.
ENTITY_PARAMS = {
    "RoleName": "role",
    "UserName": "user",
    "GroupName": "group",
    "InstanceProfileName": "instance-profile",
    "PolicyArn": "policy",
}


def is_stale(live: dict[str, Any] | None, before: dict[str, Any] | None) -> bool:
    """A change is stale when any field it manages differs from its before-image."""
    if before is None or live is None:
        return (before is None) != (live is None)
    return any(not same(live.get(key), value) for key, value in before.items())


def same(live: Any, recorded: Any) -> bool:
    """A managed field as it is and as a plan or journal recorded it. Policy documents are compared by
    meaning, as planning compares them: AWS stores a trust policy's account-id principal as the account's
    root ARN (and a deleted principal as its unique id), so the document read back is not the one written."""
    if live == recorded:
        return True
    if _is_document(live) and _is_document(recorded):
        try:
            return policydoc.equivalent(live, recorded)
        except ValueError:
            return False
    return False


def _is_document(value: Any) -> bool:
    return isinstance(value, dict) and "Statement" in value


def stale_message(live: dict[str, Any] | None, before: dict[str, Any] | None) -> str:
    """Why a change is skipped as stale, naming the fields that moved (values shortened)."""
    if live is None:
        return "the resource no longer exists; skipped"
    if before is None:
        return "the resource exists now, and the plan was made without it; skipped"
    moved = [
        f"{key}: planned {_short(value)}, now {_short(live.get(key))}"
        for key, value in before.items()
        if not same(live.get(key), value)
    ]
    return f"the resource changed since the plan was made ({'; '.join(moved)}); skipped"


def _short(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def named_entities(call: ApiCall) -> set[str]:
    """The IAM entities a call names, as `kind:name` (`policy:ARN` for managed policies)."""
    return {f"{kind}:{call.params[param]}" for param, kind in ENTITY_PARAMS.items() if param in call.params}


def run_calls(
    session: AccountSession, calls: tuple[ApiCall, ...], created: set[str] | None = None, *, settled: bool = False
) -> None:
    """Run the calls in order. A call naming an entity in `created` (made earlier in this run, or by an
    earlier call of the same change) waits out IAM's propagation delay instead of failing on NoSuchEntity.
    With `settled` (undoing a change that stopped part-way), a call whose work is already done goes on:
    a create answered EntityAlreadyExists, a delete, removal or detachment answered NoSuchEntity."""
    created = created if created is not None else set()
    for call in calls:
        client = session.client(call.service, call.region)
        codes = frozenset(call.wait_for)
        if call.service == "iam" and named_entities(call) & created:
            codes |= retry.NOT_YET_VISIBLE
        try:
            if codes:
                client.call_propagating(call.operation, codes, **call.params)
            else:
                client.call(call.operation, **call.params)
        except AwsError as exc:
            if not (settled and exc.code == _ALREADY_DONE.get(call.operation.split("_", 1)[0])):
                raise
        if call.operation in CREATE_CALLS:
            kind, param = CREATE_CALLS[call.operation]
            created.add(f"{kind}:{call.params[param]}")


def apply_account(run: AccountRun, session: AccountSession, journal: Journal | None) -> None:
    """Apply run's changes in order; stop the account at its first failure. Fills run.results."""
    blocked = run.error or next((p.error for p in run.task_plans if p.error), "")
    if blocked:
        run.results += [ChangeResult(c.address, SKIPPED, "not applied: the account's plan failed") for c in run.changes]
        return
    reader = session.reader()

    applied_plans = []
    halted = ""
    created: set[str] = set()  # entities this run has made: calls naming them wait for IAM to propagate
    for plan in run.task_plans:
        if not plan.changes:
            continue
        if halted:
            run.results += [ChangeResult(c.address, SKIPPED, halted) for c in plan.changes]
            continue
        module = registry.get(plan.module)
        try:
            current = module.read(ReadContext(reader), plan.args)
        except RemediatorError as exc:
            halted = f"not applied: an earlier change failed ({exc})"
            run.results += [
                ChangeResult(c.address, FAILED, f"could not re-read before applying: {exc}") for c in plan.changes
            ]
            continue
        for change in plan.changes:
            if halted:
                run.results.append(ChangeResult(change.address, SKIPPED, halted))
                continue
            live = module.resource_state(current, change.resource)
            if is_stale(live, change.before):
                run.results.append(ChangeResult(change.address, STALE, stale_message(live, change.before)))
                continue
            seq = journal.begin(run.account, plan.args, change) if journal else 0
            try:
                run_calls(session, change.calls, created)
            except RemediatorError as exc:
                if journal:
                    journal.end(seq, FAILED, str(exc))
                run.results.append(ChangeResult(change.address, FAILED, str(exc)))
                halted = f"not applied: an earlier change failed ({change.address})"
                continue
            if change.creates:
                created.add(change.creates)
            if journal:
                journal.end(seq, APPLIED)
            run.results.append(ChangeResult(change.address, APPLIED))
        if any(r.status == APPLIED for r in run.results if r.address in {c.address for c in plan.changes}):
            applied_plans.append(plan)
    if applied_plans:
        verify(run, reader, applied_plans)


def verify(run: AccountRun, reader: AccountSession, plans: list[Any]) -> None:
    """Re-read and re-plan the applied tasks; what is left means the account did not converge."""
    try:
        left = replan(reader, plans)
        for pause in VERIFY_PAUSES:
            if not left:
                break
            time.sleep(pause)
            left = replan(reader, plans)
    except RemediatorError as exc:
        run.error = str(exc)
        run.converged = False
        return
    run.leftover = left
    run.converged = not left
