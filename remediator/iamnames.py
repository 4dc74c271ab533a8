"""IAM names: compared without regard to case, kept as AWS spells them. Pure.

IAM refuses a second role, user, group or policy whose name differs from one that exists only in case
(`Ops` and `ops` are one group), but returns every name as it was created. So a task's name finds its
entity by the exact spelling first, else by a spelling that differs only in case; and a change names the
entity as AWS spells it. Every reader and module that looks a name up does it here, so no two of them can
disagree about which entity a name means. `NAME_PARAMS` is the one table of the parameter that carries
each kind's name in IAM's API.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from operator import attrgetter
from typing import TypeVar

T = TypeVar("T")
# entity kind → the parameter that names it in IAM's API (TagRole's RoleName, AddUserToGroup's UserName…)
NAME_PARAMS = {"role": "RoleName", "user": "UserName", "group": "GroupName"}


def same_name(a: str | None, b: str | None) -> bool:
    """IAM names are compared without regard to case (`Alice` and `alice` are one user)."""
    return a is not None and b is not None and a.casefold() == b.casefold()


def folded(names: Iterable[str]) -> set[str]:
    """The names as IAM compares them, for membership tests."""
    return {n.casefold() for n in names}


def distinct(names: Iterable[str]) -> list[str]:
    """Names in order, each once without regard to case (the first spelling wins)."""
    seen: dict[str, str] = {}
    for name in names:
        seen.setdefault(name.casefold(), name)
    return list(seen.values())


def find(items: Iterable[T], name: str, key: Callable[[T], str] = attrgetter("name")) -> T | None:
    """The item called `name` (its name given by `key`, by default its `name` attribute): the one spelled
    exactly so, else one whose name differs only in case."""
    listed = list(items)
    exact = next((i for i in listed if key(i) == name), None)
    return exact if exact is not None else next((i for i in listed if same_name(key(i), name)), None)
