"""One error hierarchy, so the CLI can print every failure as one line without a traceback."""

from __future__ import annotations

import re
from typing import Any

ECHO_LIMIT = 80  # characters of a value an error message may quote
MESSAGE_LIMIT = 1000  # characters of one error line: the rest is cut
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def short(value: Any, limit: int = ECHO_LIMIT) -> str:
    """repr(value) cut to about `limit` characters, for quoting a value in an error message.

    A rendered value can be 100 KB, or hold what a template read: an error names it, it does not print
    it whole. An integer too long to print (Python refuses past 4,300 digits) is described instead.
    """
    if isinstance(value, str) and len(value) > limit:
        value = value[: limit + 1]  # repr of the start only: the value may be megabytes
    try:
        text = repr(value)
    except ValueError:
        return f"<an integer of {value.bit_length() if isinstance(value, int) else '?'} bits>"
    except Exception:  # a repr that fails says nothing useful about bad input
        return f"<a {type(value).__name__}>"
    if len(text) <= limit:
        return text
    return text[: max(limit - 1, 1)] + "…"


def one_line(text: Any, limit: int = MESSAGE_LIMIT) -> str:
    """text on one line, control characters escaped, cut to `limit` characters: errors are one line each."""
    flat = re.sub(r"[\t\n\r]+", " ", str(text))
    flat = _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), flat)
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


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
            name = self.file if len(self.file) <= 200 else "…" + self.file[-199:]
            where = name + (f":{self.line}" if self.line else "")
        parts = [where] if where else []
        if self.account:
            parts.append(f"account {short(self.account)}")
        if self.task:
            parts.append(f"task {short(self.task)}")
        if self.field:
            parts.append(f"option {short(self.field)}")
        prefix = ": ".join(parts)
        return one_line(f"{prefix}: {self.message}" if prefix else self.message)


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
