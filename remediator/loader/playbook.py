"""Playbook files → Playbook: structure check, module lookup and option checks, all with file:line."""

from __future__ import annotations

import difflib
import hashlib
import os
from pathlib import Path
from typing import Any

from remediator import registry
from remediator.errors import ArgError, ConfigError, short
from remediator.loader import yamlfile
from remediator.loader.schema import PLAY_KEYS, TASK_KEYS, check_args
from remediator.loader.yamlfile import LocDict, LocList, plain
from remediator.model import Location, Play, Playbook, Task
from remediator.templating import is_template


def load_playbook(path: str | Path) -> Playbook:
    name = str(path)
    content = yamlfile.read_bytes(path, "playbook")
    # Duplicate keys are reported below, where the play, task and option they belong to are known.
    data = yamlfile.parse_bytes(content, name, what="playbook", strict=False)
    if not isinstance(data, list):
        _reject_duplicates(data, name)
        raise ConfigError("a playbook is a list of plays", file=name, line=getattr(data, "line", 1))
    plays = []
    for index, raw in enumerate(data):
        line = data.item_lines[index] if isinstance(data, LocList) else None
        plays.append(_load_play(raw, name, line))
    _reject_duplicates(data, name)  # any the plays and tasks did not already report
    digest = hashlib.sha256(content).hexdigest()
    return Playbook(path=name, plays=tuple(plays), digest=digest)


def _load_play(raw: Any, file: str, line: int | None) -> Play:
    if not isinstance(raw, LocDict):
        raise ConfigError("each play must be a mapping", file=file, line=line)
    play_keys = LocDict({k: v for k, v in raw.items() if k != "tasks"})
    play_keys.duplicates = raw.duplicates
    _reject_duplicates(play_keys, file)
    _reject_unknown(raw, PLAY_KEYS, file, "play key")
    play_name = raw.get("name") or "unnamed play"
    if not isinstance(play_name, str):
        raise ConfigError("play name must be a string", file=file, line=raw.line_of("name"))
    if "accounts" in raw and "hosts" in raw:
        raise ConfigError("give 'accounts' or its alias 'hosts', not both", file=file, line=raw.line_of("hosts"))
    pattern = raw.get("accounts", raw.get("hosts", "all"))
    if not isinstance(pattern, str) or not pattern.strip():
        raise ConfigError("'accounts' must be an inventory pattern string", file=file, line=raw.line_of("accounts"))
    variables = dict(_mapping(raw.get("vars"), file, raw.line_of("vars"), "vars"))
    for entry, entry_line in _vars_files(raw, file):
        target = Path(file).parent / entry
        if not os.path.lexists(target):
            raise ConfigError(
                f"vars file {entry!r} not found: no file {target} (vars_files are relative to the playbook)",
                file=file,
                line=entry_line,
            )
        try:
            data = yamlfile.read_bytes(target, "vars file")
        except ConfigError as exc:  # named where the playbook lists it
            raise ConfigError(f"vars file {short(entry)}: {exc.message}", file=file, line=entry_line) from None
        loaded = yamlfile.parse_bytes(data, str(target), what="vars file")
        variables.update(_mapping(loaded, str(target), getattr(loaded, "line", 1), "vars file"))
    if "tasks" not in raw:
        raise ConfigError(
            f"play {play_name!r} has no 'tasks': give its tasks as a list (an empty list, tasks: [], is allowed)",
            file=file,
            line=line,
        )
    tasks_raw = raw.get("tasks")
    if not isinstance(tasks_raw, list):
        raise ConfigError("'tasks' must be a list", file=file, line=raw.line_of("tasks"))
    tasks = []
    for index, task_raw in enumerate(tasks_raw):
        task_line = tasks_raw.item_lines[index] if isinstance(tasks_raw, LocList) else raw.line_of("tasks")
        tasks.append(_load_task(task_raw, file, task_line))
    return Play(
        name=play_name,
        pattern=pattern.strip(),
        tasks=tuple(tasks),
        location=Location(file, line),
        vars=plain(variables),
    )


def _vars_files(raw: LocDict, file: str) -> list[tuple[str, int | None]]:
    value = raw.get("vars_files")
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError("'vars_files' must be a list of file names", file=file, line=raw.line_of("vars_files"))
    lines = value.item_lines if isinstance(value, LocList) else [raw.line_of("vars_files")] * len(value)
    return list(zip(value, lines, strict=True))


def _mapping(value: Any, file: str, line: int | None, what: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigError(f"{what} must be a mapping", file=file, line=line)
    for key in value:
        if not isinstance(key, str) or not key.isidentifier():
            raise ConfigError(
                f"variable name {key!r} is not a valid identifier", file=file, line=_line(value, key, line)
            )
    return value


def _line(value: Any, key: str, default: int | None) -> int | None:
    return value.line_of(key) if isinstance(value, LocDict) else default


def _reject_unknown(raw: LocDict, known: tuple[str, ...], file: str, what: str) -> None:
    for key in raw:
        if key not in known:
            hint = difflib.get_close_matches(str(key), known, n=1)
            extra = f"; did you mean {hint[0]!r}?" if hint else f" (known: {', '.join(known)})"
            raise ConfigError(f"unknown {what} {key!r}{extra}", file=file, line=raw.line_of(key))


def _load_task(raw: Any, file: str, line: int | None) -> Task:
    if not isinstance(raw, LocDict):
        raise ConfigError("each task must be a mapping", file=file, line=line)
    modules = [k for k in raw if k not in TASK_KEYS and registry.has(str(k))]
    _reject_duplicates(raw, file, task=raw.get("name") if isinstance(raw.get("name"), str) else None, modules=modules)
    unknown = [k for k in raw if k not in TASK_KEYS and not registry.has(str(k))]
    task_name = raw.get("name")
    if task_name is not None and not isinstance(task_name, str):
        raise ConfigError("task name must be a string", file=file, line=raw.line_of("name"))
    label = task_name
    if unknown:
        key = unknown[0]
        hint = difflib.get_close_matches(str(key), [*registry.names(), *TASK_KEYS], n=1)
        extra = f"; did you mean {hint[0]!r}?" if hint else ""
        raise ConfigError(f"unknown module or task key {key!r}{extra}", file=file, line=raw.line_of(key), task=label)
    if not modules:
        raise ConfigError(
            f"task names no module (one of: {', '.join(registry.names())})", file=file, line=line, task=label
        )
    if len(modules) > 1:
        raise ConfigError(
            f"task names more than one module: {', '.join(modules)}",
            file=file,
            line=raw.line_of(modules[1]),
            task=label,
        )
    module_name = modules[0]
    label = task_name or module_name
    args = raw.get(module_name)
    if args is None:
        args = LocDict()
        args.line, args.key_lines = raw.line_of(module_name), {}
    if not isinstance(args, LocDict):
        raise ConfigError("module options must be a mapping", file=file, line=raw.line_of(module_name), task=label)
    for field, message in check_args(module_name, args, rendered=False):
        top = field.split(".")[0] if field else None
        raise ConfigError(message, file=file, line=_option_line(args, top), task=label, field=field)
    if not any(is_template(v) for v in _leaves(args)):
        try:
            registry.get(module_name).validate(plain(args))
        except ArgError as exc:
            raise ConfigError(
                exc.message,
                file=file,
                line=_option_line(args, exc.field.split(".")[0] if exc.field else None),
                task=label,
                field=exc.field,
            )
    tags = raw.get("tags", [])
    if isinstance(tags, str):
        tags = [t.strip() for t in tags.split(",") if t.strip()]
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise ConfigError("'tags' must be a list of strings", file=file, line=raw.line_of("tags"), task=label)
    max_changes = raw.get("max_changes")
    if max_changes is not None and not is_template(max_changes):  # noqa: SIM102
        if not isinstance(max_changes, int) or isinstance(max_changes, bool) or max_changes < 0:
            raise ConfigError(
                "'max_changes' must be a whole number, 0 or more",
                file=file,
                line=raw.line_of("max_changes"),
                task=label,
            )
    lint = raw.get("lint", "warn")
    if lint not in ("warn", "error"):
        raise ConfigError("'lint' must be 'warn' or 'error'", file=file, line=raw.line_of("lint"), task=label)
    when = raw.get("when")
    conditions = when if isinstance(when, list) else [when]
    if when is not None and not all(isinstance(c, str | bool) for c in conditions):
        raise ConfigError(
            "'when' must be an expression, a boolean or a list of them", file=file, line=raw.line_of("when"), task=label
        )
    loop = raw.get("loop")
    if loop is not None and not isinstance(loop, list | str):
        raise ConfigError("'loop' must be a list or a template", file=file, line=raw.line_of("loop"), task=label)
    return Task(
        name=label,
        module=module_name,
        args=plain(args),
        location=Location(file, line),
        arg_lines=dict(args.key_lines),
        key_lines=dict(raw.key_lines),
        when=plain(when),
        loop=plain(loop),
        tags=tuple(tags),
        max_changes=max_changes,
        lint=lint,
    )


def _option_line(args: LocDict, option: str | None) -> int | None:
    """The line of an option (named as text, though YAML may have read the key as a number), else the module's."""
    if option is None:
        return args.line
    for key, line in args.key_lines.items():
        if str(key) == option:
            return line
    return args.line


def _reject_duplicates(value: Any, file: str, task: str | None = None, modules: list[Any] | None = None) -> None:
    """The first key given twice in value, as an error naming its task and, in module options, its option."""
    duplicate = yamlfile.first_duplicate(value)
    if duplicate is None:
        return
    key, line, first, path = duplicate
    option = None
    if modules and len(path) > 1 and path[0] in modules:
        option = ".".join(str(p) for p in path[1:])
    label = task or (str(modules[0]) if modules else None)
    raise ConfigError(f"duplicate key {key!r} (first at line {first})", file=file, line=line, task=label, field=option)


def _leaves(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return [leaf for v in value.values() for leaf in _leaves(v)]
    if isinstance(value, list):
        return [leaf for v in value for leaf in _leaves(v)]
    return [value]
