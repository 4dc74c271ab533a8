"""One error hierarchy, so the CLI can print every failure as one line without a traceback."""

from __future__ import annotations

import re


class RemediatorError(Exception):
    """Base of every error remediator reports to the user."""


class ConfigError(RemediatorError):
    """Bad input: a playbook, inventory, variable, template, plan file or journal.

    Carries where it happened so the user can go straight to the line.
    """

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        task: str | None = None,
        field: str | None = None,
        account: str | None = None,
    ) -> None:
        self.message = message
        self.file = file
        self.line = line
        self.task = task
        self.field = field
        self.account = account
        super().__init__(str(self))

    def __str__(self) -> str:
        where = ""
        if self.file:
            where = self.file + (f":{self.line}" if self.line else "")
        parts = [where] if where else []
        if self.account:
            parts.append(f"account {self.account!r}")
        if self.task:
            parts.append(f"task {self.task!r}")
        if self.field:
            parts.append(f"option {self.field!r}")
        prefix = ": ".join(parts)
        return f"{prefix}: {self.message}" if prefix else self.message


class ArgError(ValueError):
    """Raised by a module's validate(); the loader adds the file, line and task."""

    def __init__(self, field: str | None, message: str) -> None:
        self.field = field
        self.message = message
        super().__init__(message)


class AwsError(RemediatorError):
    """An AWS call failed after retries: 'failed to <verb phrase>: <Code>: <Message>'."""

    def __init__(self, operation: str, code: str, message: str) -> None:
        self.operation = operation
        self.code = code
        self.aws_message = message
        super().__init__(f"failed to {verb_phrase(operation)}: {code}: {message}")


class CheckModeViolation(RemediatorError):
    """A mutating call reached a read-only client: a bug, stopped before it could write."""


class GuardError(RemediatorError):
    """A safety guard tripped: nothing is applied for the account."""


class TaskFailed(RemediatorError):
    """A module refused the task (weakening without allow_weaken, a missing required field…)."""


def verb_phrase(operation: str) -> str:
    """'update_account_password_policy' or 'UpdateAccountPasswordPolicy' → 'update account password policy'."""
    if "_" in operation or operation.islower():
        return operation.replace("_", " ")
    words = re.findall(r"[A-Z]+(?=[A-Z][a-z]|$)|[A-Z][a-z]*|[a-z]+|\d+", operation)
    return " ".join(w if w.isupper() and len(w) > 1 else w.lower() for w in words)
