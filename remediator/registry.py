"""Module registry: a name → class map filled by a decorator (Cloud Custodian's pattern).

The playbook schema, `remediator doc` and `remediator permissions` are all generated from what the
registered modules declare, so they can never drift from the code.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass, field
from typing import Any, ClassVar

from remediator.model import Change, Finding

# The blast radius of a destructive sweep that sets no max_changes of its own.
DESTRUCTIVE_MAX_CHANGES = 25


@dataclass(frozen=True)
class Document:
    """A policy document a task carries, for the lint: the option it came from and how AWS judges it."""

    option: str
    document: Any
    kind: str  # identity | trust
    limit: str | int | None = None  # a policylint.SIZE_LIMITS name, or characters


@dataclass
class PlanResult:
    changes: list[Change] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    noop_reason: str = ""


class Module:
    """A module reads one kind of state and plans the changes that bring it to the task's args.

    It never writes: `read` gets read-only clients, `plan` is pure, and the applier runs the
    `ApiCall`s the plan returns.
    """

    name: ClassVar[str]
    summary: ClassVar[str] = ""
    args_schema: ClassVar[dict[str, Any]] = {}
    permissions: ClassVar[dict[str, list[str]]] = {"read": [], "write": []}
    example: ClassVar[str] = ""
    global_service: ClassVar[bool] = True
    # Sweep actions that disable or delete: a task using one gets max_changes 25 unless it sets its own.
    destructive_actions: ClassVar[tuple[str, ...]] = ()

    def validate(self, args: dict[str, Any]) -> None:
        """Cross-field and AWS-documented checks the schema cannot express; raise ArgError."""

    def write_permissions(self, args: dict[str, Any]) -> list[str]:
        """The write actions a task with these options can make, for `remediator permissions`.

        `args` may still hold templates (the command renders nothing): a module that narrows the list
        looks only at literal values (`literal()`), and grants every write when it cannot tell.
        """
        return list(self.permissions.get("write", []))

    def resources(self, args: dict[str, Any]) -> dict[str, list[str]]:
        """Actions a task with these options needs on named resources only (action → ARNs), so that
        `remediator permissions` can scope them. Only from literal options; an action left out, or a
        template, gets Resource "*"."""
        return {}

    def default_max_changes(self, args: dict[str, Any]) -> int | None:
        """The blast radius a task gets when it sets no max_changes: a sweep whose `action` is one of its
        `destructive_actions` stops above DESTRUCTIVE_MAX_CHANGES."""
        return DESTRUCTIVE_MAX_CHANGES if args.get("action") in self.destructive_actions else None

    def documents(self, args: dict[str, Any]) -> list[Document]:
        """The policy documents in these (rendered) args, linted before any AWS call."""
        return []

    def read(self, ctx: Any, args: dict[str, Any]) -> Any:
        """Read the current state the plan needs, through ctx's read-only clients and shared facts."""
        raise NotImplementedError

    def plan(self, args: dict[str, Any], current: Any, scope: str) -> PlanResult:
        """Pure: the changes and findings that bring `current` to `args`. `scope` prefixes addresses."""
        raise NotImplementedError

    def load_current(self, data: Any) -> Any:
        """A plan case's `current` (JSON) as `read` returns it: modules whose facts are typed build them here
        (`Role.from_json`), so a case cannot hold a shape the reader never returns."""
        return data

    def resource_state(self, current: Any, resource: str) -> dict[str, Any] | None:
        """The live fields of one resource, compared with a change's before-image to detect staleness."""
        raise NotImplementedError

    def check_change(self, args: dict[str, Any], change: Change) -> str | None:
        """Why `change`, read from a plan file, is not one this module plans for a task with `args`; None
        when nothing here says so. Pure: `apply` asks before its first call.

        The plan-file reader has already checked what holds for every module (the calls are among
        `write_permissions(args)` with parameters AWS's model accepts, the address is this task's, a create
        has no before-image and anything else has one). A module whose changes follow from the args and
        the before-image alone says here exactly what they must be (`iam_password_policy` plans again from
        the before-image and compares); the default adds nothing.
        """
        return None


def literal(args: dict[str, Any], option: str, default: Any = None) -> Any:
    """An option's value when it is known before rendering; None when it is a template."""
    value = args.get(option, default)
    return None if isinstance(value, str) and ("{{" in value or "{%" in value) else value


_REGISTRY: dict[str, type[Module]] = {}
_LOADED = False


def register(cls: type[Module]) -> type[Module]:
    """Class decorator: make a module available to playbooks under its `name`."""
    if cls.name in _REGISTRY and _REGISTRY[cls.name] is not cls:
        raise ValueError(f"module {cls.name!r} registered twice")
    _REGISTRY[cls.name] = cls
    return cls


def _load_all() -> None:
    global _LOADED
    if _LOADED:
        return
    import remediator.modules as pkg

    for info in pkgutil.iter_modules(pkg.__path__):
        importlib.import_module(f"{pkg.__name__}.{info.name}")
    _LOADED = True


def names() -> list[str]:
    _load_all()
    return sorted(_REGISTRY)


def get(name: str) -> Module:
    _load_all()
    return _REGISTRY[name]()


def has(name: str) -> bool:
    _load_all()
    return name in _REGISTRY


def each() -> list[Module]:
    return [get(n) for n in names()]
