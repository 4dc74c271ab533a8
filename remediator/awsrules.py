"""AWS's own input rules for IAM names, paths, descriptions and tags, checked before any AWS call.

Why here: the emulator the tests run on (moto) does not enforce these rules, and botocore checks only
types and minimum lengths, so a name AWS refuses would pass every test and fail first in a real
account, halfway through a run. Each check is a small pure function that returns None when AWS accepts
the value, else one line saying what AWS allows; modules turn that line into an `ArgError` in
`validate()`.

The rules are those of the IAM API's own model (botocore's `iam/2010-05-08` service model, the same
shapes the IAM API Reference prints): `roleNameType`, `userNameType`, `groupNameType`,
`policyNameType`, `instanceProfileNameType` (`[\\w+=,.@-]+`), `pathType`, `policyPathType`,
`roleDescriptionType`, `policyDescriptionType`, `tagKeyType`, `tagValueType`, `tagListType`.

Two Python traps these checks avoid: `\\w` and `\\d` in `re` match any Unicode letter or digit (AWS's
`\\w` is ASCII: `ポリシー` is not a valid role name), and `$` accepts a trailing newline; so every
pattern here is ASCII and used with `fullmatch`. JSON Schema `pattern` (the jsonschema library uses
`re.search`) has both traps, which is why module schemas do not carry these rules.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

# kind → (what the message calls it, most characters AWS allows)
NAME_LIMITS: dict[str, tuple[str, int]] = {
    "role": ("role", 64),
    "user": ("user", 64),
    "group": ("group", 128),
    "policy": ("managed policy", 128),
    "inline_policy": ("inline policy", 128),
    "instance_profile": ("instance profile", 128),
}
_NAME = re.compile(r"[A-Za-z0-9_+=,.@-]+", re.ASCII)
NAME_CHARACTERS = "ASCII letters, digits and _+=,.@-"

PATH_MAX = 512
_PATH = re.compile(r"/(?:[\x21-\x7e]+/)?", re.ASCII)  # pathType: (\u002F)|(\u002F[\u0021-\u007E]+\u002F)
_POLICY_PATH = re.compile(r"(?:/[A-Za-z0-9.,+@=_-]+)*/", re.ASCII)  # policyPathType (CreatePolicy)

DESCRIPTION_MAX = 1000
_ROLE_DESCRIPTION = re.compile(r"[\t\n\r\x20-\x7e\xa1-\xff]*")  # roleDescriptionType

MAX_TAGS = 50  # tagListType: at most 50 tags per request and per resource
TAG_KEY_MAX, TAG_VALUE_MAX = 128, 256
_TAG_SYMBOLS = frozenset("_.:/=+-@")
TAG_CHARACTERS = "Unicode letters, numbers and spaces, and _.:/=+-@"

# RoleLastUsed: "Activity is only reported for the trailing 400 days" (IAM API Reference, RoleLastUsed).
ROLE_LAST_USED_DAYS = 400

_POLICY_ARN = re.compile(
    r"arn:aws[a-z-]*:iam::(?:aws|[0-9]{12}):policy/(?:[\x21-\x7e]*/)?[A-Za-z0-9_+=,.@-]{1,128}", re.ASCII
)


def _first_bad(value: str, allowed: Any) -> str | None:
    return next((ch for ch in value if not allowed(ch)), None)


def _name_char(ch: str) -> bool:
    return _NAME.fullmatch(ch) is not None


def check_name(kind: str, value: Any) -> str | None:
    """A role, user, group, managed or inline policy, or instance profile name as AWS accepts it."""
    label, limit = NAME_LIMITS[kind]
    rule = f"AWS allows 1–{limit} {NAME_CHARACTERS}"
    if not isinstance(value, str):
        return f"a {label} name must be a string: {rule}"
    if not 1 <= len(value) <= limit:
        return f"{label} name {value!r} is {len(value)} characters long: {rule}"
    bad = _first_bad(value, _name_char)
    if bad is not None:
        return f"{label} name {value!r} contains {bad!r}: {rule}"
    return None


def check_path(value: Any, *, policy: bool = False) -> str | None:
    """A path as CreateRole/CreateUser/CreateGroup (or, with policy=True, CreatePolicy) accepts it."""
    if policy:
        allowed = "'/' alone, or '/'-separated segments of ASCII letters, digits and .,+@=_-"
        pattern = _POLICY_PATH
    else:
        allowed = "'/' alone, or printable ASCII (! to ~) between two slashes"
        pattern = _PATH
    rule = f"a path starts and ends with '/' (e.g. /team/): AWS allows 1–{PATH_MAX} characters, {allowed}"
    if not isinstance(value, str):
        return f"a path must be a string: {rule}"
    if not 1 <= len(value) <= PATH_MAX:
        return f"path is {len(value)} characters long: {rule}"
    if pattern.fullmatch(value) is None:
        return f"path {value!r} is not valid: {rule}"
    return None


def check_description(value: Any, *, kind: str = "role") -> str | None:
    """A role's description (0–1000 characters of tab, LF, CR, printable ASCII and Latin-1) or a managed
    policy's (kind='policy': 0–1000 characters; its API shape has no character rule)."""
    if kind not in ("role", "policy"):
        raise ValueError(f"unknown description kind {kind!r}: role or policy")
    if kind == "role":
        rule = (
            f"AWS allows 0–{DESCRIPTION_MAX} characters: printable ASCII, Latin-1 letters and symbols"
            " (U+00A1–U+00FF), tab, line feed and carriage return"
        )
    else:
        rule = f"AWS allows 0–{DESCRIPTION_MAX} characters"
    if not isinstance(value, str):
        return f"a description must be a string: {rule}"
    if len(value) > DESCRIPTION_MAX:
        return f"description is {len(value)} characters long: {rule}"
    if kind == "role":
        bad = _first_bad(value, lambda ch: _ROLE_DESCRIPTION.fullmatch(ch) is not None)
        if bad is not None:
            return f"description contains {bad!r} (U+{ord(bad):04X}): {rule}"
    return None


def _tag_char(ch: str) -> bool:
    return ch in _TAG_SYMBOLS or unicodedata.category(ch)[0] in "LZN"


def check_tags(tags: Any) -> str | None:
    """Tags as TagRole/CreateRole accept them: at most 50; keys 1–128 and values 0–256 characters of
    Unicode letters (L*), separators (Z*), numbers (N*) and _.:/=+-@; no key beginning with `aws:`."""
    if not isinstance(tags, dict):
        return "tags must be a mapping of key → value"
    if len(tags) > MAX_TAGS:
        return f"{len(tags)} tags: AWS allows at most {MAX_TAGS} tags on a resource"
    for key, value in tags.items():
        if not isinstance(key, str):
            return f"tag key {key!r} must be a string"
        if not 1 <= len(key) <= TAG_KEY_MAX:
            return f"tag key {key!r} is {len(key)} characters long: AWS allows 1–{TAG_KEY_MAX} {TAG_CHARACTERS}"
        if key.casefold().startswith("aws:"):
            return f"tag key {key!r} begins with 'aws:', a prefix AWS reserves for its own tags"
        bad = _first_bad(key, _tag_char)
        if bad is not None:
            return f"tag key {key!r} contains {bad!r}: AWS allows only {TAG_CHARACTERS}"
        if not isinstance(value, str):
            return f"tag {key!r}: the value must be a string"
        if len(value) > TAG_VALUE_MAX:
            return (
                f"tag {key!r}: the value is {len(value)} characters long: AWS allows 0–{TAG_VALUE_MAX} {TAG_CHARACTERS}"
            )
        bad = _first_bad(value, _tag_char)
        if bad is not None:
            return f"tag {key!r}: the value contains {bad!r}: AWS allows only {TAG_CHARACTERS}"
    return None


def check_policy_arn(value: Any) -> str | None:
    """A managed policy's ARN: arn:<partition>:iam::<account id or aws>:policy/[path/]name."""
    rule = "give a managed policy ARN: arn:aws:iam::<12-digit account id or aws>:policy/[path/]name"
    if not isinstance(value, str) or _POLICY_ARN.fullmatch(value) is None:
        return f"{value!r} is not a managed policy ARN: {rule}"
    return None
