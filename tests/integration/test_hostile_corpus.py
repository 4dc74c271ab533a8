"""Hostile and careless input through the CLI, as `remediator validate` and `remediator run --check`.

Every case must be answered within a few seconds with exit 1 and one line on stderr that names the
file (and its line, where there is one), with no traceback and no internal error, no value echoed at
length, no secret, and not one AWS call. The corpus: each hostile value of tests/hostile.py placed
where a playbook, a vars file, an inventory or `-e` can hold it, plus a hand list of files that are
not files, alias bombs, nesting, and the cases named in the issue.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from remediator.aws import session
from tests.conftest import cli
from tests.hostile import (
    RAW_CONTROL,
    SECRET,
    SECRET_NAME,
    TEMPLATE_BOMBS,
    YAML_SCALARS,
    alias_bomb,
    answer,
    block_nesting,
    flow_nesting,
)

NOWHERE = "http://127.0.0.1:9"  # nothing listens: a call would fail, and be recorded
OPTION_LINE = 8  # minimum_length in `book()`
TEMPLATE_ENV = "REMEDIATOR_HOSTILE_TEMPLATE"  # an environment value that looks like a template


def book(
    option: str = "14",
    var: str | None = "14",
    keys: tuple[str, ...] = (),
    vars_files: tuple[str, ...] = (),
    name: str = "Strong passwords",
    module: str = "iam_password_policy:\n        minimum_length: {option}",
) -> str:
    """One play: vars on lines 3-4, tasks from 5, the task's name on 6, minimum_length on 8, then keys."""
    lines = ["- name: baseline", "  accounts: all", "  vars:", f"    v: {var}" if var is not None else "    w: 1"]
    if vars_files:
        lines.append(f"  vars_files: [{', '.join(vars_files)}]")
    lines += ["  tasks:", f"    - name: {name}", "      " + module.format(option=option)]
    lines += [f"      {key}" for key in keys]
    return "\n".join(lines) + "\n"


def inventory(*settings: str, head: str = "") -> str:
    """Group 'all' (its vars from `head`) with account 'test' on line 3 (after head), its settings from line 5."""
    body = ["all:", *([head] if head else []), "  accounts:", "    test:", f"      endpoint_url: {NOWHERE}"]
    return "\n".join(body + [f"      {s}" for s in settings]) + "\n"


def quote(text: str) -> str:
    """text as a single-quoted YAML scalar (a template holds both kinds of quotes)."""
    return "'" + text.replace("'", "''") + "'"


@dataclass(frozen=True)
class Hostile:
    id: str
    files: dict[str, str | bytes]
    extra: tuple[str, ...] = ()  # arguments for both commands (-e …)
    where: tuple[str, ...] = ("play.yml",)  # the error names one of these files; () when there is none
    line: bool = True  # with a line number
    says: tuple[str, ...] = ()
    playbook: str = "play.yml"
    inventory: str = "inv.yml"
    setup: Callable[[Path], None] | None = None  # FIFOs, symlinks, big files
    run_extra: tuple[str, ...] = ()  # arguments `run` takes and `validate` does not
    env: dict[str, str] = field(default_factory=dict)


# --- hostile values placed where input can hold them ---------------------------------------------

USES_V = '"{{ v }}"'


def _slot_option(x: str) -> dict[str, Any]:
    return {"files": {"play.yml": book(option=x)}}


def _slot_vars(x: str) -> dict[str, Any]:
    return {"files": {"play.yml": book(option=USES_V, var=x)}}


def _slot_vars_file(x: str) -> dict[str, Any]:
    files = {"play.yml": book(option=USES_V, vars_files=("vars.yml",)), "vars.yml": f"v: {x}\n"}
    return {"files": files, "where": ("vars.yml", "play.yml")}


def _slot_inventory_var(x: str) -> dict[str, Any]:
    files = {"play.yml": book(option=USES_V, var=None), "inv.yml": inventory(f"v: {x}")}
    return {"files": files, "where": ("inv.yml", "play.yml")}


def _slot_group_var(x: str) -> dict[str, Any]:
    files = {"play.yml": book(option=USES_V, var=None), "inv.yml": inventory(head=f"  vars:\n    v: {x}")}
    return {"files": files, "where": ("inv.yml", "play.yml")}


def _slot_extra_file(x: str) -> dict[str, Any]:
    files = {"play.yml": book(option=USES_V), "extra.yml": f"v: {x}\n"}
    return {"files": files, "extra": ("-e", "@extra.yml"), "where": ("extra.yml", "play.yml")}


def _slot_extra_inline(x: str) -> dict[str, Any]:
    return {"files": {"play.yml": book(option=USES_V)}, "extra": ("-e", f"{{v: {x}}}"), "where": ("-e", "play.yml")}


def _slot_extra_pair(x: str) -> dict[str, Any]:
    return {"files": {"play.yml": book(option=USES_V)}, "extra": ("-e", "v=" + shlex.quote(x))}


def _slot_when(x: str) -> dict[str, Any]:
    return {"files": {"play.yml": book(keys=(f"when: {x}",))}}


def _slot_loop(x: str) -> dict[str, Any]:
    return {"files": {"play.yml": book(keys=(f"loop: {x}",))}}


def _slot_name(x: str) -> dict[str, Any]:
    return {"files": {"play.yml": book(name=x)}}


def _slot_max_changes(x: str) -> dict[str, Any]:
    return {"files": {"play.yml": book(keys=(f"max_changes: {x}",))}}


def _slot_region(x: str) -> dict[str, Any]:
    return {"files": {"inv.yml": inventory(f"region: {x}")}, "where": ("inv.yml",)}


def _slot_document(x: str) -> dict[str, Any]:
    module = "iam_policy:\n        name: p\n        document: {option}"
    return {"files": {"play.yml": book(option=x, module=module)}}


SCALAR_SLOTS: dict[str, Callable[[str], dict[str, Any]]] = {
    "vars": _slot_vars,
    "vars-file": _slot_vars_file,
    "inventory-var": _slot_inventory_var,
    "extra-file": _slot_extra_file,
    "extra-inline": _slot_extra_inline,
    "when": _slot_when,
    "max-changes": _slot_max_changes,
    "region": _slot_region,
    "group-var": _slot_group_var,
    "extra-pair": _slot_extra_pair,
}
TEMPLATE_SLOTS: dict[str, Callable[[str], dict[str, Any]]] = {
    "vars": lambda x: _slot_vars(quote(x)),
    "vars-file": lambda x: _slot_vars_file(quote(x)),
    "inventory-var": lambda x: _slot_inventory_var(quote(x)),
    "extra-file": lambda x: _slot_extra_file(quote(x)),
    "extra-inline": lambda x: _slot_extra_inline(quote(x)),
    "extra-pair": _slot_extra_pair,
    "when": lambda x: _slot_when(quote(x)),
    "loop": lambda x: _slot_loop(quote(x)),
    "name": lambda x: _slot_name(quote(x)),
    "max-changes": lambda x: _slot_max_changes(quote(x)),
    "region": lambda x: _slot_region(quote(x)),
    "document": lambda x: _slot_document(quote(x)),
}
# Where a value is valid input after all (`when: 0b101` is a true expression, a name may be any text).
VALID_THERE = {
    ("when", "yaml11-binary"),
    ("when", "yaml11-underscore"),
    ("when", "null"),
    ("max-changes", "null"),
    ("region", "null"),
    ("extra-inline", "escaped-line-separator"),
    ("name", "nested-brackets-output"),  # a task may be named so
}


def _rotation(ids: list[str], slots: dict[str, Callable[[str], dict[str, Any]]], per_value: int) -> list[Hostile]:
    """Each value in `per_value` slots, taken in turn, so that every slot gets values of every kind."""
    names = list(slots)
    cases: list[Hostile] = []
    turn = 0
    for value_id, text in ids:
        placed = 0
        while placed < per_value:
            slot = names[turn % len(names)]
            turn += 1
            if (slot, value_id) in VALID_THERE:
                continue
            cases.append(Hostile(f"{value_id}@{slot}", **slots[slot](text)))
            placed += 1
    return cases


SCALAR_CASES = [Hostile(f"{i}@option", **_slot_option(text)) for i, text in YAML_SCALARS] + _rotation(
    YAML_SCALARS, SCALAR_SLOTS, 2
)
RAW_CASES = [
    Hostile(f"{i}@{slot}", **place(text))
    for i, text in RAW_CONTROL
    for slot, place in (
        ("option", _slot_option),
        ("vars-file", _slot_vars_file),
        ("inventory-var", _slot_inventory_var),
    )
]
TEMPLATE_CASES = [Hostile(f"{i}@option", **_slot_option(quote(text))) for i, text in TEMPLATE_BOMBS] + _rotation(
    TEMPLATE_BOMBS, TEMPLATE_SLOTS, 1
)


# --- files that are not files, and files too big ----------------------------------------------------


def _fifo(name: str) -> Callable[[Path], None]:
    def make(workdir: Path) -> None:
        (workdir / name).parent.mkdir(parents=True, exist_ok=True)
        os.mkfifo(workdir / name)

    return make


def _symlink(name: str, target: str) -> Callable[[Path], None]:
    def make(workdir: Path) -> None:
        (workdir / name).parent.mkdir(parents=True, exist_ok=True)
        os.symlink(target, workdir / name)

    return make


def _sparse(name: str, size: int) -> Callable[[Path], None]:
    def make(workdir: Path) -> None:
        (workdir / name).parent.mkdir(parents=True, exist_ok=True)
        with open(workdir / name, "wb") as handle:
            handle.truncate(size)

    return make


def _directory(name: str) -> Callable[[Path], None]:
    return lambda workdir: (workdir / name).mkdir()


NINE_MB = 9 * 1024 * 1024
TEMPLATED_DOCUMENT = "iam_policy:\n        name: p\n        document: \"{{{{ template('{option}') }}}}\""
FILE_CASES = [
    Hostile("fifo-playbook", {}, playbook="pipe.yml", where=("pipe.yml",), line=False, setup=_fifo("pipe.yml")),
    Hostile("fifo-inventory", {}, inventory="pipe.yml", where=("pipe.yml",), line=False, setup=_fifo("pipe.yml")),
    Hostile("fifo-extra-vars", {}, extra=("-e", "@pipe.yml"), where=("pipe.yml",), line=False, setup=_fifo("pipe.yml")),
    Hostile(
        "fifo-vars-file",
        {"play.yml": book(vars_files=("pipe.yml",))},
        says=("vars file 'pipe.yml'", "not a regular file"),
        setup=_fifo("pipe.yml"),
    ),
    Hostile(
        "fifo-template",
        {"play.yml": book(option="pipe.json.j2", module=TEMPLATED_DOCUMENT)},
        says=("template 'pipe.json.j2'", "not a regular file"),
        setup=_fifo("templates/pipe.json.j2"),
    ),
    Hostile(
        "fifo-waivers",
        {},
        run_extra=("--waivers", "pipe.yml"),
        where=("pipe.yml",),
        line=False,
        setup=_fifo("pipe.yml"),
    ),
    Hostile("dev-zero-playbook", {}, playbook="/dev/zero", where=("/dev/zero",), line=False),
    Hostile("dev-zero-inventory", {}, inventory="/dev/zero", where=("/dev/zero",), line=False),
    Hostile("dev-zero-extra-vars", {}, extra=("-e", "@/dev/zero"), where=("/dev/zero",), line=False),
    Hostile("dev-zero-vars-file", {"play.yml": book(vars_files=("/dev/zero",))}, says=("not a regular file",)),
    Hostile(
        "dev-zero-through-a-symlinked-playbook",
        {},
        playbook="zero.yml",
        where=("zero.yml",),
        line=False,
        setup=_symlink("zero.yml", "/dev/zero"),
    ),
    Hostile(
        "dev-zero-through-a-template-symlink",
        {"play.yml": book(option="zero.json.j2", module=TEMPLATED_DOCUMENT)},
        says=("link out of",),
        setup=_symlink("templates/zero.json.j2", "/dev/zero"),
    ),
    Hostile(
        "proc-environ-through-a-template-symlink",
        {"play.yml": book(option="env.json.j2", module=TEMPLATED_DOCUMENT)},
        says=("link out of",),
        setup=_symlink("templates/env.json.j2", "/proc/self/environ"),
    ),
    Hostile(
        "secret-file-through-a-template-symlink",
        {"play.yml": book(option="leak.json.j2", module=TEMPLATED_DOCUMENT), "secret.json": f'"{SECRET}"'},
        says=("link out of",),
        setup=_symlink("templates/leak.json.j2", "../secret.json"),
    ),
    Hostile(
        "secret-folder-through-a-template-symlink",
        {"play.yml": book(option="outside/secret.json", module=TEMPLATED_DOCUMENT), "secret.json": f'"{SECRET}"'},
        says=("link out of",),
        setup=_symlink("templates/outside", ".."),
    ),
    Hostile(
        "playbook-over-8-mb", {}, playbook="big.yml", where=("big.yml",), line=False, setup=_sparse("big.yml", NINE_MB)
    ),
    Hostile(
        "inventory-over-8-mb",
        {},
        inventory="big.yml",
        where=("big.yml",),
        line=False,
        setup=_sparse("big.yml", NINE_MB),
    ),
    Hostile(
        "template-over-256-kb",
        {"play.yml": book(option="big.json.j2", module=TEMPLATED_DOCUMENT)},
        says=("larger than 256 KB",),
        setup=_sparse("templates/big.json.j2", 300 * 1024),
    ),
    Hostile("playbook-is-a-directory", {}, playbook="dir", where=("dir",), line=False, setup=_directory("dir")),
    Hostile(
        "vars-file-is-a-directory",
        {"play.yml": book(vars_files=("dir",))},
        says=("is a directory",),
        setup=_directory("dir"),
    ),
    Hostile(
        "playbook-not-utf8",
        {"play.yml": book().encode() + b"# caf\xe9\n"},
        says=("not UTF-8",),
    ),
    Hostile("inventory-not-utf8", {"inv.yml": b"all:\n  accounts:\n    t\xff: {}\n"}, where=("inv.yml:3",)),
    Hostile(
        "vars-file-with-a-nul-in-its-name",
        {"play.yml": book(vars_files=('"a\\x00b.yml"',))},
        says=("vars file",),
    ),
]


# --- YAML that expands or nests past every bound ------------------------------------------------------

BOMB = alias_bomb()


def _deepening_aliases(count: int) -> str:
    """Vars a1…a{count}, each ten lists deep around an alias of the one before (a0: the anchor on `v`):
    each is shallow as written, and 10 × count levels deep once expanded."""
    lines = [f"    a{i}: &a{i} {'[' * 10}*a{i - 1}{']' * 10}\n" for i in range(1, count + 1)]
    return "".join(lines)


STRUCTURE_CASES = [
    Hostile(
        "alias-bomb-in-play-vars", {"play.yml": book().replace("  vars:\n", "  vars:\n" + alias_bomb(indent="    "))}
    ),
    Hostile(
        "alias-bomb-in-an-option",
        {"play.yml": book(option="*l8", var="1").replace("  vars:\n", "  vars:\n" + alias_bomb(indent="    "))},
    ),
    Hostile(
        "alias-bomb-in-inventory-vars",
        {"inv.yml": inventory(head="  vars:\n" + alias_bomb(indent="    "))},
        where=("inv.yml",),
    ),
    Hostile(
        "alias-bomb-in-extra-vars-file",
        {"extra.yml": BOMB},
        extra=("-e", "@extra.yml"),
        where=("extra.yml",),
        says=("alias",),
    ),
    Hostile(
        "alias-bomb-in-vars-files", {"play.yml": book(vars_files=("vars.yml",)), "vars.yml": BOMB}, where=("vars.yml",)
    ),
    Hostile(
        "alias-bomb-inline-extra-vars",
        {},
        extra=(
            "-e",
            "{a: &a [x, x, x, x, x, x, x, x], b: &b [*a, *a, *a, *a, *a, *a, *a, *a], "
            "c: &c [*b, *b, *b, *b, *b, *b, *b, *b], d: &d [*c, *c, *c, *c, *c, *c, *c, *c], "
            "e: &e [*d, *d, *d, *d, *d, *d, *d, *d], f: &f [*e, *e, *e, *e, *e, *e, *e, *e]}",
        ),
        where=("-e",),
    ),
    Hostile("alias-to-itself-in-vars", {"play.yml": book(var="&a [*a]")}, says=("contains it",)),
    Hostile("merge-key-to-itself", {"play.yml": book(var="&a {<<: *a}")}, says=("contains it",)),
    Hostile("alias-to-itself-in-inventory", {"inv.yml": inventory("v: &a [*a]")}, where=("inv.yml",)),
    Hostile(
        "aliases-deeper-than-50-once-expanded",
        {"play.yml": book(var="&a0 " + flow_nesting(10)).replace("  tasks:\n", _deepening_aliases(6) + "  tasks:\n")},
        says=("levels deep",),
    ),
    Hostile("flow-nesting-900-in-an-option", {"play.yml": book(option=flow_nesting(900))}, says=("levels deep",)),
    Hostile("flow-nesting-100000-in-an-option", {"play.yml": book(option=flow_nesting(100_000))}),
    Hostile(
        "block-nesting-900-in-vars", {"play.yml": book(var="").replace("    v: \n", "    v:\n" + block_nesting(900, 6))}
    ),
    Hostile("flow-nesting-900-in-inventory", {"inv.yml": inventory(f"v: {flow_nesting(900)}")}, where=("inv.yml",)),
    Hostile(
        "flow-nesting-900-in-extra-vars-file",
        {"extra.yml": f"v: {flow_nesting(900)}\n"},
        extra=("-e", "@extra.yml"),
        where=("extra.yml",),
    ),
    Hostile("flow-nesting-900-inline-extra-vars", {}, extra=("-e", f"{{v: {flow_nesting(900)}}}"), where=("-e",)),
    Hostile(
        "block-nesting-900-vars-file",
        {"play.yml": book(vars_files=("vars.yml",)), "vars.yml": block_nesting(900)},
        where=("vars.yml",),
    ),
    Hostile(
        "deep-json-from-a-template",
        {"play.yml": book(option="deep.json", module=TEMPLATED_DOCUMENT), "templates/deep.json": flow_nesting(900)},
        says=("nested",),
    ),
]


# --- the cases the issue names ----------------------------------------------------------------------

DAYS = 1_000_000_000


def _task(module: str) -> str:
    return book(module=module)


NAMED_CASES = [
    Hostile("limit-empty", {}, run_extra=("--limit", ""), where=(), says=("--limit is empty",)),
    Hostile("limit-blank", {}, run_extra=("--limit", "  "), where=(), says=("--limit is empty",)),
    Hostile("limit-only-separators", {}, run_extra=("--limit", ",:"), where=(), says=("empty pattern",)),
    Hostile(
        "when-list-of-numbers",
        {"play.yml": book(keys=("when: [1, 2]",))},
        where=("play.yml:9",),
        says=("'when' must be an expression, a boolean or a list of them",),
    ),
    Hostile("when-list-of-mappings", {"play.yml": book(keys=("when: [{a: 1}]",))}, where=("play.yml:9",)),
    Hostile(
        "minimum-length-base-60",
        {"play.yml": book(option="1:4")},
        where=(f"play.yml:{OPTION_LINE}",),
        says=("expected integer, got str '1:4'",),
    ),
    Hostile(
        "variable-chain-past-the-bound",
        {
            "play.yml": book(option='"{{ v0 }}"', var="1").replace(
                "    v: 1\n", "".join(f'    v{i}: "{{{{ v{i + 1} }}}}"\n' for i in range(25)) + "    v25: 14\n"
            )
        },
        where=(f"play.yml:{OPTION_LINE + 25}",),
        says=("more than 20 deep",),
    ),
    Hostile(
        "variable-refers-to-itself", {"play.yml": book(option=USES_V, var='"{{ v }}"')}, says=("renders to itself",)
    ),
    *[
        Hostile(
            f"{module}-{option.replace('_', '-')}-a-billion",
            {"play.yml": _task(f"{module}:\n        {option}: {DAYS}" + extra)},
            where=(f"play.yml:{OPTION_LINE}",),
            says=(f"{DAYS} is out of range",),
        )
        for module, option, extra in (
            ("iam_users", "unused_days", ""),
            ("iam_users", "delete_after_days", "\n        action: disable"),
            ("iam_roles", "unused_days", ""),
            ("iam_access_keys", "unused_days", ""),
            ("iam_access_keys", "max_age_days", ""),
            ("iam_access_keys", "rotation_grace_days", "\n        max_age_days: 90"),
            ("iam_unused_permissions", "unused_days", ""),
            ("iam_root_account", "max_days_since_use", "\n        require_mfa: true"),
        )
    ],
    *[
        Hostile(
            f"endpoint-url-{label}",
            {"inv.yml": inventory().replace(NOWHERE, url)},
            where=("inv.yml:4",),
            says=("endpoint_url must be an http(s) URL",),
        )
        for label, url in (
            ("port-out-of-range", "http://127.0.0.1:99999"),
            ("port-not-a-number", "http://127.0.0.1:abc"),
            ("port-zero", "http://127.0.0.1:0"),
            ("unclosed-ipv6", "http://[::1"),
            ("no-host", "http://:80"),
            ("non-ascii-host", "http://exämple.com"),
        )
    ],
    Hostile(
        "environment-value-that-looks-like-a-template",
        {"play.yml": book(option=f"\"{{{{ lookup_env('{TEMPLATE_ENV}') }}}}\"")},
        where=(f"play.yml:{OPTION_LINE}",),
        says=("a value from the environment, not shown",),
    ),
    Hostile(
        "secret-into-an-integer-option",
        {"play.yml": book(option=f"\"{{{{ lookup_env('{SECRET_NAME}') }}}}\"")},
        where=(f"play.yml:{OPTION_LINE}",),
    ),
    Hostile(
        "secret-into-a-role-arn",
        {"inv.yml": inventory(f"role_arn: \"{{{{ lookup_env('{SECRET_NAME}') }}}}\"")},
        where=("inv.yml:5",),
        says=("is not an IAM role ARN",),
    ),
    Hostile(
        "secret-into-a-region",
        {"inv.yml": inventory(f"region: \"{{{{ lookup_env('{SECRET_NAME}') }}}}\"")},
        where=("inv.yml:5",),
    ),
    Hostile(
        "secret-into-a-loop",
        {"play.yml": book(keys=(f"loop: \"{{{{ lookup_env('{SECRET_NAME}') }}}}\"",))},
        where=("play.yml:9",),
    ),
    Hostile(
        "long-rendered-value",
        {"play.yml": book(option="\"{{ 'x' * 100000 }}\"")},
        where=(f"play.yml:{OPTION_LINE}",),
        says=("…",),
    ),
    Hostile(
        "long-role-name",
        {"play.yml": _task("iam_role:\n        name: " + "r" * 100_000)},
        where=(f"play.yml:{OPTION_LINE}",),
        says=("…",),
    ),
    Hostile(
        "long-unknown-option",
        {"play.yml": book(option="14\n        " + "o" * 1000 + ": 1")},
        where=("play.yml:9",),
        says=("…",),
    ),
    Hostile(
        "long-task-name-with-a-control-character",
        {"play.yml": book(name='"' + "n" * 5000 + '\\x1b[2J"', keys=("when: nowhere",))},
        where=("play.yml:9",),
    ),
]

CORPUS = SCALAR_CASES + RAW_CASES + TEMPLATE_CASES + FILE_CASES + STRUCTURE_CASES + NAMED_CASES


def test_corpus_is_big_and_distinct() -> None:
    ids = [case.id for case in CORPUS]
    assert len(ids) == len(set(ids)), [i for i in ids if ids.count(i) > 1]
    assert len(CORPUS) >= 300


@pytest.fixture
def one_parser(monkeypatch: pytest.MonkeyPatch) -> None:
    """Building argparse's parser is half of each in-process call; the corpus is about input, so one
    parser (argparse does not change it while parsing) serves every case."""
    from remediator import cli as cli_module

    parser = cli_module.build_parser()
    monkeypatch.setattr(cli_module, "build_parser", lambda: parser)


@pytest.fixture
def hostile_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SECRET_NAME, SECRET)
    monkeypatch.setenv(TEMPLATE_ENV, f"{{{{ lookup_env('{SECRET_NAME}') }}}}")


@pytest.fixture
def recorded_calls() -> Any:
    calls: list[tuple[Any, ...]] = []

    def record(*call: Any) -> None:
        calls.append(call)

    session.CALL_OBSERVERS.append(record)
    yield calls
    session.CALL_OBSERVERS.remove(record)


# `validate` takes neither --limit nor --waivers: cases of those are for `run` alone.
RUNS = [
    pytest.param(command, case, id=f"{command}-{case.id}")
    for case in CORPUS
    for command in ("validate", "run")
    if command == "run" or not case.run_extra
]


@pytest.mark.parametrize(("command", "case"), RUNS)
def test_hostile_input_is_one_line_exit_1_no_call(
    command: str, case: Hostile, workdir: Path, hostile_env: None, one_parser: None, recorded_calls: list[Any]
) -> None:
    files = {"play.yml": book(), "inv.yml": inventory(), **case.files}
    for name, content in files.items():
        path = workdir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    if case.setup is not None:
        case.setup(workdir)
    argv = [command, case.playbook, "-i", case.inventory, *case.extra]
    if command == "run":
        argv += ["--check", *case.run_extra]

    result = answer(cli, *argv)

    output = result.out + result.err
    assert result.code == 1, output[:2000]
    assert "Traceback" not in output and "internal error" not in output, output[:2000]
    lines = result.err.splitlines()
    assert len(lines) == 1, result.err[:2000]
    line = lines[0]
    assert line.startswith("error: "), line
    assert len(line) < 1200, line[:300]
    assert SECRET not in output, line
    assert not re.search(r"account '([^']*)': account '\1'", line), line
    if case.where:
        assert any(line.startswith(f"error: {w}: ") for w in case.where if re.search(r":\d+$", w)) or any(
            re.match(rf"error: {re.escape(w)}{':[0-9]+' if case.line else ''}: ", line) for w in case.where
        ), line
    for text in case.says:
        assert text in line, line
    assert recorded_calls == []


# --- what must keep working --------------------------------------------------------------------


def _prepared(workdir: Path, play: str, *extra: str) -> Any:
    from remediator.cli import load_run_inputs

    (workdir / "play.yml").write_text(play, encoding="utf-8")
    (workdir / "inv.yml").write_text(inventory(), encoding="utf-8")
    args = argparse.Namespace(playbook="play.yml", inventory="inv.yml", extra_vars=list(extra))
    _playbook, _inventory, prepared = load_run_inputs(args)
    return prepared.task_plans["test"]


def test_six_variable_indirections_are_followed(workdir: Path) -> None:
    chain = "".join(f'    v{i}: "{{{{ v{i + 1} }}}}"\n' for i in range(6)) + "    v6: 14\n"
    play = book(option='"{{ v0 }}"', var="1").replace("    v: 1\n", chain)
    assert _prepared(workdir, play)[0].args == {"minimum_length": 14}


def test_an_environment_value_is_data_not_a_template(workdir: Path, hostile_env: None) -> None:
    module = "iam_role:\n        name: r\n        description: \"{{{{ lookup_env('{option}') }}}}\""
    plans = _prepared(workdir, book(option=TEMPLATE_ENV, module=module))
    assert plans[0].args["description"] == f"{{{{ lookup_env('{SECRET_NAME}') }}}}"
    assert type(plans[0].args["description"]) is str


def test_an_environment_value_is_text_unless_the_option_wants_more(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REMEDIATOR_HOSTILE_LIST", "[1, 2]")
    monkeypatch.setenv("REMEDIATOR_HOSTILE_NAMES", "[ci-*, deploy]")
    monkeypatch.setenv("REMEDIATOR_HOSTILE_LENGTH", "14")
    play = book(
        option="\"{{ lookup_env('REMEDIATOR_HOSTILE_LENGTH') }}\"",
        module="iam_role:\n        name: r\n        description: \"{{{{ lookup_env('REMEDIATOR_HOSTILE_LIST') }}}}\"",
    ) + (
        "    - iam_password_policy:\n        minimum_length: \"{{ lookup_env('REMEDIATOR_HOSTILE_LENGTH') }}\"\n"
        "    - iam_users:\n        unused_days: 90\n        include: \"{{ lookup_env('REMEDIATOR_HOSTILE_NAMES') }}\"\n"
    )
    role, policy, users = _prepared(workdir, play)
    assert role.args["description"] == "[1, 2]"  # text, not the list [1, 2]
    assert policy.args["minimum_length"] == 14  # the option wants an integer
    assert users.args["include"] == ["ci-*", "deploy"]  # the option wants a list


def test_a_symlink_inside_the_templates_folder_is_followed(workdir: Path) -> None:
    (workdir / "templates").mkdir()
    statement = '{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*"}'
    (workdir / "templates" / "real.json").write_text(f'{{"Version": "2012-10-17", "Statement": [{statement}]}}')
    os.symlink("real.json", workdir / "templates" / "alias.json")
    plans = _prepared(workdir, book(option="alias.json", module=TEMPLATED_DOCUMENT))
    assert plans[0].args["document"]["Version"] == "2012-10-17"


def test_an_account_error_names_the_account_once(workdir: Path, aws: str, client_hooks: list[Any]) -> None:
    from tests.faults import Inject, query_ok

    building = Inject(
        "iam", "GenerateCredentialReport", lambda: query_ok("GenerateCredentialReport", "<State>STARTED</State>")
    )
    client_hooks.append(building)
    play = book(name="Root", module="iam_root_account:\n        max_days_since_use: 90")
    (workdir / "play.yml").write_text(play, encoding="utf-8")
    (workdir / "inv.yml").write_text(inventory().replace(NOWHERE, aws), encoding="utf-8")

    result = cli("run", "play.yml", "-i", "inv.yml", "--check")

    assert building.seen and "credential report was still being built" in result.err, result.err
    assert all(line.count("account 'test'") == 1 for line in result.err.splitlines()), result.err
