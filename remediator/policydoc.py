"""Policy documents: parse them in any form AWS or a user gives, and compare them by meaning."""

from __future__ import annotations

import json
import urllib.parse
from typing import Any

ADMIN_POLICY_ARN_SUFFIX = ":iam::aws:policy/AdministratorAccess"


def parse(document: Any) -> dict[str, Any]:
    """A policy as a dict, from a dict, a JSON string, or IAM's URL-encoded JSON."""
    if isinstance(document, dict):
        return document
    if isinstance(document, str):
        text = document.strip()
        if text.startswith("%7B") or text.startswith("%7b"):
            text = urllib.parse.unquote(text)
        value = json.loads(text)
        if not isinstance(value, dict):
            raise ValueError("a policy document must be a JSON object")
        return value
    raise ValueError(f"a policy document must be a mapping or a JSON string, not {type(document).__name__}")


def as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def statements(document: Any) -> list[dict[str, Any]]:
    return [s for s in as_list(parse(document).get("Statement")) if isinstance(s, dict)]


def _everything(statement: dict[str, Any], effect: str) -> bool:
    return (
        statement.get("Effect") == effect
        and not statement.get("Condition")
        and "NotAction" not in statement
        and "NotResource" not in statement
        and any(a in ("*", "*:*") for a in as_list(statement.get("Action")))
        and "*" in as_list(statement.get("Resource"))
    )


def allows_full_admin(document: Any) -> bool:
    """True when a statement allows every action on every resource with no condition."""
    return any(_everything(s, "Allow") for s in statements(document))


def denies_everything(document: Any) -> bool:
    """True when a statement denies every action on every resource with no condition."""
    return any(_everything(s, "Deny") for s in statements(document))


def is_aws_admin_policy(arn: str) -> bool:
    return arn.endswith(ADMIN_POLICY_ARN_SUFFIX)


def normalize(document: Any) -> Any:
    """A canonical form: Statement always a list, single values as lists, lists sorted, Sid dropped."""

    def norm(value: Any, key: str = "") -> Any:
        if isinstance(value, dict):
            return {k: norm(v, k) for k, v in sorted(value.items()) if k != "Sid"}
        if isinstance(value, list):
            items = [norm(v) for v in value]
            return sorted(items, key=lambda v: json.dumps(v, sort_keys=True))
        if key in _ALWAYS_LISTS:
            return [value]
        return value

    doc = parse(document)
    result = {k: v for k, v in doc.items() if k != "Statement"}
    result.setdefault("Version", "2012-10-17")
    result["Statement"] = norm(as_list(doc.get("Statement")))
    return norm(result)


_ALWAYS_LISTS = frozenset({"Action", "NotAction", "Resource", "NotResource"})


def equivalent(a: Any, b: Any) -> bool:
    return normalize(a) == normalize(b)
