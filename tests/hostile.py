"""Hostile and careless input, shared by the loader's unit tests and the CLI corpus.

What an attacker or a careless user puts in a playbook, an inventory, a vars file or `-e`: YAML that
expands or nests without end, numbers YAML 1.1 reads otherwise than they look, tags, control
characters, integers past any use, templates that would compute, loop or allocate for ever, and files
that are not files. Each value here must be refused (one line, naming the file), quickly, and before
any AWS call.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

ANSWER_SECONDS = 5.0  # each case must be answered within this (a hang is the failure, not the time)
SECRET_NAME = "REMEDIATOR_HOSTILE_SECRET"
SECRET = "hostile-secret-value-7c41e9"  # set in the environment; must never appear in any output


def answer(function: Callable[..., T], *args: Any, seconds: float = ANSWER_SECONDS) -> T:
    """function(*args), in a thread that must finish within `seconds`.

    A thread, not signal.alarm: a signal handler runs between bytecodes only, and a hang in one C
    call (7 ** 10 ** 9, str * 10 ** 9) never reaches the next bytecode. A hung thread is left behind
    (daemon) and the test fails."""
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["value"] = function(*args)
        except BaseException as exc:  # handed to the caller as it was raised
            outcome["error"] = exc

    worker = threading.Thread(target=target, daemon=True)
    worker.start()
    worker.join(seconds)
    if worker.is_alive():
        raise AssertionError(f"no answer within {seconds} s: {args!r:.200}")
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


# --- YAML scalars that must not be read as what an option wants ---------------------------------

# (id, YAML text): each would be read as an integer, a boolean or data by YAML 1.1 or by a lax loader.
YAML_SCALARS: list[tuple[str, str]] = [
    ("base60", "1:4"),
    ("base60-time", "1:30:00"),
    ("base60-negative", "-2:10"),
    ("yaml11-octal", "010"),
    ("yaml11-binary", "0b101"),
    ("yaml11-underscore", "1_000"),
    ("yaml11-yes", "yes"),
    ("yaml11-off", "Off"),
    ("yaml11-y", "y"),
    ("int-31-digits", "9" * 31),
    ("int-100-digits", "1" * 100),
    ("int-4301-digits", "7" * 4301),
    ("int-5000-digits", "5" * 5000),
    ("int-negative-5000-digits", "-" + "5" * 5000),
    ("hex-40-digits", "0x" + "f" * 40),
    ("tag-int-abc", "!!int abc"),
    ("tag-int-base60", "!!int 1:4"),
    ("tag-float-word", "!!float x"),
    ("tag-bool-yes", "!!bool yes"),
    ("tag-binary", "!!binary aGVsbG8="),
    ("tag-set", "!!set {a, b}"),
    ("tag-omap", "!!omap [a: 1]"),
    ("tag-pairs", "!!pairs [a: 1]"),
    ("tag-python-apply", "!!python/object/apply:os.system [id]"),
    ("tag-python-name", "!!python/name:os.system"),
    ("tag-custom", "!vault abc"),
    ("tag-timestamp-word", "!!timestamp nope"),
    ("escaped-nul", '"a\\x00b"'),
    ("escaped-escape", '"\\e[2J"'),
    ("escaped-line-separator", '"a\\u2028b"'),
    ("escaped-del", '"\\x7f"'),
    ("infinity", ".inf"),
    ("not-a-number", ".nan"),
    ("float-overflow", "1e999"),
    ("float", "6.5"),
    ("date-that-does-not-exist", "2026-02-30"),
    ("month-13", "2026-13-01"),
    ("date", "2026-01-01"),
    ("long-string", "x" * 20000),
    ("flow-list", "[1, 2]"),
    ("flow-mapping", "{a: 1}"),
    ("nested-empty-lists", "[[[[]]]]"),
    ("undefined-alias", "*nowhere"),
    ("null", "~"),
]

# Raw characters YAML does not allow in a file at all: the whole file is refused, with the line.
RAW_CONTROL: list[tuple[str, str]] = [
    ("raw-nul", "a\x00b"),
    ("raw-escape", "\x1b[2J"),
    ("raw-bell", "a\x07"),
    ("raw-backspace", "\x08x"),
    ("raw-c1", "a\x9bb"),
]

# --- templates that would run for ever, or allocate without end ----------------------------------

TEMPLATE_BOMBS: list[tuple[str, str]] = [
    ("power-tower", "{{ 7 ** (10 ** 9) }}"),
    ("power-big-exponent", "{{ 2 ** 100000 }}"),
    ("power-of-power", "{{ (10 ** 4000) ** 3 }}"),
    ("product-of-big-ints", "{{ (10 ** 1200) * (10 ** 1200) * (10 ** 1200) * (10 ** 1200) }}"),
    ("string-repeat", '{{ "x" * 10 ** 9 }}'),
    ("list-repeat", "{{ [0] * 10 ** 8 }}"),
    ("repeat-twice", '{{ "ab" * 999999 * 2 }}'),
    ("nested-range-loops", "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"),
    ("huge-range", "{% for i in range(10 ** 7) %}{% endfor %}"),
    ("range-to-list", "{{ range(10 ** 9) | list }}"),
    ("printf-width", '{{ "%999999999d" % 1 }}'),
    ("printf-star-width", '{{ "%*d" % (10 ** 9, 1) }}'),
    ("format-width", '{{ "{:>999999999}".format(1) }}'),
    ("format-nested-width", '{{ "{:{w}}".format(1, w=10 ** 9) }}'),
    ("format-map-width", '{{ "{a:>999999999}".format_map({"a": 1}) }}'),
    ("filter-center", '{{ "x" | center(999999999) }}'),
    ("filter-indent", '{{ "x\\ny" | indent(999999999) }}'),
    ("filter-batch", "{{ [1] | batch(999999999, 0) | list }}"),
    ("filter-slice", "{{ [1] | slice(999999999, 0) | list }}"),
    ("filter-wordwrap", '{{ ("x " * 1000) | wordwrap(999999999) }}'),
    ("filter-format", '{{ "%999999999s" | format("x") }}'),
    ("filter-replace", '{{ ("x" * 100000) | replace("", "y" * 100) }}'),
    ("filter-tojson-indent", "{{ {'a': [1, [2]]} | tojson(indent=999999999) }}"),
    ("filter-sum-lists", "{{ ([[0] * 1000] * 2000) | sum(start=[]) }}"),
    ("filter-join", '{{ (range(100000) | list) | join("y" * 100) }}'),
    ("method-ljust", '{{ "x".ljust(10 ** 9) }}'),
    ("method-zfill", '{{ "x".zfill(999999999) }}'),
    ("method-expandtabs", '{{ "\\t\\t".expandtabs(999999999) }}'),
    ("method-replace", '{{ ("x" * 100000).replace("", "y" * 100) }}'),
    ("method-join-generator", '{{ ("y" * 1000).join(range(100000) | map("string")) }}'),
    ("concat-doubling", '{% set n = namespace(s="x") %}{% for i in range(64) %}{% set n.s = n.s ~ n.s %}{% endfor %}'),
    ("plus-doubling", "{% set n = namespace(l=[1]) %}{% for i in range(64) %}{% set n.l = n.l + n.l %}{% endfor %}"),
    (
        "extend-doubling",
        "{% set n = namespace(l=[1]) %}{% for i in range(64) %}{% set _ = n.l.extend(n.l) %}{% endfor %}",
    ),
    (
        "quadratic-append",
        "{% set n = namespace(l=[]) %}{% for i in range(100000) %}{% set n.l = n.l + [i] %}{% endfor %}",
    ),
    ("list-contains-itself", "{% set n = namespace(l=[]) %}{% set _ = n.l.append(n.l) %}{{ n.l }}"),
    ("shared-sublists", "{% set a = [1] * 1000 %}{% set b = [a] * 1000 %}{{ [b] * 1000 }}"),
    ("macro-fan-out", "{% macro f(n) %}{% if n %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(40) }}"),
    ("macro-recursion", "{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}"),
    ("string-loop-squared", '{% for x in "x" * 999999 %}{% for y in "y" * 999999 %}{% endfor %}{% endfor %}'),
    ("sort-thrice", "{{ (range(100000) | list) | sort | sort | sort }}"),
    ("lipsum", "{{ lipsum(100000) }}"),
    ("class-escape", "{{ ().__class__.__base__.__subclasses__() }}"),
    ("globals-escape", "{{ self.__init__.__globals__ }}"),
    ("int-literal-5000-digits", "{{ 1" + "0" * 5000 + " }}"),
    ("nested-brackets-output", '{{ "[" * 5000 ~ "]" * 5000 }}'),
    ("undefined-variable", "{{ nowhere }}"),
    ("syntax-error", "{{ 1 + }}"),
    ("unset-environment-variable", '{{ lookup_env("REMEDIATOR_HOSTILE_NEVER_SET") }}'),
    ("environment-name-not-text", "{{ lookup_env(12) }}"),
    ("template-path-not-text", "{{ template(12) }}"),
    ("template-path-escape", '{{ template("../../etc/passwd") }}'),
    ("template-missing", '{{ template("nowhere.json.j2") }}'),
]


def alias_bomb(levels: int = 9, fanout: int = 10, indent: str = "") -> str:
    """Billion laughs: `levels` anchors, each a list of `fanout` aliases of the one before."""
    lines = [f"{indent}l0: &l0 [{', '.join(['lol'] * fanout)}]"]
    for level in range(1, levels):
        lines.append(f"{indent}l{level}: &l{level} [{', '.join([f'*l{level - 1}'] * fanout)}]")
    return "\n".join(lines) + "\n"


def flow_nesting(depth: int) -> str:
    return "[" * depth + "]" * depth


def block_nesting(depth: int, indent: int = 0) -> str:
    """A mapping nested `depth` levels deep, block style, starting at `indent` spaces."""
    return "".join(" " * (indent + 2 * level) + f"k{level}:\n" for level in range(depth))
