"""iam_root_account: check only. The root user has MFA, has no access keys, and is not in daily use.

No API call can fix any of these (only the root user can add its MFA device or delete its keys), so the
module reports findings, mapped to CIS:

- `require_mfa` (default true): GetAccountSummary `AccountMFAEnabled` is 1 (CIS v3.0 1.5, v5.0 1.4).
- `forbid_access_keys` (default true): GetAccountSummary `AccountAccessKeysPresent` is 0 (CIS v3.0 1.4,
  v5.0 1.3).
- `max_days_since_use` (off unless given): the credential report's `<root_account>` row shows no password
  sign-in and no access-key use within that many days (CIS v3.0 1.7, v5.0 1.6: root is not for daily
  tasks). Real AWS always sends that row; the emulator sends none, which the plan says and does not
  count as a finding.

`read` returns the facts and the moment of reading (`now`), so `plan` stays pure and tests fix time.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from remediator import controls, credreport, timeutil
from remediator.aws.context import ReadContext
from remediator.changes import ChangeBuilder
from remediator.errors import ArgError, AwsError
from remediator.model import Finding
from remediator.registry import Module, PlanResult, register
from remediator.timeutil import parse_time

MFA_CONTROLS = controls.of("root_mfa")
ACCESS_KEY_CONTROLS = controls.of("root_access_keys")
USE_CONTROLS = controls.of("root_use")
SUMMARY_KEYS = ("AccountMFAEnabled", "AccountAccessKeysPresent")
RULES = ("require_mfa", "forbid_access_keys", "max_days_since_use")
RESOURCE = "root"  # the address suffix: one resource, the account's root user


def _on(args: dict[str, Any], rule: str) -> bool:
    if rule == "max_days_since_use":
        return args.get(rule) is not None
    return args.get(rule, True) is not False


def _ago(days: int) -> str:
    return "today" if days == 0 else "1 day ago" if days == 1 else f"{days} days ago"


def _day(value: datetime) -> str:
    return value.date().isoformat()


def root_uses(row: dict[str, Any]) -> list[tuple[datetime, str]]:
    """Each recorded use of the root user in its credential-report row: (when, how), latest first."""
    uses: list[tuple[datetime, str]] = []
    if row.get("password_last_used"):
        uses.append((parse_time(row["password_last_used"]), "password sign-in"))
    for key in row.get("keys") or []:
        if key.get("last_used"):
            service = f", {key['last_used_service']}" if key.get("last_used_service") else ""
            uses.append((parse_time(key["last_used"]), f"access key {key['slot']}{service}"))
    return sorted(uses, key=lambda use: use[0], reverse=True)


def _key_evidence(row: dict[str, Any] | None) -> str:
    if not row:
        return ""
    parts = []
    for key in row.get("keys") or []:
        state = "active" if key.get("active") else "inactive"
        used = f"last used {key['last_used'][:10]}" if key.get("last_used") else "never used"
        parts.append(f"key {key['slot']} {state}, {used}")
    return "".join(f"; {part}" for part in parts)


@register
class RootAccount(Module):
    name = "iam_root_account"
    summary = "Check only: root user MFA, root access keys, and recent root use (CIS 1.4, 1.5, 1.7)."
    args_schema = {
        "properties": {
            "require_mfa": {
                "type": "boolean",
                "description": "report a root user without MFA (default true)",
            },
            "forbid_access_keys": {
                "type": "boolean",
                "description": "report root access keys (default true)",
            },
            "max_days_since_use": {
                "type": "integer",
                "minimum": 1,
                "description": "report root password or key use within this many days (default: not checked)",
            },
        },
    }
    permissions = {
        "read": ["iam:GetAccountSummary", "iam:GenerateCredentialReport", "iam:GetCredentialReport"],
        "write": [],
    }
    example = """\
- name: Root has MFA, no access keys, and no use in the last 90 days (CIS 1.4, 1.5, 1.7)
  iam_root_account:
    require_mfa: true
    forbid_access_keys: true
    max_days_since_use: 90
"""

    def validate(self, args: dict[str, Any]) -> None:
        if not any(_on(args, rule) for rule in RULES):
            raise ArgError(
                None, "every rule is off: turn on require_mfa or forbid_access_keys, or give max_days_since_use"
            )

    def read(self, ctx: ReadContext, args: dict[str, Any]) -> dict[str, Any]:
        current: dict[str, Any] = {"now": timeutil.now().isoformat(), "summary": None, "root": None}
        if _on(args, "require_mfa") or _on(args, "forbid_access_keys"):
            summary = ctx.client("iam").call("get_account_summary").get("SummaryMap", {})
            current["summary"] = {key: summary.get(key) for key in SUMMARY_KEYS}
        if _on(args, "max_days_since_use"):
            rows = [row for row in credreport.credential_report(ctx) if row.is_root]
            current["root"] = credreport.as_dict(rows[0]) if rows else None
        current["account_id"] = self._account_id(ctx, current["root"])
        return current

    @staticmethod
    def _account_id(ctx: ReadContext, root: dict[str, Any] | None) -> str | None:
        if ctx.account.account_id:
            return ctx.account.account_id
        parts = str((root or {}).get("arn", "")).split(":")
        if len(parts) > 4 and parts[4]:
            return parts[4]
        try:
            return str(ctx.session.identity().get("Account") or "") or None
        except AwsError:
            return None

    def resource_state(self, current: Any, resource: str) -> dict[str, Any] | None:
        return None  # check only: there are no changes to go stale

    def plan(self, args: dict[str, Any], current: dict[str, Any], scope: str) -> PlanResult:
        address = ChangeBuilder(scope, self.name).address(RESOURCE)
        account = current.get("account_id")
        resource = f"arn:aws:iam::{account}:root" if account else "root user"
        summary = current.get("summary") or {}
        root = current.get("root")
        findings: list[Finding] = []
        fine: list[str] = []

        if _on(args, "require_mfa"):
            value = summary.get("AccountMFAEnabled")
            if value is None:
                fine.append("root MFA not checked: GetAccountSummary has no AccountMFAEnabled")
            elif value != 1:
                findings.append(
                    Finding(
                        address,
                        resource,
                        "critical",
                        f"the root user has no MFA device (GetAccountSummary AccountMFAEnabled = {value}); only the"
                        " root user can add one: sign in as root and assign a hardware or virtual MFA device",
                        MFA_CONTROLS,
                    )
                )
            else:
                fine.append("root MFA enabled")

        if _on(args, "forbid_access_keys"):
            value = summary.get("AccountAccessKeysPresent")
            if value is None:
                fine.append("root access keys not checked: GetAccountSummary has no AccountAccessKeysPresent")
            elif value != 0:
                findings.append(
                    Finding(
                        address,
                        resource,
                        "critical",
                        f"the root user has access keys (GetAccountSummary AccountAccessKeysPresent = {value}"
                        f"{_key_evidence(root)}); only the root user can delete them: sign in as root and delete"
                        " them under Security credentials",
                        ACCESS_KEY_CONTROLS,
                    )
                )
            else:
                fine.append("no root access keys")

        days = args.get("max_days_since_use")
        if days is not None:
            finding, note = self._recent_use(current, address, resource, days)
            if finding:
                findings.append(finding)
            if note:
                fine.append(note)

        return PlanResult(findings=findings, noop_reason="; ".join(fine))

    @staticmethod
    def _recent_use(current: dict[str, Any], address: str, resource: str, days: int) -> tuple[Finding | None, str]:
        root = current.get("root")
        if root is None:
            return None, (
                f"root use not checked (max_days_since_use {days}): the credential report has no"
                f" {credreport.ROOT} row (real AWS always sends one; the emulator does not)"
            )
        now = parse_time(current["now"])
        uses = root_uses(root)
        if not uses:
            return None, "no recorded root use (no password sign-in, no access-key use)"
        when, how = uses[0]
        ago = (now - when).days
        if now - when < timedelta(days=days):
            also = "".join(f"; {h} {_day(w)}" for w, h in uses[1:] if now - w < timedelta(days=days))
            return (
                Finding(
                    address,
                    resource,
                    "high",
                    f"the root user was used {_ago(ago)} ({how} {_day(when)}{also}), within max_days_since_use"
                    f" {days}: keep root for the few tasks that need it and use IAM users or roles day to day",
                    USE_CONTROLS,
                ),
                "",
            )
        return None, f"root last used {_ago(ago)} ({how} {_day(when)}), not within {days} days"
