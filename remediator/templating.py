"""Jinja2 rendering of task options, in a sandbox, where an undefined variable is an error.

Rendering keeps native types, as Ansible does: `"{{ min_length }}"` with min_length = 14 gives the
integer 14, and `template('policies/x.json.j2')` gives the parsed policy document.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jinja2
from jinja2.nativetypes import NativeCodeGenerator, NativeTemplate, native_concat
from jinja2.sandbox import SandboxedEnvironment

from remediator.errors import ConfigError

_TEMPLATE_MARK = re.compile(r"{{|{%")
_MAX_INDIRECTION = 5


def is_template(value: Any) -> bool:
    return isinstance(value, str) and bool(_TEMPLATE_MARK.search(value))


class _SandboxedNativeEnvironment(SandboxedEnvironment):
    code_generator_class = NativeCodeGenerator
    concat = staticmethod(native_concat)


_SandboxedNativeEnvironment.template_class = NativeTemplate


class TemplateError(ValueError):
    """A rendering failure, with a message fit for one line."""


class Renderer:
    """Renders option values against the variables of one account and task."""

    def __init__(self, search_dirs: Sequence[Path]) -> None:
        self.search_dirs = [Path(d) for d in search_dirs]
        self.env = _SandboxedNativeEnvironment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
        self.text_env = SandboxedEnvironment(
            undefined=jinja2.StrictUndefined,
            loader=jinja2.FileSystemLoader([str(d) for d in self.search_dirs]),
            keep_trailing_newline=True,
        )
        for env in (self.env, self.text_env):
            env.globals["lookup_env"] = lookup_env
            env.filters["to_json"] = lambda v: json.dumps(v)

    def render(self, value: Any, variables: dict[str, Any]) -> Any:
        """Render strings found anywhere in value (dicts, lists); other values pass through."""
        if isinstance(value, dict):
            return {k: self.render(v, variables) for k, v in value.items()}
        if isinstance(value, list):
            return [self.render(v, variables) for v in value]
        if not is_template(value):
            return value
        context = dict(variables)
        context["template"] = lambda path, **extra: self.template(path, {**variables, **extra})
        try:
            result = self.env.from_string(value).render(context)
            for _ in range(_MAX_INDIRECTION):  # a variable whose value is itself a template
                if isinstance(result, jinja2.Undefined):
                    result._fail_with_undefined_error()
                if not is_template(result):
                    break
                if result == value:
                    raise TemplateError(f"{_one_line(value)[:60]!r} renders to itself: a variable refers to itself")
                value, result = result, self.env.from_string(result).render(context)
            else:
                if is_template(result):
                    raise TemplateError(
                        f"still a template after {_MAX_INDIRECTION} renderings ({_one_line(result)[:60]!r}):"
                        " variables refer to each other"
                    )
            return result
        except jinja2.UndefinedError as exc:
            raise TemplateError(f"undefined variable: {_one_line(exc.message)}")
        except jinja2.TemplateSyntaxError as exc:
            raise TemplateError(f"template syntax error: {_one_line(exc.message)}")
        except TemplateError:
            raise
        except ConfigError:
            raise
        except Exception as exc:  # a filter or test raising on bad data
            raise TemplateError(f"template error: {type(exc).__name__}: {_one_line(exc)}")

    def evaluate(self, expression: str, variables: dict[str, Any]) -> Any:
        """Evaluate a bare expression (a `when` condition) to a value."""
        try:
            result = self.env.compile_expression(expression, undefined_to_none=False)(**variables)
            if isinstance(result, jinja2.Undefined):
                result._fail_with_undefined_error()
            return result
        except jinja2.UndefinedError as exc:
            raise TemplateError(f"undefined variable: {_one_line(exc.message)}")
        except jinja2.TemplateSyntaxError as exc:
            raise TemplateError(f"expression syntax error: {_one_line(exc.message)}")
        except TemplateError:
            raise
        except Exception as exc:
            raise TemplateError(f"expression error: {type(exc).__name__}: {_one_line(exc)}")

    def template(self, path: str, variables: dict[str, Any]) -> Any:
        """Render a file from templates/; a .json template becomes a parsed document."""
        try:
            source = self.text_env.get_template(path)
        except jinja2.TemplateNotFound:
            places = ", ".join(str(d) for d in self.search_dirs) or "(none)"
            raise TemplateError(f"template {path!r} not found in {places}")
        except jinja2.TemplateSyntaxError as exc:
            raise TemplateError(f"template {path}:{exc.lineno}: syntax error: {_one_line(exc.message)}")
        except (OSError, UnicodeDecodeError) as exc:
            raise TemplateError(f"template {path}: cannot read it: {_one_line(exc)}")
        try:
            text = source.render(variables)
        except jinja2.UndefinedError as exc:
            raise TemplateError(f"template {path}: undefined variable: {_one_line(exc.message)}")
        except TemplateError as exc:
            raise TemplateError(f"template {path}: {exc}")
        except Exception as exc:
            raise TemplateError(f"template {path}: {type(exc).__name__}: {_one_line(exc)}")
        if path.endswith((".json", ".json.j2")):
            try:
                return json.loads(text)
            except json.JSONDecodeError as exc:
                raise TemplateError(f"template {path} rendered invalid JSON at line {exc.lineno}: {exc.msg}")
        return text


def _one_line(value: Any) -> str:
    """A message on one line: errors are printed one per line."""
    return " ".join(str(value).split())


def lookup_env(name: str, default: Any = None) -> Any:
    """The value of an environment variable; an unset one is an error unless a default is given."""
    value = os.environ.get(name)
    if value is None:
        if default is not None:
            return default
        raise TemplateError(f"environment variable {name!r} is not set")
    return value


def template_dirs(playbook_path: str | Path) -> list[Path]:
    """templates/ beside the playbook, then the current directory's templates/ (SPEC)."""
    dirs = [Path(playbook_path).resolve().parent / "templates", Path.cwd() / "templates"]
    unique: list[Path] = []
    for d in dirs:
        if d not in unique:
            unique.append(d)
    return unique
