"""Lint for policy documents: the known traps that IAM accepts silently, or refuses only at write time.

`lint(document, kind, limit=None)` returns `LintIssue`s; kind is `identity` (a managed or inline
identity policy) or `trust` (a role's trust policy). `limit` gives the size context: a number of
characters, or one of the names in `SIZE_LIMITS` (`managed`, `role_inline`, `user_inline`,
`group_inline`, `trust`). Without it, an identity policy is held to the largest identity limit (bigger
than that fits nowhere) and a trust policy to AWS's default trust policy limit.

Severity `error` means AWS refuses the document (or it cannot work as written); `warning` means AWS
accepts it but it probably does not do what its author meant.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from remediator import policydoc

KINDS = ("identity", "trust")
SEVERITIES = ("warning", "error")

# AWS's size limits, in characters of the document's JSON without whitespace.
SIZE_LIMITS = {
    "managed": 6144,
    "role_inline": 10240,  # the total of a role's inline policies
    "user_inline": 2048,  # the total of a user's inline policies
    "group_inline": 5120,  # the total of a group's inline policies
    "trust": 2048,  # a role's trust policy (default quota; can be raised to 4,096)
}
_DEFAULT_LIMIT = {"identity": SIZE_LIMITS["role_inline"], "trust": SIZE_LIMITS["trust"]}

_BASE_OPERATORS = (
    "StringEquals",
    "StringNotEquals",
    "StringEqualsIgnoreCase",
    "StringNotEqualsIgnoreCase",
    "StringLike",
    "StringNotLike",
    "NumericEquals",
    "NumericNotEquals",
    "NumericLessThan",
    "NumericLessThanEquals",
    "NumericGreaterThan",
    "NumericGreaterThanEquals",
    "DateEquals",
    "DateNotEquals",
    "DateLessThan",
    "DateLessThanEquals",
    "DateGreaterThan",
    "DateGreaterThanEquals",
    "Bool",
    "BinaryEquals",
    "IpAddress",
    "NotIpAddress",
    "ArnEquals",
    "ArnLike",
    "ArnNotEquals",
    "ArnNotLike",
)
OPERATORS = frozenset(
    f"{prefix}{base}{suffix}"
    for prefix in ("", "ForAllValues:", "ForAnyValue:")
    for base in _BASE_OPERATORS
    for suffix in ("", "IfExists")
) | {"Null"}
_OPERATORS_FOLDED = {op.lower(): op for op in OPERATORS}

_MFA_PRESENT = "aws:multifactorauthpresent"
_MFA_AGE = "aws:multifactorauthage"
_SOURCE_IP = "aws:sourceip"
_VIA_SERVICE = "aws:viaawsservice"


@dataclass(frozen=True)
class LintIssue:
    code: str
    message: str
    severity: str  # warning | error

    def __str__(self) -> str:
        return f"{self.severity}: {self.code}: {self.message}"


def _conditions(statement: dict[str, Any]) -> list[tuple[str, str, list[Any]]]:
    """(operator, lowercased key, values) for each condition of a statement."""
    condition = statement.get("Condition")
    if not isinstance(condition, dict):
        return []
    found = []
    for operator, block in condition.items():
        if isinstance(block, dict):
            for key, value in block.items():
                found.append((operator, str(key).lower(), policydoc.as_list(value)))
    return found


def _is_false(values: list[Any]) -> bool:
    return bool(values) and all(str(v).lower() == "false" for v in values)


def _label(index: int, statement: dict[str, Any]) -> str:
    sid = statement.get("Sid")
    return f"statement {index + 1}" + (f" ({sid})" if sid else "")


def _statement_issues(index: int, statement: dict[str, Any], kind: str) -> list[LintIssue]:
    where = _label(index, statement)
    issues: list[LintIssue] = []
    effect = statement.get("Effect")
    conditions = _conditions(statement)

    if effect == "Allow" and "NotAction" in statement:
        issues.append(
            LintIssue(
                "allow-not-action",
                f"{where}: Allow with NotAction allows every action not listed, including ones AWS adds later",
                "warning",
            )
        )

    if "Condition" in statement:
        condition = statement["Condition"]
        if not condition or not any(condition.values()):
            issues.append(
                LintIssue(
                    "empty-condition", f"{where}: Condition is empty, so the statement is unconditional", "warning"
                )
            )

    condition = statement.get("Condition")
    for operator in condition if isinstance(condition, dict) else ():
        if operator in OPERATORS:
            continue
        known = _OPERATORS_FOLDED.get(operator.lower())
        if known:
            issues.append(
                LintIssue(
                    "unknown-condition-operator",
                    f"{where}: condition operator {operator!r} is spelled {known!r}",
                    "warning",
                )
            )
        else:
            issues.append(
                LintIssue("unknown-condition-operator", f"{where}: unknown condition operator {operator!r}", "error")
            )

    if effect == "Deny":
        if any(key == _SOURCE_IP for _, key, _ in conditions):
            escaped = any(
                op in ("Bool", "BoolIfExists") and key == _VIA_SERVICE and _is_false(values)
                for op, key, values in conditions
            )
            if not escaped:
                issues.append(
                    LintIssue(
                        "source-ip-without-via-aws-service",
                        f"{where}: denies on aws:SourceIp without a Bool aws:ViaAWSService false condition, "
                        "so it also denies AWS services calling on the principal's behalf",
                        "warning",
                    )
                )
        for op, key, _ in conditions:
            if key == _MFA_PRESENT and op == "Bool":
                issues.append(
                    LintIssue(
                        "mfa-without-if-exists",
                        f"{where}: Deny on Bool aws:MultiFactorAuthPresent never matches requests signed with "
                        "long-term access keys (the key is absent); use BoolIfExists",
                        "warning",
                    )
                )
            elif key == _MFA_AGE and op.startswith("Numeric") and not op.endswith("IfExists"):
                issues.append(
                    LintIssue(
                        "mfa-without-if-exists",
                        f"{where}: Deny on {op} aws:MultiFactorAuthAge never matches requests without MFA "
                        f"(the key is absent); use {op}IfExists",
                        "warning",
                    )
                )

    if kind == "identity":
        for key in ("Principal", "NotPrincipal"):
            if key in statement:
                issues.append(
                    LintIssue(
                        "principal-in-identity-policy",
                        f"{where}: {key} belongs in resource and trust policies; IAM refuses it in an identity policy",
                        "error",
                    )
                )
    elif "Principal" not in statement and "NotPrincipal" not in statement:
        issues.append(
            LintIssue("trust-without-principal", f"{where}: a trust policy statement needs a Principal", "error")
        )
    return issues


def total_size(documents: Iterable[Any]) -> int:
    """The characters AWS counts against an entity's inline policy limit (`SIZE_LIMITS['<kind>_inline']`):
    each document's JSON without whitespace, added up. A document that does not parse counts as its text
    without whitespace, so a broken live document still weighs what it holds."""
    total = 0
    for document in documents:
        try:
            total += policydoc.size(document)
        except (ValueError, TypeError):
            total += len("".join(str(document).split()))
    return total


def size_issue(size: int, limit: int, what: str) -> LintIssue | None:
    """An issue when `size` characters exceed `limit` (for totals over several documents)."""
    if size <= limit:
        return None
    return LintIssue(
        "size-limit", f"{what} is {size:,} characters without whitespace, over AWS's limit of {limit:,}", "error"
    )


def _resolve_limit(kind: str, limit: int | str | None) -> tuple[int, str]:
    if limit is None:
        return _DEFAULT_LIMIT[kind], "the document"
    if isinstance(limit, str):
        if limit not in SIZE_LIMITS:
            raise ValueError(f"unknown size limit {limit!r}: one of {', '.join(SIZE_LIMITS)}, or a number")
        return SIZE_LIMITS[limit], f"the document ({limit.replace('_', ' ')})"
    return int(limit), "the document"


def lint(document: Any, kind: str, limit: int | str | None = None) -> list[LintIssue]:
    """The traps in one policy document; a document that is not a policy gives one `invalid-document` error."""
    if kind not in KINDS:
        raise ValueError(f"unknown policy kind {kind!r}: one of {', '.join(KINDS)}")
    max_size, what = _resolve_limit(kind, limit)
    try:
        doc = policydoc.check(document)
    except ValueError as exc:
        return [LintIssue("invalid-document", str(exc), "error")]
    issues: list[LintIssue] = []
    for index, statement in enumerate(policydoc.as_list(doc["Statement"])):
        issues.extend(_statement_issues(index, statement, kind))
    too_big = size_issue(policydoc.size(doc), max_size, what)
    if too_big:
        issues.append(too_big)
    return issues


def errors(issues: list[LintIssue]) -> list[LintIssue]:
    return [i for i in issues if i.severity == "error"]
