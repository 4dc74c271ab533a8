"""`-e` values: KEY=VALUE pairs, @file.yml, or an inline YAML/JSON mapping."""

from __future__ import annotations

import shlex
from typing import Any

from remediator.errors import ConfigError
from remediator.loader import yamlfile
from remediator.loader.yamlfile import plain


def parse_extra_vars(values: list[str]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for value in values:
        merged.update(_parse_one(value))
    return merged


def _parse_one(value: str) -> dict[str, Any]:
    text = value.strip()
    if text.startswith("@"):
        path = text[1:]
        if not path:
            raise ConfigError("-e @FILE needs a file name")
        data = yamlfile.load(path, "vars file")
        return _as_vars(data, path, getattr(data, "line", 1))
    if text.startswith("{"):
        return _as_vars(yamlfile.parse(text, "-e"), "-e", None)
    try:
        words = shlex.split(text)
    except ValueError as exc:
        raise ConfigError(f"-e {value!r}: {exc}")
    if not words:
        raise ConfigError("-e needs KEY=VALUE, @FILE or a YAML mapping")
    result: dict[str, Any] = {}
    for word in words:
        key, sep, val = word.partition("=")
        if not sep or not key.isidentifier():
            raise ConfigError(f"-e {word!r}: expected KEY=VALUE (KEY a variable name), @FILE or a YAML mapping")
        result[key] = val
    return result


def _as_vars(data: Any, file: str, line: int | None) -> dict[str, Any]:
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError("extra vars must be a mapping of names to values", file=file, line=line)
    for key in data:
        if not isinstance(key, str) or not key.isidentifier():
            raise ConfigError(f"variable name {key!r} is not a valid identifier", file=file, line=line)
    return plain(data)
