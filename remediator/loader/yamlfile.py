"""YAML that remembers where each mapping, list and key came from, and refuses duplicate keys."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from remediator.errors import ConfigError


class LocDict(dict):
    """A mapping with the line it starts on and the line of each key."""

    line: int | None = None
    key_lines: dict[str, int]

    def line_of(self, key: str) -> int | None:
        return getattr(self, "key_lines", {}).get(key, self.line)


class LocList(list):
    line: int | None = None
    item_lines: list[int]


class _Loader(yaml.SafeLoader):
    """SafeLoader that builds LocDict/LocList and rejects duplicate keys."""

    def __init__(self, stream: Any, filename: str) -> None:
        super().__init__(stream)
        self.filename = filename

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> LocDict:  # type: ignore[override]
        self.flatten_mapping(node)
        result = LocDict()
        result.line = node.start_mark.line + 1
        result.key_lines = {}
        for key_node, value_node in node.value:
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            if not isinstance(key, str | int | float | bool) or key is None:
                raise ConfigError("mapping keys must be plain scalars", file=self.filename, line=line)
            if key in result:
                raise ConfigError(
                    f"duplicate key {key!r} (first at line {result.key_lines[key]})",
                    file=self.filename,
                    line=line,
                )
            result[key] = self.construct_object(value_node, deep=True)
            result.key_lines[key] = line
        return result

    def construct_sequence(self, node: yaml.SequenceNode, deep: bool = False) -> LocList:  # type: ignore[override]
        result = LocList(self.construct_object(child, deep=True) for child in node.value)
        result.line = node.start_mark.line + 1
        result.item_lines = [child.start_mark.line + 1 for child in node.value]
        return result


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _Loader.construct_mapping)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _Loader.construct_sequence)


def parse(text: str, filename: str) -> Any:
    """Parse YAML text; syntax errors become one ConfigError with the line."""
    loader = _Loader(text, filename)
    try:
        return loader.get_single_data()
    except ConfigError:
        raise
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        problem = exc.problem or exc.context or "invalid YAML"
        raise ConfigError(f"YAML syntax error: {problem}", file=filename, line=line)
    except yaml.YAMLError as exc:
        raise ConfigError(f"YAML error: {exc}", file=filename)
    finally:
        loader.dispose()


def load(path: str | Path, what: str = "file") -> Any:
    """Read and parse a YAML file; a missing or unreadable file is a ConfigError."""
    name = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{what} not found", file=name)
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {what}: {exc}", file=name)
    return parse(text, name)


def plain(value: Any) -> Any:
    """Strip location wrappers: LocDict/LocList → dict/list, recursively."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value
