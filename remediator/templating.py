"""Jinja2 rendering of task options, in a sandbox, where an undefined variable is an error.

Rendering keeps native types, as Ansible does: `"{{ min_length }}"` with min_length = 14 gives the
integer 14, and `template('policies/x.json.j2')` gives the parsed policy document.

Templates and what they read are untrusted, so:
- a variable whose value is itself a template is rendered where it is used (a chain of them is
  followed, to a bound); the output of a rendering is never rendered again;
- a value read with `lookup_env` is data: never rendered as a template, never read as a Python
  literal (`"[1, 2]"` stays text, unless the option it lands in wants a list: see
  `loader.schema.coerce_environment`), and never echoed in an error;
- the work a template may do is bounded: loop iterations, calls and filters share one budget per
  rendering; strings and lists a template builds, integers it computes, widths it pads to and the
  output itself have bounds, each checked before the operation that would exceed it runs;
- `template(path)` reads regular files under templates/ only: a symlink out of it is not followed.
"""

from __future__ import annotations

import ast
import functools
import json
import math
import os
import re
import string
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import jinja2
from jinja2 import nodes
from jinja2.compiler import CodeGenerator
from jinja2.loaders import split_template_path
from jinja2.nativetypes import NativeCodeGenerator
from jinja2.runtime import Context, Macro, missing
from jinja2.sandbox import SandboxedEnvironment

from remediator.errors import ConfigError, one_line, short
from remediator.loader import yamlfile

_TEMPLATE_MARK = re.compile(r"{{|{%")

MAX_INDIRECTION = 20  # a variable whose value names a variable whose value names… (a legal chain is ~6)
MAX_WORK = 50_000  # loop iterations, calls and filter items in one rendering
MAX_SIZE = 1_000_000  # characters of a string, items of a list, a template may build (and its output)
MAX_INT_BITS = 4096  # an integer a template computes (** and *)
MAX_WIDTH = 10_000  # a padding width, a format width, a filter's count
MAX_RANGE = 100_000  # items of range()
MAX_VALUE_ITEMS = 100_000  # items in all the lists and mappings of one rendered value (aliases expanded)
MAX_SOURCE = 100_000  # characters of one template string (an option, a variable)
MAX_TEMPLATE_BYTES = 256 * 1024  # a template file (AWS's largest policy document is 10,240 characters)
_CACHE = 1024  # compiled templates kept per renderer
_MACRO_STEPS = 20  # a macro call costs about twenty loop iterations


def is_template(value: Any) -> bool:
    return isinstance(value, str) and bool(_TEMPLATE_MARK.search(value))


class EnvValue(str):
    """Text read from the environment (`lookup_env`): data, never a template, never a Python literal."""

    __slots__ = ()


class TemplateError(ValueError):
    """A rendering failure, with a message fit for one line."""


# --- the state of one rendering ------------------------------------------------------------------


@dataclass
class _Run:
    """One top-level rendering: what templates see, the variables rendered so far, the work done."""

    renderer: Renderer
    context: dict[str, Any]  # variables, data and `template`
    variables: Mapping[str, Any]  # the user's variables: a template among them renders where it is used
    data: frozenset[str]  # names whose values are data already rendered (`item`)
    resolved: dict[str, Any] = field(default_factory=dict)
    resolving: list[str] = field(default_factory=list)
    env_used: list[bool] = field(default_factory=list)  # per nested rendering: lookup_env was called
    work: int = 0

    def charge(self, units: int = 1) -> None:
        self.work += units
        if self.work > MAX_WORK:
            raise TemplateError(
                f"the template does more than {MAX_WORK:,} steps (loop iterations, calls, filter items): refused"
            )


_RUN: ContextVar[_Run | None] = ContextVar("remediator_render", default=None)


def _charge(units: int = 1) -> None:
    run = _RUN.get()
    if run is not None:
        run.charge(units)


class _Context(Context):
    """Resolves a user variable whose value is a template by rendering it, where it is used."""

    def resolve_or_missing(self, key: str) -> Any:
        value = super().resolve_or_missing(key)
        run = _RUN.get()
        if run is None or value is missing or key in run.data or run.variables.get(key, missing) is not value:
            return value
        return run.renderer._variable(run, key, value)


# --- bounded operations --------------------------------------------------------------------------


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _sized(value: Any) -> bool:
    return isinstance(value, str | list | tuple | dict | set)


def _too_big(what: str, size: int) -> TemplateError:
    return TemplateError(f"{what} would make {size:,} characters or items (at most {MAX_SIZE:,}): refused")


def _charge_copy(size: int) -> None:
    """Building `size` characters or items costs about one step a thousand: a loop that copies a
    growing list or string at each turn runs out of budget long before it runs out of time."""
    _charge(1 + size // 1024)


def _check_binop(operator: str, left: Any, right: Any) -> None:
    if operator == "**":
        _check_power(left, right)
    elif operator == "*":
        _check_product(left, right)
    elif operator == "+" and _sized(left) and _sized(right):
        if len(left) + len(right) > MAX_SIZE:
            raise _too_big("joining these", len(left) + len(right))
        _charge_copy(len(left) + len(right))
    elif operator == "%" and isinstance(left, str):
        _check_printf(left)


def _check_power(base: Any, exponent: Any) -> None:
    """An integer power: refused when the result would pass MAX_INT_BITS (7 ** 10 ** 9 runs for hours)."""
    if not (_is_int(base) and _is_int(exponent) and exponent > 0 and abs(base) > 1):
        return
    if exponent > MAX_INT_BITS or exponent * math.log2(abs(base)) > MAX_INT_BITS:
        raise TemplateError(
            f"{short(base, 20)} ** {short(exponent, 20)} would be an integer of more than {MAX_INT_BITS} bits: refused"
        )


def _check_product(left: Any, right: Any) -> None:
    """A product of integers past twice MAX_INT_BITS, or a string or list repeated past MAX_SIZE."""
    if _is_int(left) and _is_int(right):
        if left.bit_length() + right.bit_length() > 2 * MAX_INT_BITS:
            raise TemplateError(f"a product of more than {2 * MAX_INT_BITS} bits: refused")
        return
    sequence, times = (left, right) if _sized(left) else (right, left)
    if _sized(sequence) and _is_int(times):
        size = len(sequence) * max(times, 0)
        if size > MAX_SIZE:
            raise _too_big(f"repeating {len(sequence):,} characters or items {times:,} times", size)
        _charge_copy(size)


_PRINTF = re.compile(r"%(?:\([^)]*\))?[#0 +-]*(\*|\d+)?(?:\.(\*|\d+))?[hlL]?[a-zA-Z%]")


def _check_printf(text: str) -> None:
    """A %-format whose widths would pad past MAX_WIDTH (or that takes widths from its arguments)."""
    for match in _PRINTF.finditer(text):
        for number in match.groups():
            if number == "*":
                raise TemplateError("a '*' width in a % format is not supported")
            if number is not None and (len(number) > 6 or int(number) > MAX_WIDTH):
                raise TemplateError(f"a % format width of {number} (at most {MAX_WIDTH:,}): refused")


def _check_format(text: str) -> None:
    """A str.format string whose widths would pad past MAX_WIDTH, or take widths from its arguments."""
    for _literal, _name, spec, _conversion in string.Formatter().parse(text):
        if not spec:
            continue
        if "{" in spec:
            raise TemplateError("a width taken from a format argument ({:{w}}) is not supported")
        for number in re.findall(r"\d+", spec):
            if len(number) > 6 or int(number) > MAX_WIDTH:
                raise TemplateError(f"a format width of {number} (at most {MAX_WIDTH:,}): refused")


def _str_method_size(text: str, name: str, args: tuple[Any, ...]) -> int:
    """An upper bound of what str method `name` builds from text and args."""
    if name == "replace" and len(args) >= 2 and isinstance(args[0], str) and isinstance(args[1], str):
        old, new = args[0], args[1]
        count = len(text) + 1 if not old else len(text) // len(old)
        if len(args) > 2 and _is_int(args[2]) and args[2] >= 0:
            count = min(count, args[2])
        return len(text) + count * len(new)
    if name == "join" and args and _sized(args[0]):
        items = args[0]
        return len(text) * max(len(items) - 1, 0) + sum(len(i) for i in items if isinstance(i, str))
    if name in ("center", "ljust", "rjust", "zfill") and args and _is_int(args[0]):
        return max(len(text), args[0])
    if name == "expandtabs":
        tab = args[0] if args and _is_int(args[0]) else 8
        return len(text) * max(tab, 1)
    return len(text) + sum(len(a) for a in args if _sized(a))


def _check_call(obj: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    wrapped = getattr(obj, "__wrapped__", None)  # the sandbox's wrapper of str.format / format_map
    owner = getattr(wrapped, "__self__", None)
    if isinstance(owner, str):
        _check_format(owner)
        return
    owner = getattr(obj, "__self__", None)
    name = getattr(obj, "__name__", "")
    if isinstance(owner, str):
        size = _str_method_size(owner, name, args + tuple(kwargs.values()))
    elif isinstance(owner, list | dict | set | tuple):
        size = len(owner) + sum(len(a) if _sized(a) else 1 for a in args)
    else:
        return
    if size > MAX_SIZE:
        raise _too_big(f"{name}()", size)
    _charge_copy(size)


def _materialized(obj: Any, args: tuple[Any, ...]) -> tuple[Any, ...]:
    """A method of a string or list given an iterator (`sep.join(items | map(...))`) gets a list,
    built item by item against the budget, so that what it builds can be measured before it runs."""
    if not isinstance(getattr(obj, "__self__", None), str | list | dict | set):
        return args
    return tuple(list(_budgeted(a)) if isinstance(a, Iterator) else a for a in args)


def _budgeted(iterable: Iterable[Any]) -> Iterator[Any]:
    for item in iterable:
        _charge()
        yield item


def _check_size(value: Any) -> None:
    if _sized(value) and len(value) > MAX_SIZE:
        raise _too_big("this", len(value))
    if _is_int(value) and value.bit_length() > 2 * MAX_INT_BITS:
        raise TemplateError(f"an integer of more than {2 * MAX_INT_BITS} bits: refused")


def _bounded_range(*args: Any) -> range:
    numbers = range(*args)
    if len(numbers) > MAX_RANGE:
        raise TemplateError(f"range() of {len(numbers):,} items (at most {MAX_RANGE:,}): refused")
    return numbers


# Filters that take a width or count, and the names of that argument.
_WIDTH_FILTERS = {"center": "width", "indent": "width", "wordwrap": "width", "truncate": "length", "tojson": "indent"}
_COUNT_FILTERS = {"batch": "linecount", "slice": "slices"}


def _check_filter(name: str, value: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    argument = args[0] if args else kwargs.get(_WIDTH_FILTERS.get(name) or _COUNT_FILTERS.get(name) or "")
    if name in _WIDTH_FILTERS or name in _COUNT_FILTERS:
        if _is_int(argument) and argument > MAX_WIDTH:
            raise TemplateError(f"{name}({argument:,}): at most {MAX_WIDTH:,}, refused")
        if name == "indent" and isinstance(argument, str) and isinstance(value, str):
            size = len(value) + (value.count("\n") + 1) * len(argument)
            if size > MAX_SIZE:
                raise _too_big("indent()", size)
    elif name == "replace" and isinstance(value, str):
        size = _str_method_size(value, "replace", args + tuple(kwargs.values()))
        if size > MAX_SIZE:
            raise _too_big("replace()", size)
    elif name == "join" and _sized(value):
        separator = args[0] if args and isinstance(args[0], str) else kwargs.get("d", "")
        if isinstance(separator, str) and len(separator) * len(value) > MAX_SIZE:
            raise _too_big("join()", len(separator) * len(value))
    elif name == "format" and isinstance(value, str):
        _check_printf(value)
    elif name == "sum" and _sized(value):
        # Adding lists (sum(start=[])) copies the growing total at each item: quadratic.
        total = sum(len(item) for item in value if _sized(item))
        if total > MAX_SIZE:
            raise _too_big("sum()", total)
        _charge_copy(total * len(value))


def _guard_filter(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    """func, charged to the rendering's budget and checked before it runs (its size arguments) and after
    (its result). The wrapper keeps func's `jinja_pass_arg`, so Jinja passes it what it did."""
    skip = 1 if getattr(func, "jinja_pass_arg", None) is not None else 0

    @functools.wraps(func)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        value = args[skip] if len(args) > skip else None
        if isinstance(value, Iterator):  # map(), select()…: measured once listed
            value = list(_budgeted(value))
            args = (*args[:skip], value, *args[skip + 1 :])
        if isinstance(value, str):
            _charge(2 + len(value) // 64)
        else:
            _charge(2 + (len(value) if _sized(value) else 0))
        _check_filter(name, value, args[skip + 1 :], kwargs)
        result = func(*args, **kwargs)
        _check_size(result)
        return result

    return guarded


class _BoundedCodeGenerator(CodeGenerator):
    """Every `for` loop iterates through `environment.bounded_iter` (charged per item) and every `~`
    joins through `environment.bounded_join` (its size checked)."""

    def visit_For(self, node: nodes.For, frame: Any) -> None:
        wrapped = isinstance(node.iter, nodes.Call) and isinstance(node.iter.node, nodes.EnvironmentAttribute)
        if not wrapped:
            node.iter = nodes.Call(
                nodes.EnvironmentAttribute("bounded_iter"), [node.iter], [], None, None, lineno=node.lineno
            )
        super().visit_For(node, frame)

    def visit_Concat(self, node: nodes.Concat, frame: Any) -> None:
        self.write("environment.bounded_join((")
        for argument in node.nodes:
            self.visit(argument, frame)
            self.write(", ")
        self.write("))")


class _NativeBoundedCodeGenerator(_BoundedCodeGenerator, NativeCodeGenerator):
    pass


class _Sandbox(SandboxedEnvironment):
    """The sandbox, with every operation that can grow a value or loop checked against the bounds."""

    intercepted_binops = frozenset({"*", "**", "+", "%"})
    context_class = _Context
    code_generator_class = _BoundedCodeGenerator

    def __init__(self, **options: Any) -> None:
        super().__init__(undefined=jinja2.StrictUndefined, keep_trailing_newline=True, **options)
        self.globals["range"] = _bounded_range
        self.globals.pop("lipsum", None)  # lipsum(n) writes n paragraphs
        self.globals["lookup_env"] = lookup_env
        self.filters["to_json"] = lambda value: json.dumps(value)
        self.filters = {name: _guard_filter(name, func) for name, func in self.filters.items()}

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        _charge()
        _check_binop(operator, left, right)
        return super().call_binop(context, operator, left, right)

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805
        _charge(_MACRO_STEPS if isinstance(__obj, Macro) else 2)
        args = _materialized(__obj, args)
        _check_call(__obj, args, kwargs)
        result = super().call(__context, __obj, *args, **kwargs)
        _check_size(result)
        _check_size(getattr(__obj, "__self__", None))  # list.append, dict.update grow their owner
        return result

    def bounded_iter(self, iterable: Iterable[Any]) -> Iterator[Any]:
        """What every `for` loop iterates: each item charged to the rendering's budget."""
        return _budgeted(iterable)

    def bounded_join(self, values: Iterable[Any]) -> str:
        parts: list[str] = []
        size = 0
        for value in values:
            text = str(value)
            size += len(text)
            if size > MAX_SIZE:
                raise _too_big("joining these with ~", size)
            parts.append(text)
        _charge_copy(size)
        return "".join(parts)

    @staticmethod
    def concat(values: Iterable[Any]) -> str:  # type: ignore[override]
        return _join_output(values)


class _NativeSandbox(_Sandbox):
    code_generator_class = _NativeBoundedCodeGenerator

    @staticmethod
    def concat(values: Iterable[Any]) -> Any:  # type: ignore[override]
        """The output as a native value: one piece as it is, several joined as text (not yet read as
        a literal: `Renderer._native` does that, unless the text came from the environment)."""
        pieces = iter(values)
        first = next(pieces, missing)
        if first is missing:
            return None
        second = next(pieces, missing)
        if second is missing:
            return first
        return _join_output([first, second], pieces)


def _join_output(*groups: Iterable[Any]) -> str:
    parts: list[str] = []
    size = 0
    for group in groups:
        for value in group:
            text = str(value)
            size += len(text)
            if size > MAX_SIZE:
                raise _too_big("the template's output", size)
            parts.append(text)
    return "".join(parts)


class _TemplateFiles(jinja2.BaseLoader):
    """Template files from the template folders: regular files of bounded size, and never through a
    symlink that leads out of the folder (templates/evil.j2 → /proc/self/environ)."""

    def __init__(self, folders: Sequence[Path]) -> None:
        self.folders = list(folders)

    def get_source(self, environment: jinja2.Environment, template: str) -> tuple[str, str, Callable[[], bool]]:
        pieces = split_template_path(template)
        for folder in self.folders:
            path = folder.joinpath(*pieces)
            if not os.path.lexists(path):
                continue
            try:
                inside = Path(os.path.realpath(path)).is_relative_to(Path(os.path.realpath(folder)))
            except (OSError, ValueError, RuntimeError):
                inside = False
            if not inside:
                raise TemplateError(f"template {short(template)} is a link out of {folder}: not followed")
            try:
                source = yamlfile.read_text(path, "template", MAX_TEMPLATE_BYTES)
            except ConfigError as exc:
                raise TemplateError(f"template {short(template)}: {exc.message}") from None
            return source, str(path), lambda: True
        raise jinja2.TemplateNotFound(template)


# --- the renderer --------------------------------------------------------------------------------


class Renderer:
    """Renders option values against the variables of one account and task."""

    def __init__(self, search_dirs: Sequence[Path]) -> None:
        self.search_dirs = [Path(d) for d in search_dirs]
        self.env = _NativeSandbox()
        self.text_env = _Sandbox(loader=_TemplateFiles(self.search_dirs))
        self.secrets: set[str] = set()  # values lookup_env returned: never echoed in an error
        self._compiled: dict[str, jinja2.Template] = {}
        self._expressions: dict[str, Any] = {}

    def render(self, value: Any, variables: Mapping[str, Any], data: Mapping[str, Any] | None = None) -> Any:
        """Render strings found anywhere in value (dicts, lists); other values pass through.

        `data` are variables already rendered (a loop's `item`): never rendered again."""
        with self._session(variables, data) as run, _errors(""):
            result = self._walk(value, run)
            check_value(result)
            return result

    def evaluate(self, expression: str, variables: Mapping[str, Any], data: Mapping[str, Any] | None = None) -> Any:
        """Evaluate a bare expression (a `when` condition) to a value."""
        with self._session(variables, data) as run, _errors("expression "):
            if len(expression) > MAX_SOURCE:
                raise TemplateError(f"an expression of more than {MAX_SOURCE:,} characters: refused")
            compiled = self._expressions.get(expression)
            if compiled is None:
                compiled = self.env.compile_expression(expression, undefined_to_none=False)
                self._remember(self._expressions, expression, compiled)
            result = compiled(**run.context)
            if isinstance(result, jinja2.Undefined):
                result._fail_with_undefined_error()
            return result

    def template(self, path: str, variables: Mapping[str, Any]) -> Any:
        """Render a file from templates/; a .json template becomes a parsed document."""
        with self._session(variables, None) as run:
            return self._template_file(run, path, {})

    def redact(self, text: str) -> str:
        """text without any value lookup_env returned (an error must not print a secret)."""
        for secret in sorted(self.secrets, key=len, reverse=True):
            if len(secret) >= 4:
                text = text.replace(secret, "(a value from the environment)")
        return text

    # internals

    @contextmanager
    def _session(self, variables: Mapping[str, Any], data: Mapping[str, Any] | None) -> Iterator[_Run]:
        current = _RUN.get()
        if current is not None and current.renderer is self and not data:
            yield current  # within a rendering (template() from an option): same variables, same budget
            return
        context = {**variables, **(data or {})}
        run = _Run(self, context, variables, frozenset(data or ()))
        context["template"] = lambda path, **extra: self._template_file(run, path, extra)
        token = _RUN.set(run)
        try:
            yield run
        finally:
            _RUN.reset(token)

    def _walk(self, value: Any, run: _Run) -> Any:
        if isinstance(value, dict):
            return {k: self._walk(v, run) for k, v in value.items()}
        if isinstance(value, list):
            return [self._walk(v, run) for v in value]
        if isinstance(value, EnvValue) or not is_template(value):
            return value
        return self._native(value, run)

    def _native(self, source: str, run: _Run) -> Any:
        """One template string rendered to a native value."""
        template = self._compile(source)
        run.env_used.append(False)
        try:
            result = template.render(run.context)
        finally:
            from_env = run.env_used.pop()
            if from_env and run.env_used:
                run.env_used[-1] = True
        if isinstance(result, jinja2.Undefined):
            result._fail_with_undefined_error()
        if isinstance(result, str):
            return EnvValue(result) if from_env or isinstance(result, EnvValue) else _literal(result)
        return result

    def _variable(self, run: _Run, key: str, value: Any) -> Any:
        """A user variable's value, its templates rendered (once per rendering)."""
        if key in run.resolved:
            return run.resolved[key]
        if key in run.resolving:
            chain = [*run.resolving[run.resolving.index(key) :], key]
            if len(chain) == 2:
                raise TemplateError(f"variable {short(key)} renders to itself: a variable refers to itself")
            raise TemplateError(f"variables refer to each other: {' → '.join(chain)}")
        if len(run.resolving) >= MAX_INDIRECTION:
            raise TemplateError(
                f"variables refer to variables more than {MAX_INDIRECTION} deep"
                f" ({' → '.join(run.resolving[:4])} → …): variables refer to each other"
            )
        run.resolving.append(key)
        try:
            result = self._walk(value, run)
        finally:
            run.resolving.pop()
        run.resolved[key] = result
        return result

    def _compile(self, source: str) -> jinja2.Template:
        template = self._compiled.get(source)
        if template is None:
            if len(source) > MAX_SOURCE:
                raise TemplateError(f"a template of more than {MAX_SOURCE:,} characters: refused")
            template = self.env.from_string(source)
            self._remember(self._compiled, source, template)
        return template

    @staticmethod
    def _remember(cache: dict[str, Any], key: str, value: Any) -> None:
        if len(cache) >= _CACHE:
            cache.clear()
        cache[key] = value

    def _template_file(self, run: _Run, path: Any, extra: dict[str, Any]) -> Any:
        if not isinstance(path, str):
            raise TemplateError(f"template(): the path must be text, got {type(path).__name__}")
        _charge()
        try:
            source = self.text_env.get_template(path)
        except jinja2.TemplateNotFound:
            places = ", ".join(str(d) for d in self.search_dirs) or "(none)"
            raise TemplateError(f"template {short(path)} not found in {places}") from None
        except jinja2.TemplateSyntaxError as exc:
            raise TemplateError(f"template {path}:{exc.lineno}: syntax error: {_one_line(exc.message)}") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise TemplateError(f"template {short(path)}: cannot read it: {_one_line(exc)}") from None
        try:
            text = source.render({**run.context, **extra})
        except jinja2.UndefinedError as exc:
            raise TemplateError(f"template {path}: undefined variable: {_one_line(exc.message)}") from None
        except TemplateError as exc:
            raise TemplateError(f"template {path}: {exc}") from None
        except RecursionError:
            raise TemplateError(f"template {path}: templates include or call each other too deeply") from None
        except Exception as exc:
            raise TemplateError(f"template {path}: {type(exc).__name__}: {_one_line(exc)}") from None
        if path.endswith((".json", ".json.j2")):
            try:
                document = json.loads(text)
            except json.JSONDecodeError as exc:
                raise TemplateError(f"template {path} rendered invalid JSON at line {exc.lineno}: {exc.msg}") from None
            except RecursionError:
                raise TemplateError(f"template {path} rendered JSON nested too deeply") from None
            check_value(document)
            return document
        return text


@contextmanager
def _errors(what: str) -> Iterator[None]:
    """Any failure while rendering as one TemplateError, on one short line."""
    try:
        yield
    except TemplateError:
        raise
    except jinja2.UndefinedError as exc:
        raise TemplateError(f"undefined variable: {_one_line(exc.message)}") from None
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateError(f"{what or 'template '}syntax error: {_one_line(exc.message)}") from None
    except jinja2.exceptions.SecurityError as exc:
        raise TemplateError(f"not allowed in a template: {_one_line(exc)}") from None
    except RecursionError:
        raise TemplateError("the template calls itself or nests too deeply") from None
    except MemoryError:
        raise TemplateError("the template needs more memory than there is") from None
    except ValueError as exc:
        if "integer string conversion" in str(exc):  # Python's bound on reading and printing integers
            raise TemplateError("an integer of more than 4,300 digits: refused") from None
        raise TemplateError(f"{what or 'template '}error: ValueError: {_one_line(exc)}") from None
    except Exception as exc:  # a filter or test raising on bad data
        raise TemplateError(f"{what or 'template '}error: {type(exc).__name__}: {_one_line(exc)}") from None


def check_value(value: Any) -> None:
    """Refuse a rendered value that is too big, too deep, contains itself, or holds an undefined
    variable: what reads it next (copies, schema checks, JSON) walks it whole."""
    count = 0
    stack: list[tuple[Any, int, tuple[int, ...]]] = [(value, 1, ())]
    while stack:
        node, depth, path = stack.pop()
        if isinstance(node, jinja2.Undefined):
            node._fail_with_undefined_error()
        if not isinstance(node, dict | list | tuple):
            continue
        count += len(node)
        if count > MAX_VALUE_ITEMS:
            raise TemplateError(f"the rendered value holds more than {MAX_VALUE_ITEMS:,} items: refused")
        if depth > yamlfile.MAX_DEPTH:
            raise TemplateError(f"the rendered value is nested more than {yamlfile.MAX_DEPTH} levels deep")
        if id(node) in path:
            raise TemplateError("the rendered value contains itself")
        inner = (*path, id(node))
        children = node.values() if isinstance(node, dict) else node
        stack.extend((c, depth + 1, inner) for c in children if isinstance(c, dict | list | tuple | jinja2.Undefined))


_LITERAL_TYPES = (str, int, float, bool, type(None), date, datetime)


def _literal(text: str) -> Any:
    """Text that reads as a Python literal (14, [1, 2], {'a': 1}) as that value, as Jinja's native
    rendering does; other text, and literals that are not plain data (tuples, sets, bytes), as text."""
    if len(text) > MAX_SOURCE:
        return text
    try:
        # As jinja2.nativetypes does: parse first, so leading spaces are not stripped.
        value = ast.literal_eval(ast.parse(text, mode="eval"))
    except (ValueError, SyntaxError, MemoryError, RecursionError, TypeError):
        return text
    return value if _plain_data(value) else text


def _plain_data(value: Any, depth: int = 0) -> bool:
    if depth > yamlfile.MAX_DEPTH:
        return False
    if isinstance(value, list):
        return all(_plain_data(v, depth + 1) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str | int) and _plain_data(v, depth + 1) for k, v in value.items())
    if _is_int(value):
        return value.bit_length() <= MAX_INT_BITS
    return isinstance(value, _LITERAL_TYPES)


def _one_line(value: Any) -> str:
    """A message on one line, cut short: errors are printed one per line."""
    return one_line(value, 200)


def lookup_env(name: Any, default: Any = None) -> Any:
    """The value of an environment variable, as data (EnvValue); an unset one is an error unless a
    default is given."""
    if not isinstance(name, str):
        raise TemplateError(f"lookup_env: the variable name must be text, got {type(name).__name__}")
    try:
        value = os.environ.get(name)
    except ValueError:  # a NUL in the name
        value = None
    if value is None:
        if default is not None:
            return default
        raise TemplateError(f"environment variable {short(name)} is not set")
    run = _RUN.get()
    if run is not None:
        run.renderer.secrets.add(value)
        if run.env_used:
            run.env_used[-1] = True
    return EnvValue(value)


def plain_text(value: Any) -> Any:
    """value with every EnvValue as plain str, once the options that wanted other types have them."""
    if isinstance(value, EnvValue):
        return str(value)
    if isinstance(value, dict):
        return {k: plain_text(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain_text(v) for v in value]
    return value


def template_dirs(playbook_path: str | Path) -> list[Path]:
    """templates/ beside the playbook, then the current directory's templates/ (SPEC)."""
    dirs = [Path(playbook_path).resolve().parent / "templates", Path.cwd() / "templates"]
    unique: list[Path] = []
    for d in dirs:
        if d not in unique:
            unique.append(d)
    return unique
