"""JSON Schemas generated from the module registry: per-module option checks and the playbook schema."""

from __future__ import annotations

import copy
import difflib
from typing import Any

import jsonschema

from remediator import registry

TASK_KEYS = ("name", "when", "loop", "tags", "max_changes", "lint")
PLAY_KEYS = ("name", "accounts", "hosts", "vars", "vars_files", "tasks")
TEMPLATE_STRING = {"type": "string", "pattern": "{{|{%"}

# JSON Schema counts 14.0 as an integer; AWS's integer parameters do not, so neither do module options.
_Validator = jsonschema.validators.extend(
    jsonschema.Draft202012Validator,
    type_checker=jsonschema.Draft202012Validator.TYPE_CHECKER.redefine(
        "integer", lambda _checker, value: isinstance(value, int) and not isinstance(value, bool)
    ),
)


def allow_templates(schema: dict[str, Any]) -> dict[str, Any]:
    """A copy of schema where any non-string value may also be a Jinja2 template string."""
    schema = copy.deepcopy(schema)

    def walk(node: dict[str, Any]) -> dict[str, Any]:
        for key in ("properties", "patternProperties"):
            for name, sub in node.get(key, {}).items():
                node[key][name] = walk(sub)
        if isinstance(node.get("items"), dict):
            node["items"] = walk(node["items"])
        if isinstance(node.get("additionalProperties"), dict):
            node["additionalProperties"] = walk(node["additionalProperties"])
        if node.get("type") == "string" and "enum" not in node:
            return node
        return {"anyOf": [node, TEMPLATE_STRING]}

    return walk(schema)


def module_schema(name: str) -> dict[str, Any]:
    module = registry.get(name)
    return {"type": "object", "additionalProperties": False, **module.args_schema}


def check_args(name: str, args: dict[str, Any], *, rendered: bool) -> list[tuple[str | None, str]]:
    """(option, message) for each schema violation; before rendering, template strings are let through."""
    from remediator.templating import is_template

    schema = module_schema(name)
    validator = _Validator(schema)
    problems: list[tuple[str | None, str]] = []
    known = set(schema.get("properties", {}))
    for key in args:
        if key not in known:
            hint = difflib.get_close_matches(str(key), sorted(known), n=1)
            extra = f"; did you mean {hint[0]!r}?" if hint else f" (known: {', '.join(sorted(known))})"
            problems.append((str(key), f"unknown option for {name}{extra}"))
    for error in sorted(validator.iter_errors(args), key=lambda e: list(map(str, e.absolute_path))):
        if error.validator == "additionalProperties" and not error.absolute_path:
            continue  # reported above, with the list of known options
        if not rendered and _under_template(args, list(error.absolute_path), is_template):
            continue
        field = ".".join(str(p) for p in error.absolute_path) or None
        problems.append((field, _message(error)))
    return problems


def _under_template(args: Any, path: list[Any], is_template: Any) -> bool:
    node = args
    if is_template(node):
        return True
    for step in path:
        try:
            node = node[step]
        except (KeyError, IndexError, TypeError):
            return False
        if is_template(node):
            return True
    return False


def _message(error: jsonschema.ValidationError) -> str:
    value = error.instance
    schema = error.schema if isinstance(error.schema, dict) else {}
    if error.validator == "type":
        return f"expected {error.validator_value}, got {type(value).__name__} {value!r}"
    if error.validator in ("minimum", "maximum"):
        low, high = schema.get("minimum"), schema.get("maximum")
        if low is not None and high is not None:
            return f"{value!r} is out of range: must be between {low} and {high}"
        bound = "at least" if error.validator == "minimum" else "at most"
        return f"{value!r} is out of range: must be {bound} {error.validator_value}"
    if error.validator == "enum":
        return f"{value!r} is not one of: {', '.join(map(str, error.validator_value))}"
    return error.message


def playbook_schema() -> dict[str, Any]:
    """The JSON Schema of a playbook file, for editors and for `remediator schema`."""
    task_common = {
        "name": {"type": "string"},
        "when": {"anyOf": [{"type": "string"}, {"type": "boolean"}, {"type": "array", "items": {"type": "string"}}]},
        "loop": {"anyOf": [{"type": "array"}, {"type": "string"}]},
        "tags": {"anyOf": [{"type": "array", "items": {"type": "string"}}, {"type": "string"}]},
        "max_changes": {"anyOf": [{"type": "integer", "minimum": 0}, TEMPLATE_STRING]},
        "lint": {"enum": ["warn", "error"]},
    }
    module_tasks = []
    for name in registry.names():
        args = allow_templates(module_schema(name))
        module_tasks.append(
            {
                "type": "object",
                "properties": {**task_common, name: args},
                "required": [name],
                "additionalProperties": False,
            }
        )
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "remediator playbook",
        "type": "array",
        "items": {
            "type": "object",
            "properties": {
                "name": {"type": "string"},
                "accounts": {"type": "string"},
                "hosts": {"type": "string"},
                "vars": {"type": "object"},
                "vars_files": {"type": "array", "items": {"type": "string"}},
                "tasks": {"type": "array", "items": {"oneOf": module_tasks}},
            },
            "additionalProperties": False,
        },
    }
