"""Policy documents: parse them in any form AWS or a user gives, and compare them by meaning.

`normalize` gives a canonical form in which two documents that mean the same to IAM are equal:

- a dict, a JSON string, or IAM's URL-encoded JSON (what GetRolePolicy and friends return);
- `Statement` as one object or a list, in any order, with duplicates collapsed;
- a single string or a list, in any order, for `Action`, `NotAction`, `Resource`, `NotResource`,
  `Principal`/`NotPrincipal` values and `Condition` values;
- whitespace; a missing `Version` (IAM reads it as 2012-10-17);
- action names in any case (`S3:GetObject` is `s3:getobject`), condition keys in any case;
- `"Principal": "*"` is `{"AWS": "*"}`, and an account id as AWS principal is that account's root ARN
  (IAM stores it that way);
- condition values `true` and `"true"`, `10` and `"10"` (IAM compares them as strings).

`Sid` stays significant. Resource ARNs and condition values keep their case: IAM compares those
case-sensitively.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from typing import Any

ADMIN_POLICY_ARN_SUFFIX = ":iam::aws:policy/AdministratorAccess"
DEFAULT_VERSION = "2012-10-17"
VERSIONS = ("2012-10-17", "2008-10-17")
EFFECTS = ("Allow", "Deny")

_ACCOUNT_ID = re.compile(r"[0-9]{12}")
_LIST_KEYS = ("Action", "NotAction", "Resource", "NotResource")
_PRINCIPAL_KEYS = ("Principal", "NotPrincipal")


def parse(document: Any) -> dict[str, Any]:
    """A policy as a dict, from a dict, a JSON string, or IAM's URL-encoded JSON."""
    if isinstance(document, dict):
        return document
    if isinstance(document, str):
        text = document.strip()
        if text[:1] != "{" and "%" in text:
            text = urllib.parse.unquote(text).strip()
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"a policy document must be valid JSON: {exc.msg} at line {exc.lineno}") from None
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


def check(document: Any) -> dict[str, Any]:
    """The parsed document, or ValueError (one line) when it is not a policy document."""
    doc = parse(document)
    if "Statement" not in doc:
        raise ValueError("not a policy document: it has no 'Statement'")
    version = doc.get("Version", DEFAULT_VERSION)
    if version not in VERSIONS:
        raise ValueError(f"not a policy document: Version {version!r} is not one of {', '.join(VERSIONS)}")
    raw = doc["Statement"]
    items = as_list(raw)
    if not items:
        raise ValueError("not a policy document: 'Statement' is empty")
    for index, statement in enumerate(items):
        where = f"statement {index + 1}" if isinstance(raw, list) else "the statement"
        if not isinstance(statement, dict):
            raise ValueError(f"not a policy document: {where} is a {type(statement).__name__}, not an object")
        if statement.get("Effect") not in EFFECTS:
            raise ValueError(f"not a policy document: {where} has Effect {statement.get('Effect')!r}, not Allow/Deny")
        if ("Action" in statement) == ("NotAction" in statement):
            raise ValueError(f"not a policy document: {where} needs exactly one of Action and NotAction")
        condition = statement.get("Condition")
        if condition is not None and not isinstance(condition, dict):
            raise ValueError(f"not a policy document: {where} has a Condition that is not an object")
        for operator, block in (condition or {}).items():
            if not isinstance(block, dict):
                raise ValueError(f"not a policy document: {where}: Condition {operator!r} is not an object")
    return doc


def _scalar(value: Any) -> str:
    """IAM compares condition values as strings: true is "true", 10 is "10"."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True)
    return str(value)


def _values(value: Any, fold: bool = False) -> list[Any]:
    items = {(_scalar(v).lower() if fold else _scalar(v)) for v in as_list(value)}
    return sorted(items)


def _principal(value: Any) -> dict[str, list[str]]:
    if value == "*":
        return {"AWS": ["*"]}
    if not isinstance(value, dict):
        raise ValueError(f"not a policy document: Principal {value!r} is neither '*' nor an object")
    result: dict[str, list[str]] = {}
    for kind, ids in sorted(value.items()):
        names = _values(ids)
        if kind == "AWS":
            names = sorted({f"arn:aws:iam::{n}:root" if _ACCOUNT_ID.fullmatch(n) else n for n in names})
        result[kind] = names
    return result


def _condition(condition: dict[str, Any]) -> dict[str, dict[str, list[str]]]:
    result: dict[str, dict[str, list[str]]] = {}
    for operator, block in condition.items():
        merged = result.setdefault(operator, {})
        for key, value in block.items():
            key = key.lower()  # condition key names are case-insensitive
            merged[key] = sorted(set(merged.get(key, [])) | set(_values(value)))
    return {op: dict(sorted(keys.items())) for op, keys in sorted(result.items()) if keys}


def _statement(statement: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in statement.items():
        if key in ("Action", "NotAction"):
            result[key] = _values(value, fold=True)
        elif key in ("Resource", "NotResource"):
            result[key] = _values(value)
        elif key in _PRINCIPAL_KEYS:
            result[key] = _principal(value)
        elif key == "Condition":
            condition = _condition(value or {})
            if condition:  # an empty Condition constrains nothing
                result[key] = condition
        elif key == "Sid":
            if value not in (None, ""):
                result[key] = value
        else:
            result[key] = value
    return dict(sorted(result.items()))


def _key(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def normalize(document: Any) -> dict[str, Any]:
    """The canonical form of a policy document (see the module docstring); ValueError if it is not one."""
    doc = check(document)
    result = {k: v for k, v in doc.items() if k != "Statement"}
    result["Version"] = doc.get("Version", DEFAULT_VERSION)
    unique = {_key(s): s for s in (_statement(s) for s in as_list(doc["Statement"]))}
    result["Statement"] = [unique[k] for k in sorted(unique)]
    return dict(sorted(result.items()))


def equivalent(a: Any, b: Any) -> bool:
    """True when two policy documents mean the same to IAM."""
    return normalize(a) == normalize(b)


def canonical_json(document: Any) -> str:
    """The normalised document as compact JSON with sorted keys: a stable fingerprint."""
    return json.dumps(normalize(document), sort_keys=True, separators=(",", ":"))


def size(document: Any) -> int:
    """The characters AWS counts against its policy size limits: the JSON without whitespace."""
    return len(json.dumps(parse(document), separators=(",", ":"), ensure_ascii=False))
