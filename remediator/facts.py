"""Typed facts: what modules read, as frozen types with one reader each.

A fact type names its fields once, with the key each has in JSON (plan cases, plan files, journals):

    @dataclass(frozen=True)
    class Role(Fact):
        name: str = field(metadata=key("RoleName"))
        max_session_duration: int = field(metadata=key("MaxSessionDuration"))
        ...

`Role.from_json(data)` refuses unknown or missing keys, so a plan case cannot drift from what the reader
returns; `role.to_json()` is the resource's live state (`resource_state`), and `role.image("Field", ...)`
is a change's before-image built from the same fields, so the staleness check compares exactly what the
change compared, under the same names. Readers build facts from AWS's answers in one place (for roles:
`roles.read_roles`), and modules never see AWS's raw shapes.

A field holding facts names their type, `field(metadata=key("Keys", of=AccessKey))`: `from_json` builds
that type from the field's JSON (a list of objects becomes a tuple of facts, one object one fact, with the
same refusals), and `to_json` writes nested facts back in their JSON form.
"""

from __future__ import annotations

from dataclasses import MISSING, dataclass, fields
from typing import Any, Self


def key(json_key: str, *, of: type[Fact] | None = None) -> dict[str, Any]:
    """Field metadata: the field's key in JSON, and (`of`) the fact type of the facts it holds, if any."""
    return {"json": json_key} if of is None else {"json": json_key, "of": of}


def _json_keys(cls: type) -> dict[str, str]:
    return {f.metadata.get("json", f.name): f.name for f in fields(cls)}


@dataclass(frozen=True)
class Fact:
    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Self:
        """Build from the JSON form; unknown keys and missing required ones are errors."""
        keys = _json_keys(cls)
        unknown = sorted(set(data) - set(keys))
        if unknown:
            raise ValueError(f"{cls.__name__}: unknown keys {unknown} (known: {sorted(keys)})")
        required = {
            f.metadata.get("json", f.name)
            for f in fields(cls)
            if f.default is MISSING and f.default_factory is MISSING  # type: ignore[misc]
        }
        missing = sorted(required - set(data))
        if missing:
            raise ValueError(f"{cls.__name__}: missing keys {missing}")
        types = {f.name: f.metadata.get("of") for f in fields(cls)}
        values: dict[str, Any] = {}
        for json_key, value in data.items():
            name = keys[json_key]
            values[name] = _frozen(value) if types[name] is None else _nested(types[name], value)
        return cls(**values)

    def to_json(self) -> dict[str, Any]:
        """Every field, under its JSON key, as JSON-ready values (a copy)."""
        return {f.metadata.get("json", f.name): _thawed(getattr(self, f.name)) for f in fields(self)}

    def value(self, json_key: str) -> Any:
        """One field by its JSON key (for modules that map task options to AWS field names)."""
        return self.image(json_key)[json_key]

    def image(self, *json_keys: str) -> dict[str, Any]:
        """A before-image: the named fields only, as `to_json` spells them. An unknown name is a bug."""
        state = self.to_json()
        unknown = [k for k in json_keys if k not in state]
        if unknown:
            raise KeyError(f"{type(self).__name__} has no field {unknown}")
        return {k: state[k] for k in json_keys}


def _nested(of: type[Fact], value: Any) -> Any:
    """A field's JSON built as facts of type `of`: a list as a tuple of them, an object as one (None stays)."""
    if isinstance(value, list | tuple):
        return tuple(of.from_json(v) for v in value)
    if isinstance(value, dict):
        return of.from_json(value)
    return value


def _frozen(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def _thawed(value: Any) -> Any:
    if isinstance(value, Fact):
        return value.to_json()
    if isinstance(value, tuple):
        return [_thawed(v) for v in value]
    if isinstance(value, dict):
        return {k: _thawed(v) for k, v in value.items()}
    return value
