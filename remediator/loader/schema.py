"""JSON Schemas generated from the module registry: per-module option checks and the playbook schema."""

from __future__ import annotations

import copy
import difflib
import functools
from typing import Any

import jsonschema

from remediator import registry
from remediator.errors import short

TASK_KEYS = ("name", "when", "loop", "tags", "max_changes", "lint")
PLAY_KEYS = ("name", "accounts", "hosts", "vars", "vars_files", "tasks")
TEMPLATE_STRING = {"type": "string", "pattern": "{{|{%"}
# An integer option with no maximum of its own gets one: a count of days at most a century (date
# arithmetic on 1,000,000,000 days overflows mid-run), any other integer at most AWS's int32.
MAX_DAYS = 36_500
MAX_INTEGER = 2**31 - 1
_IMPLIED = "x-remediator-implied-maximum"  # marks a maximum `bounded` added (JSON Schema ignores it)

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
    """The module's options as a JSON Schema, integers bounded (see `bounded`). Callers only read it."""
    module = registry.get(name)
    return _module_schema(name, type(module))


@functools.lru_cache(maxsize=256)
def _module_schema(name: str, module: Any) -> dict[str, Any]:
    return bounded({"type": "object", "additionalProperties": False, **module.args_schema})


def bounded(schema: dict[str, Any], name: str = "") -> dict[str, Any]:
    """A copy of schema where every integer without a maximum has one (MAX_DAYS for a `*days*` option,
    else MAX_INTEGER): no value that passes the check can overflow what a module computes from it."""
    schema = dict(schema)
    types = schema.get("type")
    if (types == "integer" or (isinstance(types, list) and "integer" in types)) and "maximum" not in schema:
        schema["maximum"] = MAX_DAYS if "days" in name else MAX_INTEGER
        schema[_IMPLIED] = True
    for key in ("properties", "patternProperties"):
        if isinstance(schema.get(key), dict):
            schema[key] = {k: bounded(v, str(k)) if isinstance(v, dict) else v for k, v in schema[key].items()}
    for key in ("items", "additionalProperties"):
        if isinstance(schema.get(key), dict):
            schema[key] = bounded(schema[key], name)
    for key in ("anyOf", "oneOf", "allOf"):
        if isinstance(schema.get(key), list):
            schema[key] = [bounded(v, name) if isinstance(v, dict) else v for v in schema[key]]
    return schema


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
    """One short line: a value is quoted cut short, and never when it came from the environment."""
    value = error.instance
    shown = _shown(value)
    schema = error.schema if isinstance(error.schema, dict) else {}
    if error.validator == "type":
        hint = ""
        if error.validator_value == "boolean" and isinstance(value, str) and value.lower() in _YAML11_BOOLEANS:
            hint = " (write true or false: YAML 1.2 reads yes, no, on and off as text)"
        return f"expected {error.validator_value}, got {type(value).__name__} {shown}{hint}"
    if error.validator in ("minimum", "maximum"):
        low, high = schema.get("minimum"), schema.get("maximum")
        if schema.get(_IMPLIED) and error.validator == "minimum":
            high = None  # the module's own bound is the one broken: the implied one is no news
        if low is not None and high is not None:
            return f"{shown} is out of range: must be between {low} and {high}"
        bound = "at least" if error.validator == "minimum" else "at most"
        return f"{shown} is out of range: must be {bound} {error.validator_value}"
    if error.validator == "enum":
        return f"{shown} is not one of: {', '.join(map(str, error.validator_value))}"
    if error.validator == "pattern":
        return f"{shown} does not match {short(error.validator_value)}"
    if error.validator == "maxLength":
        return f"{shown} is too long: at most {error.validator_value} characters"
    if error.validator == "minLength":
        return f"{shown} is too short: at least {error.validator_value} characters"
    text = error.message
    whole = _repr(value)
    if whole and whole in text:
        text = text.replace(whole, shown)
    return text if len(text) <= 300 else text[:299] + "…"


_YAML11_BOOLEANS = ("yes", "no", "on", "off", "y", "n")


def _shown(value: Any) -> str:
    from remediator.templating import EnvValue

    if isinstance(value, EnvValue):
        return "(a value from the environment, not shown)"
    return short(value)


def _repr(value: Any) -> str:
    try:
        return repr(value)
    except Exception:
        return ""


def coerce_environment(value: Any, schema: dict[str, Any]) -> Any:
    """Values read from the environment are text; where the schema wants no text there (a number, a
    list), the text is read as a YAML value. Anything that does not read as one stays text, for the
    schema check to refuse without echoing it."""
    from remediator.loader import yamlfile
    from remediator.templating import EnvValue

    if isinstance(value, EnvValue):
        if _accepts_string(schema):
            return value
        try:
            parsed = yamlfile.parse(str(value), "(environment)")
        except Exception:
            return value
        return value if isinstance(parsed, str) else yamlfile.plain(parsed)
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        return {
            k: coerce_environment(v, properties.get(k, extra if isinstance(extra, dict) else {}))
            for k, v in value.items()
        }
    if isinstance(value, list):
        items = schema.get("items")
        return [coerce_environment(v, items if isinstance(items, dict) else {}) for v in value]
    return value


def _accepts_string(schema: dict[str, Any]) -> bool:
    for key in ("anyOf", "oneOf"):
        if isinstance(schema.get(key), list):
            return any(_accepts_string(s) for s in schema[key] if isinstance(s, dict) and s is not TEMPLATE_STRING)
    types = schema.get("type")
    if types is None:
        return "enum" not in schema or any(isinstance(v, str) for v in schema["enum"])
    return "string" in (types if isinstance(types, list) else [types])


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
        args = allow_templates(_unmarked(module_schema(name)))
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


def _unmarked(schema: Any) -> Any:
    """schema without the marks `bounded` leaves for error messages (editors need not see them)."""
    if isinstance(schema, dict):
        return {k: _unmarked(v) for k, v in schema.items() if k != _IMPLIED}
    if isinstance(schema, list):
        return [_unmarked(v) for v in schema]
    return schema
