"""YAML that remembers where each mapping, list and key came from, and refuses duplicate keys."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from remediator.errors import ConfigError


class LocDict(dict):
    """A mapping with the line it starts on and the line of each key.

    `duplicates` lists (key, line, first line) of keys given twice, when the file was read with
    `load_keeping_duplicates` so that the caller can report them with more context (task, option).
    """

    line: int | None = None
    key_lines: dict[str, int]
    duplicates: tuple[tuple[Any, int, int], ...] = ()

    def line_of(self, key: str) -> int | None:
        return getattr(self, "key_lines", {}).get(key, self.line)


class LocList(list):
    line: int | None = None
    item_lines: list[int]


_UNQUOTED_TEMPLATE = "a value that starts with '{{' must be quoted (YAML reads {{ ... }} as a mapping)"


class _Loader(yaml.SafeLoader):
    """SafeLoader that builds LocDict/LocList and rejects duplicate keys."""

    def __init__(self, stream: Any, filename: str, *, strict: bool = True) -> None:
        super().__init__(stream)
        self.filename = filename
        self.strict = strict

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> LocDict:  # type: ignore[override]
        # Keys written in this mapping; the rest, put first by flatten_mapping, come from `<<` merge keys,
        # which the mapping's own keys override (YAML merge semantics), so they are not duplicates.
        own = sum(1 for key_node, _ in node.value if key_node.tag != "tag:yaml.org,2002:merge")
        self.flatten_mapping(node)
        merged = len(node.value) - own
        result = LocDict()
        result.line = node.start_mark.line + 1
        result.key_lines = {}
        duplicates: list[tuple[Any, int, int]] = []
        written: set[Any] = set()
        for index, (key_node, value_node) in enumerate(node.value):
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            if not isinstance(key, str | int | float | bool) or key is None:
                if isinstance(key_node, yaml.MappingNode) and key_node.flow_style and node.flow_style:
                    error = ConfigError(_UNQUOTED_TEMPLATE, file=self.filename, line=line)
                    error.unquoted_template = True  # type: ignore[attr-defined]
                    raise error
                raise ConfigError("mapping keys must be plain scalars", file=self.filename, line=line)
            if index >= merged:
                if key in written:
                    first = result.key_lines[key]
                    if self.strict:
                        raise ConfigError(
                            f"duplicate key {key!r} (first at line {first})", file=self.filename, line=line
                        )
                    duplicates.append((key, line, first))
                    continue  # the first one stands; the caller reports the duplicate
                written.add(key)
            try:
                result[key] = self.construct_object(value_node, deep=True)
            except ConfigError as exc:
                direct = isinstance(value_node, yaml.MappingNode) and value_node.flow_style
                if not (direct and getattr(exc, "unquoted_template", False) and exc.message == _UNQUOTED_TEMPLATE):
                    raise
                raise ConfigError(
                    f"the value of {key!r} starts with '{{{{' and must be quoted, as in {key}: \"{{{{ ... }}}}\"",
                    file=self.filename,
                    line=exc.line,
                )
            result.key_lines[key] = line
        if duplicates:
            result.duplicates = tuple(duplicates)
        return result

    def construct_sequence(self, node: yaml.SequenceNode, deep: bool = False) -> LocList:  # type: ignore[override]
        result = LocList(self.construct_object(child, deep=True) for child in node.value)
        result.line = node.start_mark.line + 1
        result.item_lines = [child.start_mark.line + 1 for child in node.value]
        return result


def _timestamp(loader: _Loader, node: yaml.ScalarNode) -> Any:
    """A YAML date or time; one that does not exist (2027-02-30) is bad input with its line, where
    SafeLoader raises a bare ValueError."""
    try:
        return yaml.SafeLoader.construct_yaml_timestamp(loader, node)
    except ValueError as exc:
        raise ConfigError(
            f"{node.value!r} is not a date: {exc}", file=loader.filename, line=node.start_mark.line + 1
        ) from None


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _Loader.construct_mapping)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _Loader.construct_sequence)
_Loader.add_constructor("tag:yaml.org,2002:timestamp", _timestamp)


def parse(text: str, filename: str) -> Any:
    """Parse YAML text; syntax errors and duplicate keys become one ConfigError with the line."""
    return _parse(text, filename, strict=True)


def load(path: str | Path, what: str = "file") -> Any:
    """Read and parse a YAML file; a missing or unreadable file is a ConfigError."""
    return _parse(_read(path, what), str(path), strict=True)


def load_keeping_duplicates(path: str | Path, what: str = "file") -> Any:
    """As `load`, but a duplicate key is recorded in its mapping's `duplicates` instead of raised."""
    return _parse(_read(path, what), str(path), strict=False)


def first_duplicate(value: Any) -> tuple[Any, int, int, list[Any]] | None:
    """The duplicate key written first anywhere in value: (key, line, first line, path of keys to it)."""
    found: list[tuple[Any, int, int, list[Any]]] = []

    def walk(node: Any, path: list[Any]) -> None:
        if isinstance(node, dict):
            for key, line, first in getattr(node, "duplicates", ()):
                found.append((key, line, first, [*path, key]))
            for key, child in node.items():
                walk(child, [*path, key])
        elif isinstance(node, list):
            for index, child in enumerate(node):
                walk(child, [*path, index])

    walk(value, [])
    return min(found, key=lambda d: d[1]) if found else None


def _read(path: str | Path, what: str) -> str:
    name = str(path)
    try:
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{what} not found", file=name)
    except IsADirectoryError:
        raise ConfigError(f"{what} is a directory, not a file", file=name)
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {what}: {exc}", file=name)


def _parse(text: str, filename: str, *, strict: bool) -> Any:
    loader = _Loader(text, filename, strict=strict)
    try:
        return loader.get_single_data()
    except ConfigError:
        raise
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        if line is not None:
            # An error found at the end of the stream (an unclosed bracket or quote) is marked on the
            # line after the last one: point at the last line that has text instead.
            lines = text.splitlines()
            while line > 1 and (line > len(lines) or not lines[line - 1].strip()):
                line -= 1
        problem = " ".join(str(exc.problem or exc.context or "invalid YAML").split())
        raise ConfigError(f"YAML syntax error: {problem}", file=filename, line=line)
    except yaml.YAMLError as exc:
        raise ConfigError(f"YAML error: {' '.join(str(exc).split())}", file=filename)
    finally:
        loader.dispose()


def plain(value: Any) -> Any:
    """Strip location wrappers: LocDict/LocList → dict/list, recursively."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value
