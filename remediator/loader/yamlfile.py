"""YAML that remembers where each mapping, list and key came from, and refuses duplicate keys.

Every input file is untrusted: it is read only if it is a regular file of bounded size (a FIFO or a
device would block or never end), its aliases may not expand past a bound (an alias bomb), nor its
nesting go deeper than a bound (Python's recursion), nor its integers grow past a bound. Scalars are
read with YAML 1.2's core schema: `1:4` is text, not 64 in base 60; `yes`, `no`, `on` and `off` are
text, not booleans; `010` is text, not 8.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path
from typing import Any

import yaml

from remediator.errors import ConfigError, short

MAX_FILE_BYTES = 8 * 1024 * 1024  # an inventory of 50,000 accounts is about 7 MB
# Files remediator writes and reads back (plans, journals, shard results) grow with the changes: bounded
# all the same, so that /dev/zero or a FIFO given in their place is refused, not read for ever.
MACHINE_FILE_BYTES = 1024 * 1024 * 1024
MAX_DEPTH = 50  # nesting of mappings and lists, aliases expanded (a playbook needs about 12)
MAX_ALIAS_NODES = 100_000  # nodes that aliases may add once expanded
MAX_INT_DIGITS = 30  # digits of an integer (AWS's largest integer parameters have 19)


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


class _Resolver(yaml.resolver.BaseResolver):
    """YAML 1.2 core schema for booleans, numbers and null; dates as YAML 1.1 (waivers and vars use them).

    Numbers are read only in their unambiguous forms: an integer with a leading zero, an underscore or a
    colon (`010`, `1_000`, `1:4`) is text, so an option that wants a number says so instead of taking
    YAML 1.1's octal or base-60 reading.
    """


_Resolver.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)
_Resolver.add_implicit_resolver(
    "tag:yaml.org,2002:int",
    re.compile(r"^(?:[-+]?(?:0|[1-9][0-9]*)|0o[0-7]+|0x[0-9a-fA-F]+)$"),
    list("-+0123456789"),
)
_Resolver.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"^(?:[-+]?(?:\.[0-9]+|(?:0|[1-9][0-9]*)(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
    ),
    list("-+0123456789."),
)
_Resolver.add_implicit_resolver("tag:yaml.org,2002:merge", re.compile(r"^(?:<<)$"), ["<"])
_Resolver.add_implicit_resolver("tag:yaml.org,2002:null", re.compile(r"^(?:~|null|Null|NULL|)$"), ["~", "n", "N", ""])
_Resolver.add_implicit_resolver(
    "tag:yaml.org,2002:timestamp",
    re.compile(
        r"""^(?:[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]
        |[0-9][0-9][0-9][0-9] -[0-9][0-9]? -[0-9][0-9]?
        (?:[Tt]|[ \t]+)[0-9][0-9]?
        :[0-9][0-9] :[0-9][0-9] (?:\.[0-9]*)?
        (?:[ \t]*(?:Z|[-+][0-9][0-9]?(?::[0-9][0-9])?))?)$""",
        re.X,
    ),
    list("0123456789"),
)


class _Loader(
    yaml.reader.Reader,
    yaml.scanner.Scanner,
    yaml.parser.Parser,
    yaml.composer.Composer,
    yaml.constructor.SafeConstructor,
    _Resolver,
):
    """A safe loader that builds LocDict/LocList, rejects duplicate keys, and bounds depth and aliases."""

    def __init__(self, stream: Any, filename: str, *, strict: bool = True) -> None:
        yaml.reader.Reader.__init__(self, stream)
        yaml.scanner.Scanner.__init__(self)
        yaml.parser.Parser.__init__(self)
        yaml.composer.Composer.__init__(self)
        yaml.constructor.SafeConstructor.__init__(self)
        _Resolver.__init__(self)
        self.filename = filename
        self.strict = strict
        self.depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        # The composer recurses once per level: stop well before Python's recursion limit does.
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                mark = self.peek_event().start_mark
                raise ConfigError(f"nested more than {MAX_DEPTH} levels deep", file=self.filename, line=mark.line + 1)
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1

    def fetch_flow_collection_start(self, token_class: Any) -> None:
        # Stop at the bracket that goes too deep: the scanner looks up to 1,024 characters ahead for
        # a key at every open bracket, which makes a long run of them slow before the composer's
        # bound is ever reached.
        if self.flow_level >= MAX_DEPTH:
            raise ConfigError(
                f"nested more than {MAX_DEPTH} levels deep", file=self.filename, line=self.get_mark().line + 1
            )
        super().fetch_flow_collection_start(token_class)

    def error(self, message: str, node: yaml.Node) -> ConfigError:
        return ConfigError(message, file=self.filename, line=node.start_mark.line + 1)

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


_INT = re.compile(r"([-+]?)(?:0x([0-9a-fA-F]+)|0o([0-7]+)|([0-9]+))")
_FLOAT = re.compile(r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|nan)", re.I)


def _int(loader: _Loader, node: yaml.Node) -> int:
    """An integer in YAML 1.2's forms (decimal, 0x, 0o), of at most MAX_INT_DIGITS digits."""
    text = str(loader.construct_scalar(node))
    match = _INT.fullmatch(text.strip())
    if not match:
        raise loader.error(f"{short(text)} is not an integer", node)
    sign, hexa, octal, decimal = match.groups()
    digits = hexa or octal or decimal
    if len(digits) > MAX_INT_DIGITS:
        raise loader.error(f"an integer of {len(digits)} digits is too large (at most {MAX_INT_DIGITS})", node)
    value = int(hexa, 16) if hexa else int(octal, 8) if octal else int(decimal)
    return -value if sign == "-" else value


def _float(loader: _Loader, node: yaml.Node) -> float:
    text = str(loader.construct_scalar(node)).strip()
    if len(text) > 100 or not _FLOAT.fullmatch(text):
        raise loader.error(f"{short(text)} is not a number", node)
    special = text.lower().lstrip("+")
    if special in (".inf", "-.inf", ".nan"):
        return float(special.replace(".", ""))
    return float(text)


def _bool(loader: _Loader, node: yaml.Node) -> bool:
    text = str(loader.construct_scalar(node)).strip().lower()
    if text not in ("true", "false"):
        raise loader.error(f"{short(text)} is not a boolean: write true or false", node)
    return text == "true"


def _unsupported(loader: _Loader, node: yaml.Node) -> Any:
    """Tags beyond YAML's core schema (!!binary, !!set, !!python/…, !custom) build nothing remediator reads."""
    tag = short(str(node.tag).replace("tag:yaml.org,2002:", "!!"))
    raise loader.error(f"YAML tag {tag} is not supported: write a plain value, list or mapping", node)


def _timestamp(loader: _Loader, node: yaml.ScalarNode) -> Any:
    """A YAML date or time; one that does not exist (2027-02-30) is bad input with its line, where
    SafeLoader raises a bare ValueError."""
    try:
        return yaml.SafeLoader.construct_yaml_timestamp(loader, node)
    except (ValueError, TypeError, AttributeError, OverflowError) as exc:  # AttributeError: !!timestamp nope
        reason = f": {exc}" if isinstance(exc, ValueError) else ""
        raise ConfigError(
            f"{short(node.value)} is not a date{reason}", file=loader.filename, line=node.start_mark.line + 1
        ) from None


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _Loader.construct_mapping)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _Loader.construct_sequence)
_Loader.add_constructor("tag:yaml.org,2002:timestamp", _timestamp)
_Loader.add_constructor("tag:yaml.org,2002:int", _int)
_Loader.add_constructor("tag:yaml.org,2002:float", _float)
_Loader.add_constructor("tag:yaml.org,2002:bool", _bool)
for _tag in ("binary", "set", "omap", "pairs", "value", "yaml"):
    _Loader.add_constructor(f"tag:yaml.org,2002:{_tag}", _unsupported)
_Loader.add_constructor(None, _unsupported)


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


def read_bytes(path: str | Path, what: str = "file", limit: int = MAX_FILE_BYTES) -> bytes:
    """The bytes of a regular file of at most `limit` bytes; anything else is a ConfigError naming it.

    The file is opened without blocking and checked before it is read: opening a FIFO for reading
    would wait for a writer, and a device (/dev/zero) never ends. At most limit + 1 bytes are read,
    as a file's stated size may be 0 (/proc) or change while it is read.
    """
    name = str(path)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise ConfigError(f"{what} not found", file=name) from None
    except IsADirectoryError:
        raise ConfigError(f"{what} is a directory, not a file", file=name) from None
    except (OSError, ValueError) as exc:  # ValueError: a NUL in the name
        raise ConfigError(f"cannot read {what}: {getattr(exc, 'strerror', None) or exc}", file=name) from None
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise ConfigError(f"{what} is a directory, not a file", file=name)
        if not stat.S_ISREG(mode):
            raise ConfigError(f"{what} is not a regular file (a FIFO, device or socket): refused", file=name)
        if os.fstat(fd).st_size > limit:
            raise ConfigError(f"{what} is larger than {_megabytes(limit)}: refused", file=name)
        chunks: list[bytes] = []
        size = 0
        while size <= limit:
            chunk = os.read(fd, min(1 << 20, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except OSError as exc:
        raise ConfigError(f"cannot read {what}: {exc.strerror or exc}", file=name) from None
    finally:
        os.close(fd)
    if size > limit:
        raise ConfigError(f"{what} is larger than {_megabytes(limit)}: refused", file=name)
    return b"".join(chunks)


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):g} MB" if size >= 1024 * 1024 else f"{size // 1024} KB"


def decode(data: bytes, filename: str, what: str = "file") -> str:
    """UTF-8 text; bytes that are not are a ConfigError with the line they are on."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ConfigError(
            f"{what} is not UTF-8 text (byte 0x{data[exc.start]:02x})", file=filename, line=line
        ) from None


def read_text(path: str | Path, what: str = "file", limit: int = MAX_FILE_BYTES) -> str:
    """A regular file's UTF-8 text (see `read_bytes`)."""
    return decode(read_bytes(path, what, limit), str(path), what)


def parse_bytes(data: bytes, filename: str, *, what: str = "file", strict: bool = True) -> Any:
    """Parse YAML already read (see `read_bytes`): for callers that also hash the bytes they parsed."""
    return _parse(decode(data, filename, what), filename, strict=strict)


def _read(path: str | Path, what: str) -> str:
    return read_text(path, what)


def _parse(text: str, filename: str, *, strict: bool) -> Any:
    loader = None
    try:
        loader = _Loader(text, filename, strict=strict)  # checks for control characters at once
        node = loader.get_single_node()
        if node is None:
            return None
        _check_expansion(node, filename)
        return loader.construct_document(node)
    except ConfigError:
        raise
    except yaml.reader.ReaderError as exc:
        raise _reader_error(exc, text, filename) from None
    except RecursionError:  # the bounds above were not enough for the stack the loader was called on
        raise ConfigError(f"nested too deeply (more than {MAX_DEPTH} levels)", file=filename) from None
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
        raise ConfigError(f"YAML syntax error: {problem}", file=filename, line=line) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"YAML error: {' '.join(str(exc).split())}", file=filename) from None
    finally:
        if loader is not None:
            loader.dispose()


def _reader_error(exc: yaml.reader.ReaderError, text: str, filename: str) -> ConfigError:
    """A character YAML does not allow in a file (NUL, an escape, other controls), with its line."""
    position = exc.position if isinstance(exc.position, int) else 0
    code = exc.character if isinstance(exc.character, int) else ord(str(exc.character)[:1] or "\0")
    return ConfigError(
        f"character U+{code:04X} is not allowed in YAML text (in a double-quoted string, write it as an escape)",
        file=filename,
        line=text[:position].count("\n") + 1,
    )


def _check_expansion(root: yaml.Node, filename: str) -> None:
    """Refuse a document whose aliases expand past MAX_ALIAS_NODES nodes or MAX_DEPTH levels, or that
    contains itself: what reads the values (copying, schema checks) walks them expanded.

    Sizes are computed once per node (an alias shares its anchor's), without recursion.
    """
    size: dict[int, int] = {}
    depth: dict[int, int] = {}
    on_path: set[int] = set()
    distinct = 0
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        children = _children(node)
        if done:
            on_path.discard(key)
            size[key] = 1 + sum(size[id(c)] for c in children)
            depth[key] = 1 + max((depth[id(c)] for c in children), default=0)
            if depth[key] > MAX_DEPTH:
                raise ConfigError(
                    f"nested more than {MAX_DEPTH} levels deep once aliases are expanded",
                    file=filename,
                    line=node.start_mark.line + 1,
                )
            if size[key] > distinct + MAX_ALIAS_NODES:
                raise ConfigError(
                    f"aliases expand to more than {MAX_ALIAS_NODES:,} nodes (an alias bomb?)",
                    file=filename,
                    line=node.start_mark.line + 1,
                )
            continue
        if key in size:
            continue
        on_path.add(key)
        distinct += 1
        stack.append((node, True))
        for child in children:
            if id(child) in on_path:
                raise ConfigError(
                    "an alias refers to a mapping or list that contains it",
                    file=filename,
                    line=child.start_mark.line + 1,
                )
            if id(child) not in size:
                stack.append((child, False))


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    return []


def plain(value: Any) -> Any:
    """Strip location wrappers: LocDict/LocList → dict/list, recursively."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value
