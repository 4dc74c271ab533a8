"""The change builder: one module's changes for one account, with addresses made from the resource.

    changes = ChangeBuilder(scope, self.name)
    changes.update(
        name,
        before={"MaxSessionDuration": 43200},
        after={"MaxSessionDuration": 3600},
        calls=(ApiCall("iam", "update_role", {"RoleName": name, "MaxSessionDuration": 3600}),),
        undo=(ApiCall("iam", "update_role", {"RoleName": name, "MaxSessionDuration": 43200}),),
        summary=f"role {name}: MaxSessionDuration 43200 → 3600",
        reason="above the cap of 3600 seconds",
    )

Everything is a keyword, so a change reads as what it is. `before` holds the fields the change compared
(the applier skips the change as stale when any of them moved) and `after` what they become; `calls`
carry only those fields plus the resource's identifiers. `undo=None` says AWS cannot restore `before`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from remediator.model import ApiCall, Change, Finding

Calls = tuple[ApiCall, ...]


@dataclass(frozen=True)
class ChangeBuilder:
    scope: str  # "<account>/global" or "<account>/<region>"
    module: str

    def address(self, resource: str) -> str:
        return f"{self.scope}/{self.module}/{resource}"

    def change(
        self,
        action: str,
        resource: str,
        *,
        before: dict[str, Any] | None,
        after: dict[str, Any] | None,
        calls: Calls,
        undo: Calls | None,
        summary: str,
        reason: str = "",
        creates: str = "",
    ) -> Change:
        return Change(
            address=self.address(resource),
            module=self.module,
            resource=resource,
            action=action,
            before=before,
            after=after,
            calls=tuple(calls),
            undo=None if undo is None else tuple(undo),
            summary=summary,
            reason=reason,
            creates=creates,
        )

    def create(
        self,
        resource: str,
        *,
        after: dict[str, Any],
        calls: Calls,
        undo: Calls | None,
        summary: str,
        reason: str = "",
        creates: str = "",
    ) -> Change:
        return self.change(
            "create", resource, before=None, after=after, calls=calls, undo=undo, summary=summary,
            reason=reason, creates=creates,
        )  # fmt: skip

    def update(
        self,
        resource: str,
        *,
        before: dict[str, Any],
        after: dict[str, Any],
        calls: Calls,
        undo: Calls | None,
        summary: str,
        reason: str = "",
    ) -> Change:
        return self.change(
            "update", resource, before=before, after=after, calls=calls, undo=undo, summary=summary, reason=reason
        )

    def delete(
        self,
        resource: str,
        *,
        before: dict[str, Any],
        calls: Calls,
        undo: Calls | None,
        summary: str,
        reason: str = "",
        after: dict[str, Any] | None = None,
    ) -> Change:
        return self.change(
            "delete", resource, before=before, after=after, calls=calls, undo=undo, summary=summary, reason=reason
        )

    def finding(
        self,
        resource: str,
        severity: str,
        message: str,
        controls: tuple[str, ...] = (),
        *,
        subject: str | None = None,
    ) -> Finding:
        """A finding about `resource` (its address); `subject` names it in reports when that differs (an ARN)."""
        return Finding(self.address(resource), subject or resource, severity, message, tuple(controls))
