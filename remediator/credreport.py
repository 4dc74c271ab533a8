"""The IAM credential report: one bulk read of every user's password, MFA and access-key facts.

AWS builds the report asynchronously (GenerateCredentialReport answers STARTED, then COMPLETE;
GetCredentialReport answers ReportInProgress meanwhile) and serves a cached copy for up to four hours.
So it is good for finding candidates in bulk, not for deciding: modules confirm a candidate with live
per-key reads (ListAccessKeys, GetAccessKeyLastUsed) before they change anything.
"""

from __future__ import annotations

import csv
import io
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from remediator.aws.context import ReadContext
from remediator.errors import AwsError, RemediatorError
from remediator.timeutil import parse_time

ROOT = "<root_account>"
# Pauses between polls while AWS builds the report (seconds); bounded, then a clear error.
POLL_PAUSES: tuple[float, ...] = (1, 2, 2, 4, 4, 8, 8, 10, 10, 10)
_PENDING_CODES = ("ReportInProgress", "ReportNotPresent", "ReportExpired")
_NO_VALUE = ("", "N/A", "no_information", "not_supported")


@dataclass(frozen=True)
class KeyRow:
    """One access-key slot (1 or 2) of a user's row: present when it was ever rotated."""

    slot: int
    active: bool
    last_rotated: datetime | None
    last_used: datetime | None
    last_used_region: str | None
    last_used_service: str | None


@dataclass(frozen=True)
class UserRow:
    user: str
    arn: str
    created: datetime | None
    password_enabled: bool | None  # None for the root user: AWS says not_supported
    password_last_used: datetime | None
    password_last_changed: datetime | None
    mfa_active: bool
    keys: tuple[KeyRow, ...]

    @property
    def is_root(self) -> bool:
        return self.user == ROOT

    @property
    def active_keys(self) -> tuple[KeyRow, ...]:
        return tuple(k for k in self.keys if k.active)


def _time(value: str | None) -> datetime | None:
    if value is None or value.strip() in _NO_VALUE:
        return None
    return parse_time(value.strip())


def _text(value: str | None) -> str | None:
    return None if value is None or value.strip() in _NO_VALUE else value.strip()


def _flag(value: str | None) -> bool | None:
    if value is None or value.strip() in _NO_VALUE:
        return None
    return value.strip().lower() == "true"


def parse(content: str | bytes) -> list[UserRow]:
    """Rows of the report's CSV, the `<root_account>` row included when AWS sends one."""
    text = content.decode("utf-8") if isinstance(content, bytes) else content
    rows = []
    for raw in csv.DictReader(io.StringIO(text)):
        keys = []
        for slot in (1, 2):
            rotated = _time(raw.get(f"access_key_{slot}_last_rotated"))
            active = bool(_flag(raw.get(f"access_key_{slot}_active")))
            if rotated is None and not active:
                continue
            keys.append(
                KeyRow(
                    slot,
                    active,
                    rotated,
                    _time(raw.get(f"access_key_{slot}_last_used_date")),
                    _text(raw.get(f"access_key_{slot}_last_used_region")),
                    _text(raw.get(f"access_key_{slot}_last_used_service")),
                )
            )
        rows.append(
            UserRow(
                user=raw["user"],
                arn=raw.get("arn", ""),
                created=_time(raw.get("user_creation_time")),
                password_enabled=_flag(raw.get("password_enabled")),
                password_last_used=_time(raw.get("password_last_used")),
                password_last_changed=_time(raw.get("password_last_changed")),
                mfa_active=bool(_flag(raw.get("mfa_active"))),
                keys=tuple(keys),
            )
        )
    return rows


def credential_report(ctx: ReadContext) -> list[UserRow]:
    """Generate (or reuse AWS's cached) report, wait while it is built, and parse it; once per context."""

    def load(ctx: ReadContext) -> list[UserRow]:
        iam = ctx.client("iam")
        for pause in (*POLL_PAUSES, None):
            state = iam.call("generate_credential_report").get("State")
            if state == "COMPLETE":
                try:
                    return parse(iam.call("get_credential_report")["Content"])
                except AwsError as exc:
                    if exc.code not in _PENDING_CODES:
                        raise
            if pause is None:
                break
            time.sleep(pause)
        raise RemediatorError(
            f"the IAM credential report was still being built after {sum(POLL_PAUSES):.0f} seconds; try again shortly"
        )

    return ctx.fact("credential_report", load)


def rows_by_user(rows: list[UserRow]) -> dict[str, UserRow]:
    return {row.user: row for row in rows}


def as_dict(row: UserRow) -> dict[str, Any]:
    """JSON-friendly form, for evidence in findings and changes."""
    from dataclasses import asdict

    from remediator.timeutil import iso

    def clean(value: Any) -> Any:
        if isinstance(value, datetime):
            return iso(value)
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [clean(v) for v in value]
        return value

    return clean(asdict(row))
