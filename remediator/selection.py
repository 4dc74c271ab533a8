"""include/exclude globs of the sweep modules: one rule for all of them.

IAM names are case-insensitive, so globs are too. A resource with a path can be matched by its name,
its path, or path + name (`/ci/*` picks every role or user under /ci/).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Sequence
from typing import Any


def options(what: str) -> dict[str, Any]:
    """The `include` / `exclude` options of a sweep's schema; `what` says what the globs match."""
    return {
        "include": {"type": "array", "items": {"type": "string"}, "description": f"{what} globs to sweep"},
        "exclude": {"type": "array", "items": {"type": "string"}, "description": f"{what} globs to skip"},
    }


def picks(args: dict[str, Any], name: str, path: str | None = None) -> bool:
    """Whether a task's include/exclude select the resource `name` (at `path`, for users and roles)."""
    return selected(subjects(name, path), args.get("include"), args.get("exclude"))


def subjects(name: str, path: str | None = None) -> list[str]:
    """What a glob may match: the name alone, or also the path and path + name."""
    return [name] if path is None else [name, path, path + name]


def matches(names: Iterable[str], patterns: Iterable[str]) -> bool:
    folded = [n.casefold() for n in names]
    return any(fnmatch.fnmatchcase(n, p.casefold()) for p in patterns for n in folded)


def selected(names: Sequence[str], include: Iterable[str] | None, exclude: Iterable[str] | None) -> bool:
    """In when some include glob matches (or there is none), and no exclude glob does."""
    include, exclude = list(include or []), list(exclude or [])
    if include and not matches(names, include):
        return False
    return not matches(names, exclude)
