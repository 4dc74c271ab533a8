"""Undo a run's applied changes from its journal, newest first, each only if still as the run left it.

Nothing in the journal is trusted unchecked. `journal.read` checks it whole before anything else (a bad
journal is one error, and no call is made). Then every account an undo would write to is reached by its
whole connection (account id, region, endpoint, profile, role) and must prove to be the account its entries
name, before the first write: two inventories may both call different accounts `acc`.

Each task's state is read once (per module, connection and args), not once per change: after an undo, its
resource is as the change's before-image says, and the next change of that resource is judged against
that; an undo may also move what other tasks read on that account, so those are read again when needed.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from remediator import externalids, registry
from remediator import journal as journal_mod
from remediator.applier import is_stale, run_calls
from remediator.aws.context import ReadContext
from remediator.aws.session import AccountSession, Hub
from remediator.errors import RemediatorError
from remediator.journal import Entry, Journal
from remediator.model import FAILED, Account
from remediator.planner import REACH_POLICY


@dataclass(frozen=True)
class Line:
    """One line of a rollback's output; `error` lines are problems (the CLI puts them on stderr)."""

    text: str
    error: bool = False


@dataclass
class RollbackOutcome:
    messages: list[Line] = field(default_factory=list)
    pending: int = 0  # reversible entries still to undo (check mode)
    undone: int = 0
    failed: int = 0

    @property
    def lines(self) -> list[str]:
        """Every line, in order."""
        return [m.text for m in self.messages]

    @property
    def errors(self) -> list[str]:
        """The problems only: a change left as it is, an undo that failed, an account not reached."""
        return [m.text for m in self.messages if m.error]

    def info(self, text: str) -> None:
        self.messages.append(Line(text))

    def error(self, text: str) -> None:
        self.messages.append(Line(text, error=True))

    @property
    def exit_code(self) -> int:
        if self.failed:
            return 1
        return 2 if self.pending else 0


def pending_entries(entries: list[Entry]) -> list[Entry]:
    """Entries whose change was (or may have been) applied and not yet undone, newest first."""
    return [e for e in reversed(entries) if e.pending]


def connection_key(account: Account) -> tuple[Any, ...]:
    """Where calls go and as whom. The account's name is not part of it: it is only the inventory's word."""
    return (
        account.account_id,
        account.region,
        account.endpoint_url,
        account.profile,
        account.role_arn,
        account.external_id,
        account.session_name,
    )


def rollback(
    path: str,
    *,
    check: bool,
    sessions: dict[tuple[Any, ...], AccountSession] | None = None,
    inventory_accounts: Callable[[], list[Account]] | None = None,
) -> RollbackOutcome:
    """Undo the journal's pending changes, newest first; `sessions` (keyed by connection_key) may hold
    sessions to use, which are proven to reach their account like any other. `inventory_accounts` gives
    the inventory's accounts (`-i`): the external ids the journal refers to come from there."""
    entries = journal_mod.read(path)
    outcome = RollbackOutcome()
    todo = pending_entries(entries)
    if not todo:
        outcome.info("nothing to undo: every applied change in this journal is already rolled back")
        return outcome
    if not check:  # a check makes no call: it needs no secret
        resolve = externalids.resolver([e.account for e in todo], inventory_accounts, path)
        for entry in todo:
            entry.account = resolve(entry.account)
    sessions = sessions if sessions is not None else {}
    if not check and not _reach(todo, sessions, outcome):
        outcome.error("nothing was undone: every account the journal names must be reached first")
        return outcome
    undo = _Undo(path, check, sessions, outcome)
    for entry in todo:
        undo.one(entry)
    return outcome


def _reach(todo: list[Entry], sessions: dict[tuple[Any, ...], AccountSession], outcome: RollbackOutcome) -> bool:
    """Open a session per connection that an undo writes to, and prove each reaches the account its entries
    name (journal.read made sure each names one) — all before the first write."""
    hub = Hub()
    reached = True
    proven: set[tuple[Any, ...]] = set()
    for entry in todo:
        key = connection_key(entry.account)
        if entry.change.undo is None or key in proven:
            continue
        proven.add(key)
        session = sessions.setdefault(key, AccountSession(entry.account, read_only=False, hub=hub))
        problem = _prove(session, entry.account)
        if problem:
            outcome.failed += 1
            outcome.error(problem)
            reached = False
    return reached


def _prove(session: AccountSession, account: Account) -> str:
    """'' when the credentials reach the account the journal names, else why not (one line)."""
    where = f"account {account.name!r} ({account.account_id}" + (
        f" at {account.endpoint_url})" if account.endpoint_url else ")"
    )
    try:
        found = session.reader().identity(REACH_POLICY).get("Account")
    except RemediatorError as exc:
        return f"cannot reach {where}: {exc}"
    if found != account.account_id:
        return (
            f"cannot roll back {where}: the credentials reach account {found}, not {account.account_id} as the"
            " journal says"
        )
    return ""


class _Undo:
    """Undoes entries one at a time, newest first, keeping what it knows of each task's resources."""

    def __init__(
        self, path: str, check: bool, sessions: dict[tuple[Any, ...], AccountSession], outcome: RollbackOutcome
    ) -> None:
        self.path = path
        self.check = check
        self.sessions = sessions
        self.outcome = outcome
        self.states = _States()
        self.writer: Journal | None = None  # opened at the first undo: undos are appended to the same journal

    def one(self, entry: Entry) -> None:
        change, outcome = entry.change, self.outcome
        uncertain = {"unknown": " (begun but never recorded as finished)", FAILED: " (failed part-way)"}.get(
            entry.status, ""
        )
        if change.undo is None:
            if change.action == "create":  # made by the run and kept on purpose (a trail's bucket holds logs)
                outcome.info(f"left in place: {change.address}: {change.summary}{uncertain}")
            else:
                outcome.error(f"cannot undo: {change.address}: {change.summary} — AWS cannot restore it{uncertain}")
            return
        if self.check:
            outcome.pending += 1
            calls = ", ".join(str(c) for c in change.undo)
            outcome.info(f"would undo: {change.address}: {change.summary}{uncertain} [{calls}]")
            return
        session = self.sessions[connection_key(entry.account)]
        try:
            live = self.states.live(entry, session)
            if entry.partial and not is_stale(live, change.before):
                self._record(entry)
                outcome.info(f"nothing to undo: {change.address}: {change.summary} changed nothing{uncertain}")
                return
            if is_stale(live, change.after) and not entry.partial:
                outcome.failed += 1
                outcome.error(f"stale, not undone: {change.address} changed since the run; left as it is")
                return
            # A change that stopped between its calls is undone call by call: an undo call finding its
            # work already done (the entity its create makes exists, the one its delete removes is gone)
            # goes on to the next.
            run_calls(session, change.undo, settled=entry.partial)
        except RemediatorError as exc:
            self.states.forget(entry)  # an undo that failed half-way leaves its resource unknown: read it again
            outcome.failed += 1
            outcome.error(f"failed to undo {change.address}: {exc}")
            return
        self.states.undone(entry, live)
        self._record(entry)
        outcome.undone += 1
        outcome.info(f"undone: {change.address}: restored the state before '{change.summary}'")

    def _record(self, entry: Entry) -> None:
        """The entry is done with: a second rollback leaves it alone."""
        if self.writer is None:
            self.writer = Journal(Path(self.path))
        self.writer.undone(entry.run_id, entry.seq)


class _States:
    """The live state of the journal's resources: each task read once (per module, connection and args);
    a resource undone since is as its change's before-image says, without reading it again."""

    def __init__(self) -> None:
        self._reads: dict[tuple[Any, ...], Any] = {}
        self._known: dict[tuple[Any, ...], dict[str, Any] | None] = {}

    @staticmethod
    def _task(entry: Entry) -> tuple[Any, ...]:
        args = json.dumps(entry.args, sort_keys=True, default=str)
        return (entry.change.module, connection_key(entry.account), args)

    def live(self, entry: Entry, session: AccountSession) -> dict[str, Any] | None:
        task = self._task(entry)
        resource = (task, entry.change.resource)
        if resource in self._known:
            return self._known[resource]
        module = registry.get(entry.change.module)
        if task not in self._reads:
            self._reads[task] = module.read(ReadContext(session.reader()), entry.args)
        return module.resource_state(self._reads[task], entry.change.resource)

    def undone(self, entry: Entry, live: dict[str, Any] | None) -> None:
        """After its undo the resource's fields are the before-image's (no resource: none). Every other
        task read on the account may have moved with it: those are read again when next needed."""
        task = self._task(entry)
        self._drop(entry.account.account_id, keep=task)
        before = entry.change.before
        self._known[(task, entry.change.resource)] = None if before is None else {**(live or {}), **before}

    def forget(self, entry: Entry) -> None:
        self._drop(entry.account.account_id, keep=None)

    def _drop(self, account_id: str | None, keep: tuple[Any, ...] | None) -> None:
        def moved(task: tuple[Any, ...]) -> bool:
            return task != keep and task[1][0] == account_id

        self._reads = {t: r for t, r in self._reads.items() if not moved(t)}
        self._known = {k: s for k, s in self._known.items() if not moved(k[0])}
