"""Undo a run's applied changes from its journal, newest first, each only if still as the run left it."""

from __future__ import annotations

from dataclasses import dataclass, field

from remediator import journal as journal_mod
from remediator import registry
from remediator.applier import is_stale, run_calls
from remediator.aws.context import ReadContext
from remediator.aws.session import AccountSession
from remediator.errors import RemediatorError
from remediator.journal import Entry, Journal
from remediator.model import APPLIED


@dataclass
class RollbackOutcome:
    lines: list[str] = field(default_factory=list)
    pending: int = 0  # reversible entries still to undo (check mode)
    undone: int = 0
    failed: int = 0

    @property
    def exit_code(self) -> int:
        if self.failed:
            return 1
        return 2 if self.pending else 0


def pending_entries(entries: list[Entry]) -> list[Entry]:
    """Entries whose change was (or may have been) applied and not yet undone, newest first."""
    return [e for e in reversed(entries) if e.status in (APPLIED, "unknown") and not e.undone]


def rollback(path: str, *, check: bool, sessions: dict[str, AccountSession] | None = None) -> RollbackOutcome:
    entries = journal_mod.read(path)
    outcome = RollbackOutcome()
    todo = pending_entries(entries)
    if not todo:
        outcome.lines.append("nothing to undo: every applied change in this journal is already rolled back")
        return outcome
    # Undos are appended to the same journal, so a second rollback has nothing left to do.
    writer = None if check else Journal(path)
    sessions = sessions if sessions is not None else {}
    for entry in todo:
        change = entry.change
        uncertain = " (begun but never recorded as finished)" if entry.status == "unknown" else ""
        if change.undo is None:
            if change.action == "create":  # made by the run and kept on purpose (a trail's bucket holds logs)
                outcome.lines.append(f"left in place: {change.address}: {change.summary}{uncertain}")
            else:
                outcome.lines.append(
                    f"cannot undo: {change.address}: {change.summary} — AWS cannot restore it{uncertain}"
                )
            continue
        calls = ", ".join(str(c) for c in change.undo)
        if check:
            outcome.pending += 1
            outcome.lines.append(f"would undo: {change.address}: {change.summary}{uncertain} [{calls}]")
            continue
        key = entry.account.name
        if key not in sessions:
            sessions[key] = AccountSession(entry.account, read_only=False)
        session = sessions[key]
        try:
            module = registry.get(change.module)
            current = module.read(ReadContext(session.reader()), entry.args)
            live = module.resource_state(current, change.resource)
            if is_stale(live, change.after) and entry.status != "unknown":
                outcome.failed += 1
                outcome.lines.append(f"stale, not undone: {change.address} changed since the run; left as it is")
                continue
            run_calls(session, change.undo)
        except RemediatorError as exc:
            outcome.failed += 1
            outcome.lines.append(f"failed to undo {change.address}: {exc}")
            continue
        assert writer is not None
        writer.undone(entry.run_id, entry.seq)
        outcome.undone += 1
        outcome.lines.append(f"undone: {change.address}: restored the state before '{change.summary}'")
    return outcome
