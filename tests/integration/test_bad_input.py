"""Bad input, through the CLI: one line on stderr naming the file, line, task and option; exit 1; no
traceback; no AWS call; nothing changed, neither in the account nor on disk.

Most cases point the inventory at a closed port (no call may be made, so none is); the cases that would
change the account if the check were missing run against the emulator and compare its state after.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from remediator import registry
from remediator.registry import Module
from tests.conftest import cli, write, write_inventory

NOWHERE = "http://127.0.0.1:9"  # nothing listens there: a call would fail, and `calls` would record it
URL = "@URL@"  # replaced in case files by the emulator's URL (live cases) or NOWHERE

STRONG = """\
- name: baseline
  accounts: all
  tasks:
    - name: Strong passwords
      iam_password_policy:
        minimum_length: 14
        require_symbols: true
"""


def book(*options: str, keys: tuple[str, ...] = ()) -> str:
    """One play, one task 'Strong passwords' (line 4), its module on line 5, options from line 6, then keys."""
    lines = ["- name: baseline", "  accounts: all", "  tasks:", "    - name: Strong passwords"]
    lines.append("      iam_password_policy:")
    lines += [f"        {o}" for o in options]
    lines += [f"      {k}" for k in keys]
    return "\n".join(lines) + "\n"


def inventory(*lines: str) -> str:
    """Group 'all' with account 'test' (line 3) on the endpoint, its settings from line 5."""
    body = ["all:", "  accounts:", "    test:", f"      endpoint_url: {URL}", *[f"      {s}" for s in lines]]
    return "\n".join(body) + "\n"


RUN = ("run", "play.yml", "-i", "inv.yml", "--plan-out", "out/plan.json", "--journal", "out/journal.jsonl")
CHECK = ("run", "play.yml", "-i", "inv.yml", "--check", "--plan-out", "out/plan.json")
VALIDATE = ("validate", "play.yml", "-i", "inv.yml")


@dataclass
class Case:
    id: str
    files: dict[str, str]
    argv: tuple[str, ...]
    where: str | None  # "file:line" or "file" the line must start with; None for input without a file (-e)
    says: tuple[str, ...]
    task: str | None = None
    option: str | None = None
    live: bool = False  # on the emulator, whose state is compared before and after
    setup: Callable[[Path, str], str | None] | None = None  # makes files (may run the CLI); may give `where`
    fixtures: tuple[str, ...] = ()
    json_format: bool = False
    known_bug: str | None = None  # outside the loader: marked xfail(strict), so fixing it makes the case pass


# ---------------------------------------------------------------------------------------------------
# setups that make real plan files and journals on the emulator, then damage them


def _plan(workdir: Path, url: str) -> dict[str, Any]:
    write(workdir, "play.yml", STRONG)
    write_inventory(workdir, url, name="inv.yml")
    made = cli("run", "play.yml", "-i", "inv.yml", "--check", "--plan-out", "plan.json")
    assert made.code == 2, made.out + made.err
    data = json.loads((workdir / "plan.json").read_text())
    assert data["accounts"][0]["task_plans"][0]["changes"], "the plan must hold a change to apply"
    return data


def plan_from_the_future(workdir: Path, url: str) -> None:
    data = _plan(workdir, url)
    data["format_version"] = 99
    write(workdir, "plan.json", json.dumps(data, indent=2))


def plan_without_calls(workdir: Path, url: str) -> None:
    data = _plan(workdir, url)
    del data["accounts"][0]["task_plans"][0]["changes"][0]["calls"]
    write(workdir, "plan.json", json.dumps(data, indent=2))


def plan_with_bad_call_params(workdir: Path, url: str) -> None:
    data = _plan(workdir, url)
    data["accounts"][0]["task_plans"][0]["changes"][0]["calls"][0]["params"]["MinimumPasswordLength"] = "abc"
    write(workdir, "plan.json", json.dumps(data, indent=2))


def truncated_journal(workdir: Path, url: str) -> str:
    write(workdir, "play.yml", STRONG)
    write_inventory(workdir, url, name="inv.yml")
    applied = cli("run", "play.yml", "-i", "inv.yml", "--journal", "run.jsonl")
    assert applied.code == 0, applied.out + applied.err
    lines = (workdir / "run.jsonl").read_text().splitlines()
    assert len(lines) >= 3 and '"begin"' in (workdir / "run.jsonl").read_text()
    lines[-1] = lines[-1][: len(lines[-1]) // 2]  # the last line cut mid-JSON, as a crash would leave it
    write(workdir, "run.jsonl", "\n".join(lines))
    return f"run.jsonl:{len(lines)}"


class ProbeModule(Module):
    name = "iam_probe"
    summary = "A second module, so that a task can name two."
    args_schema = {"properties": {"x": {"type": "integer"}}}


@pytest.fixture
def probe_module(monkeypatch: pytest.MonkeyPatch) -> None:
    registry.names()  # load the real modules first
    monkeypatch.setitem(registry._REGISTRY, ProbeModule.name, ProbeModule)


TASK = "Strong passwords"
TEMPLATE_JSON = '{\n  "a": 1,\n  "b": {{ n }},\n}\n'

CASES = [
    # --- YAML ------------------------------------------------------------------------------------
    Case(
        "yaml-syntax-error",
        {"play.yml": book("minimum_length: 14", " require_symbols: true")},
        RUN,
        "play.yml:7",
        ("YAML syntax error",),
    ),
    Case(
        "yaml-unclosed-bracket-at-end",
        {"play.yml": book("minimum_length: [14")},
        RUN,
        "play.yml:6",
        ("YAML syntax error",),
    ),
    Case(
        "yaml-date-that-does-not-exist",
        {"play.yml": "- name: baseline\n  vars:\n    window_start: 2027-02-30\n  tasks: []\n"},
        RUN,
        "play.yml:3",
        ("'2027-02-30' is not a date",),
    ),
    Case(
        "yaml-unquoted-template",
        {"play.yml": book("minimum_length: {{ n }}")},
        (*RUN, "-e", "n=14"),
        "play.yml:6",
        ("'minimum_length'", "must be quoted"),
    ),
    Case(
        "duplicate-key-in-play",
        {"play.yml": "- name: baseline\n  accounts: all\n  accounts: prod\n  tasks: []\n"},
        RUN,
        "play.yml:3",
        ("duplicate key 'accounts' (first at line 2)",),
    ),
    Case(
        "duplicate-key-in-task",
        {"play.yml": book("minimum_length: 14", keys=("tags: [a]", "tags: [b]"))},
        RUN,
        "play.yml:8",
        ("duplicate key 'tags' (first at line 7)",),
        task=TASK,
    ),
    Case(
        "duplicate-key-in-module-options",
        {"play.yml": book("minimum_length: 14", "require_symbols: true", "minimum_length: 12")},
        RUN,
        "play.yml:8",
        ("duplicate key 'minimum_length' (first at line 6)",),
        task=TASK,
        option="minimum_length",
    ),
    Case(
        "duplicate-key-in-inventory",
        {"play.yml": STRONG, "inv.yml": inventory("region: us-east-1", "region: eu-west-1")},
        RUN,
        "inv.yml:6",
        ("duplicate key 'region' (first at line 5)",),
    ),
    # --- playbook structure ----------------------------------------------------------------------
    Case(
        "playbook-not-a-list",
        {"play.yml": "name: baseline\ntasks: []\n"},
        RUN,
        "play.yml:1",
        ("a playbook is a list of plays",),
    ),
    Case(
        "play-without-tasks",
        {"play.yml": "- name: baseline\n  accounts: all\n"},
        RUN,
        "play.yml:1",
        ("play 'baseline' has no 'tasks'", "tasks: []"),
    ),
    Case(
        "unknown-play-key",
        {"play.yml": "- name: baseline\n  accounts: all\n  task: []\n"},
        RUN,
        "play.yml:3",
        ("unknown play key 'task'", "did you mean 'tasks'?"),
    ),
    Case(
        "unknown-module-suggests-the-close-name",
        {"play.yml": book("minimum_length: 14").replace("iam_password_policy:", "iam_pasword_policy:")},
        RUN,
        "play.yml:5",
        ("'iam_pasword_policy'", "did you mean 'iam_password_policy'?"),
        task=TASK,
    ),
    Case(
        "two-modules-in-one-task",
        {"play.yml": book("minimum_length: 14", keys=("iam_probe: {x: 1}",))},
        RUN,
        "play.yml:7",
        ("more than one module", "iam_password_policy, iam_probe"),
        task=TASK,
        fixtures=("probe_module",),
    ),
    Case(
        "task-without-module",
        {"play.yml": "- name: baseline\n  tasks:\n    - name: Strong passwords\n      tags: [passwords]\n"},
        RUN,
        "play.yml:3",
        ("task names no module", "iam_password_policy"),
        task=TASK,
    ),
    Case(
        "task-name-not-a-string",
        {"play.yml": book("minimum_length: 14").replace("name: Strong passwords", "name: [a, b]")},
        RUN,
        "play.yml:4",
        ("task name must be a string",),
    ),
    Case(
        "play-vars-bad-name",
        {"play.yml": '- name: baseline\n  vars:\n    ok: 1\n    "bad-name": 2\n  tasks: []\n'},
        RUN,
        "play.yml:4",
        ("variable name 'bad-name' is not a valid identifier",),
    ),
    # --- module options --------------------------------------------------------------------------
    Case(
        "unknown-option-suggests-the-close-name",
        {"play.yml": book("require_symbols: true", "minimum_lenght: 14")},
        RUN,
        "play.yml:7",
        ("unknown option for iam_password_policy", "did you mean 'minimum_length'?"),
        task=TASK,
        option="minimum_lenght",
    ),
    Case(
        "wrong-type",
        {"play.yml": book('minimum_length: "abc"')},
        RUN,
        "play.yml:6",
        ("expected integer", "'abc'"),
        task=TASK,
        option="minimum_length",
    ),
    Case(
        "minimum-length-too-small",
        {"play.yml": book("require_symbols: true", "minimum_length: 5")},
        RUN,
        "play.yml:7",
        ("5 is out of range: must be between 6 and 128",),
        task=TASK,
        option="minimum_length",
        live=True,
    ),
    Case(
        "minimum-length-too-large",
        {"play.yml": book("minimum_length: 129")},
        RUN,
        "play.yml:6",
        ("129 is out of range: must be between 6 and 128",),
        task=TASK,
        option="minimum_length",
    ),
    Case(
        "reuse-prevention-too-large",
        {"play.yml": book("minimum_length: 14", "reuse_prevention: 25")},
        RUN,
        "play.yml:7",
        ("25 is out of range: must be between 0 and 24",),
        task=TASK,
        option="reuse_prevention",
    ),
    Case(
        "max-age-too-large",
        {"play.yml": book("max_age_days: 1096")},
        RUN,
        "play.yml:6",
        ("1096 is out of range: must be between 0 and 1095",),
        task=TASK,
        option="max_age_days",
    ),
    Case(
        "float-for-an-integer-option",
        {"play.yml": book("minimum_length: 14.0")},
        RUN,
        "play.yml:6",
        ("expected integer, got float 14.0",),
        task=TASK,
        option="minimum_length",
    ),
    Case(
        "numeric-unknown-option",
        {"play.yml": book("minimum_length: 14", "5: 3")},
        RUN,
        "play.yml:7",
        ("unknown option for iam_password_policy",),
        task=TASK,
        option="5",
    ),
    Case(
        "out-of-range-only-after-rendering",
        {"play.yml": book("require_symbols: true", 'minimum_length: "{{ n }}"')},
        (*RUN, "-e", "n=3"),
        "play.yml:7",
        ("account 'test'", "3 is out of range: must be between 6 and 128"),
        task=TASK,
        option="minimum_length",
        live=True,
    ),
    Case(
        "hard-expiry-with-passwords-that-never-expire",
        {"play.yml": book("max_age_days: 0", "hard_expiry: true")},
        RUN,
        "play.yml:7",
        ("hard_expiry needs passwords that expire",),
        task=TASK,
        option="hard_expiry",
        live=True,
    ),
    Case(
        "state-absent-with-other-fields",
        {"play.yml": book("state: absent", "minimum_length: 14")},
        RUN,
        "play.yml:7",
        ("state: absent deletes the policy and takes no other policy fields",),
        task=TASK,
        option="minimum_length",
        live=True,
    ),
    Case(
        "state-absent-with-other-fields-after-rendering",
        {"play.yml": book('state: "{{ wanted }}"', "minimum_length: 14")},
        (*RUN, "-e", "wanted=absent"),
        "play.yml:7",
        ("state: absent deletes the policy",),
        task=TASK,
        option="minimum_length",
        live=True,
    ),
    Case(
        "state-not-an-allowed-value",
        {"play.yml": book("state: gone")},
        RUN,
        "play.yml:6",
        ("'gone' is not one of: present, absent",),
        task=TASK,
        option="state",
    ),
    Case(
        "empty-module-options",
        {"play.yml": book().replace("iam_password_policy:", "iam_password_policy: {}")},
        RUN,
        "play.yml:5",
        ("name at least one password policy field",),
        task=TASK,
    ),
    Case(
        "module-options-not-a-mapping",
        {"play.yml": book().replace("iam_password_policy:", "iam_password_policy: [14]")},
        RUN,
        "play.yml:5",
        ("module options must be a mapping",),
        task=TASK,
    ),
    # --- templates -------------------------------------------------------------------------------
    Case(
        "undefined-variable",
        {"play.yml": book("require_symbols: true", 'minimum_length: "{{ min_length }}"')},
        RUN,
        "play.yml:7",
        ("undefined variable", "'min_length' is undefined"),
        task=TASK,
        option="minimum_length",
    ),
    Case(
        "bad-jinja-syntax",
        {"play.yml": book('minimum_length: "{{ n + }}"')},
        (*RUN, "-e", "n=14"),
        "play.yml:6",
        ("template syntax error",),
        task=TASK,
        option="minimum_length",
    ),
    Case(
        "template-renders-invalid-json",
        {
            "play.yml": book("require_symbols: true", "minimum_length: \"{{ template('x.json.j2') }}\""),
            "templates/x.json.j2": TEMPLATE_JSON,
        },
        (*RUN, "-e", "n=14"),
        "play.yml:7",
        ("template x.json.j2 rendered invalid JSON at line 4",),
        task=TASK,
        option="minimum_length",
    ),
    Case(
        "template-missing",
        {"play.yml": book("minimum_length: \"{{ template('missing.json.j2') }}\"")},
        RUN,
        "play.yml:6",
        ("template 'missing.json.j2' not found",),
        task=TASK,
        option="minimum_length",
    ),
    Case(
        "template-file-bad-jinja",
        {
            "play.yml": book("minimum_length: \"{{ template('x.json.j2') }}\""),
            "templates/x.json.j2": '{\n  "a": {% if %}\n}\n',
        },
        RUN,
        "play.yml:6",
        ("template x.json.j2:2: syntax error",),
        task=TASK,
        option="minimum_length",
    ),
    Case(
        "task-name-undefined-variable",
        {"play.yml": book("minimum_length: 14").replace("Strong passwords", "Strong {{ who }}")},
        RUN,
        "play.yml:4",
        ("name: undefined variable", "'who' is undefined"),
        task="Strong {{ who }}",
    ),
    Case(
        "variable-refers-to-itself",
        {
            "play.yml": book('minimum_length: "{{ n }}"').replace(
                "  accounts: all\n", '  accounts: all\n  vars: {n: "{{ n }}"}\n'
            )
        },
        RUN,
        "play.yml:7",
        ("renders to itself",),
        task=TASK,
        option="minimum_length",
    ),
    Case(
        "variables-refer-to-each-other",
        {
            "play.yml": book('minimum_length: "{{ a }}"').replace(
                "  accounts: all\n", '  accounts: all\n  vars: {a: "{{ b }}", b: "{{ a }}"}\n'
            )
        },
        RUN,
        "play.yml:7",
        ("variables refer to each other",),
        task=TASK,
        option="minimum_length",
    ),
    # --- task keys -------------------------------------------------------------------------------
    Case(
        "when-undefined-variable",
        {
            "play.yml": book("minimum_length: 14", keys=("tags: [a]", "when: strict_mode")),
        },
        RUN,
        "play.yml:8",
        ("when: undefined variable", "'strict_mode' is undefined"),
        task=TASK,
    ),
    Case(
        "when-bad-expression",
        {"play.yml": book("minimum_length: 14", keys=("when: n >",))},
        RUN,
        "play.yml:7",
        ("when: expression syntax error",),
        task=TASK,
    ),
    Case(
        "loop-not-a-list",
        {"play.yml": book("minimum_length: 14", keys=("loop: 5",))},
        RUN,
        "play.yml:7",
        ("'loop' must be a list",),
        task=TASK,
    ),
    Case(
        "loop-renders-to-a-non-list",
        {"play.yml": book("minimum_length: 14", keys=('loop: "{{ n }}"',))},
        (*RUN, "-e", "n=5"),
        "play.yml:7",
        ("loop must give a list, got int",),
        task=TASK,
    ),
    Case(
        "negative-max-changes",
        {"play.yml": book("minimum_length: 14", keys=("max_changes: -1",))},
        RUN,
        "play.yml:7",
        ("'max_changes' must be a whole number, 0 or more",),
        task=TASK,
    ),
    Case(
        "negative-max-changes-after-rendering",
        {"play.yml": book("minimum_length: 14", keys=('max_changes: "{{ cap }}"',))},
        (*RUN, "-e", "cap=-2"),
        "play.yml:7",
        ("max_changes must be a whole number, 0 or more, got -2",),
        task=TASK,
    ),
    Case(
        "lint-maybe",
        {"play.yml": book("minimum_length: 14", keys=("lint: maybe",))},
        RUN,
        "play.yml:7",
        ("'lint' must be 'warn' or 'error'",),
        task=TASK,
    ),
    Case(
        "tags-not-strings",
        {"play.yml": book("minimum_length: 14", keys=("tags: [{a: 1}]",))},
        RUN,
        "play.yml:7",
        ("'tags' must be a list of strings",),
        task=TASK,
    ),
    # --- files the playbook and the command line name --------------------------------------------
    Case(
        "vars-file-missing",
        {
            "play.yml": "- name: baseline\n  vars_files:\n    - vars/base.yml\n    - vars/missing.yml\n  tasks: []\n",
            "vars/base.yml": "a: 1\n",
        },
        RUN,
        "play.yml:4",
        ("vars file 'vars/missing.yml' not found",),
    ),
    Case(
        "vars-file-bad-yaml",
        {"play.yml": "- name: baseline\n  vars_files: [vars/bad.yml]\n  tasks: []\n", "vars/bad.yml": "a: 1\nb: [2\n"},
        RUN,
        "vars/bad.yml:2",
        ("YAML syntax error",),
    ),
    Case("playbook-missing", {}, ("run", "missing.yml", "-i", "inv.yml"), "missing.yml", ("playbook not found",)),
    Case(
        "inventory-missing",
        {"play.yml": STRONG},
        ("run", "play.yml", "-i", "nope.yml"),
        "nope.yml",
        ("inventory not found",),
    ),
    Case(
        "limit-matches-no-account",
        {"play.yml": STRONG},
        (*RUN, "--limit", "prod*"),
        "inv.yml",
        ("--limit 'prod*' matches no account", "test"),
    ),
    Case(
        "limit-without-inventory",
        {"play.yml": STRONG},
        ("run", "play.yml", "--check", "--limit", "prod"),
        None,
        ("--limit 'prod' matches no account", "without an inventory"),
    ),
    Case(
        "max-changes-option-negative",
        {"play.yml": STRONG},
        (*RUN, "--max-changes", "-1"),
        None,
        ("--max-changes must be 0 or more",),
    ),
    # --- inventory -------------------------------------------------------------------------------
    Case(
        "inventory-account-id-not-12-digits",
        {"play.yml": STRONG, "inv.yml": inventory('account_id: "12345"')},
        RUN,
        "inv.yml:5",
        ("account 'test': account_id must be 12 digits, got '12345'",),
    ),
    Case(
        "inventory-bad-role-arn",
        {"play.yml": STRONG, "inv.yml": inventory("role_arn: arn:aws:iam::111111111111:user/bob")},
        RUN,
        "inv.yml:5",
        ("account 'test': role_arn 'arn:aws:iam::111111111111:user/bob' is not an IAM role ARN",),
    ),
    Case(
        "inventory-bad-endpoint-url",
        {"play.yml": STRONG, "inv.yml": "all:\n  accounts:\n    test:\n      endpoint_url: localhost:5000\n"},
        RUN,
        "inv.yml:4",
        ("account 'test': endpoint_url must be an http(s) URL or 'embedded'",),
    ),
    Case(
        "inventory-bad-region",
        {"play.yml": STRONG, "inv.yml": inventory("region: useast1")},
        RUN,
        "inv.yml:5",
        ("region 'useast1' is not an AWS region name",),
    ),
    Case(
        "inventory-unknown-group-key",
        {"play.yml": STRONG, "inv.yml": inventory().replace("all:\n", "all:\n  hosts: {}\n")},
        RUN,
        "inv.yml:2",
        ("unknown key 'hosts' in group 'all'", "accounts go under 'accounts:'"),
    ),
    Case(
        "inventory-external-id-without-role-arn",
        {"play.yml": STRONG, "inv.yml": inventory("external_id: s3cr3t-id")},
        RUN,
        "inv.yml:5",
        ("account 'test': external_id needs role_arn",),
    ),
    Case(
        "inventory-not-a-mapping",
        {"play.yml": STRONG, "inv.yml": "- test\n- prod\n"},
        RUN,
        "inv.yml:1",
        ("an inventory is a mapping of groups",),
    ),
    Case(
        "inventory-setting-undefined-variable",
        {"play.yml": STRONG, "inv.yml": inventory("account_id: '111111111111'", 'region: "{{ home_region }}"')},
        RUN,
        "inv.yml:6",
        ("account 'test'", "option 'region'", "'home_region' is undefined"),
    ),
    Case(
        "inventory-group-var-bad-name",
        {"play.yml": STRONG, "inv.yml": inventory().replace("all:\n", "all:\n  vars:\n    bad-name: 1\n")},
        RUN,
        "inv.yml:3",
        ("group 'all': variable name 'bad-name' is not a valid identifier",),
    ),
    Case(
        "inventory-bad-session-name",
        {"play.yml": STRONG, "inv.yml": inventory("session_name: has spaces")},
        RUN,
        "inv.yml:5",
        ("account 'test': session_name 'has spaces'",),
    ),
    Case(
        "inventory-external-id-from-unset-environment-variable",
        {
            "play.yml": STRONG,
            "inv.yml": inventory(
                "role_arn: arn:aws:iam::111111111111:role/remediator",
                "external_id: \"{{ lookup_env('REMEDIATOR_TEST_NEVER_SET') }}\"",
            ),
        },
        RUN,
        "inv.yml:6",
        ("account 'test'", "option 'external_id'", "environment variable 'REMEDIATOR_TEST_NEVER_SET' is not set"),
    ),
    Case(
        "inventory-role-arn-bad-after-rendering",
        {"play.yml": STRONG, "inv.yml": inventory('role_arn: "{{ role }}"')},
        (*RUN, "-e", "role=arn:aws:iam::1:role/x"),
        "inv.yml:5",
        ("account 'test': role_arn 'arn:aws:iam::1:role/x' is not an IAM role ARN",),
    ),
    Case(
        "inventory-region-bad-from-extra-vars",
        {"play.yml": STRONG},
        (*RUN, "-e", "region=moon-1"),
        "inv.yml:3",
        ("account 'test': region 'moon-1' is not an AWS region name",),
    ),
    # --- -e ----------------------------------------------------------------------------------------
    Case("extra-vars-without-equals", {"play.yml": STRONG}, (*RUN, "-e", "foo"), None, ("-e 'foo'", "KEY=VALUE")),
    Case(
        "extra-vars-missing-file",
        {"play.yml": STRONG},
        (*RUN, "-e", "@missing.yml"),
        "missing.yml",
        ("vars file not found",),
    ),
    Case(
        "extra-vars-file-not-a-mapping",
        {"play.yml": STRONG, "list.yml": "- a\n- b\n"},
        (*RUN, "-e", "@list.yml"),
        "list.yml:1",
        ("extra vars must be a mapping",),
    ),
    Case(
        "extra-vars-inline-yaml-broken",
        {"play.yml": STRONG},
        (*RUN, "-e", "{n: [14}"),
        "-e:1",
        ("YAML syntax error",),
    ),
    # --- plan files --------------------------------------------------------------------------------
    Case(
        "apply-plan-not-json",
        {"plan.json": '{\n  "format_version": 1,\n  oops\n}\n'},
        ("apply", "plan.json", "--journal", "out/journal.jsonl"),
        "plan.json:3",
        ("plan file is not valid JSON",),
    ),
    Case(
        "apply-plan-format-version-99",
        {},
        ("apply", "plan.json", "--journal", "out/journal.jsonl"),
        "plan.json",
        ("plan file format 99", "make the plan again"),
        live=True,
        setup=plan_from_the_future,
    ),
    Case(
        "apply-plan-missing-keys",
        {},
        ("apply", "plan.json", "--journal", "out/journal.jsonl"),
        "plan.json",
        ("plan file is malformed", "'calls'"),
        live=True,
        setup=plan_without_calls,
    ),
    Case(
        "apply-plan-not-a-plan",
        {"plan.json": '{"accounts": []}\n'},
        ("apply", "plan.json"),
        "plan.json",
        ("not a remediator plan file",),
    ),
    Case("apply-plan-missing", {}, ("apply", "nope.json"), "nope.json", ("plan file not found",)),
    Case(
        "apply-plan-with-invalid-call-parameters",
        {},
        ("apply", "plan.json", "--journal", "out/journal.jsonl"),
        "plan.json",
        ("MinimumPasswordLength",),
        live=True,
        setup=plan_with_bad_call_params,
    ),
    # --- journals ----------------------------------------------------------------------------------
    Case(
        "rollback-truncated-journal",
        {},
        ("rollback", "run.jsonl"),
        None,  # given by the setup: the last line
        ("truncated or corrupt line", "nothing was rolled back"),
        live=True,
        setup=truncated_journal,
    ),
    Case(
        "rollback-of-a-playbook",
        {"play.yml": STRONG},
        ("rollback", "play.yml"),
        "play.yml:1",
        ("journal",),
    ),
    Case(
        "rollback-json-lines-without-header",
        {"j.jsonl": '{"hello": 1}\n'},
        ("rollback", "j.jsonl"),
        "j.jsonl:1",
        ("journal", "nothing was rolled back"),
    ),
    Case(
        "rollback-of-a-playbook-says-it-is-not-a-journal",
        {"play.yml": STRONG},
        ("rollback", "play.yml"),
        "play.yml:1",
        ("not a remediator journal",),
    ),
    Case("rollback-journal-missing", {}, ("rollback", "nope.jsonl"), "nope.jsonl", ("journal not found",)),
    # --- other commands and formats --------------------------------------------------------------
    Case(
        "validate-bad-playbook",
        {"play.yml": book("minimum_length: 14", "require_symbol: true")},
        VALIDATE,
        "play.yml:7",
        ("unknown option for iam_password_policy", "did you mean 'require_symbols'?"),
        task=TASK,
        option="require_symbol",
    ),
    Case(
        "validate-rendered-out-of-range",
        {"play.yml": book('minimum_length: "{{ n }}"')},
        (*VALIDATE, "-e", "n=200"),
        "play.yml:6",
        ("200 is out of range",),
        task=TASK,
        option="minimum_length",
    ),
    Case(
        "check-mode-bad-input",
        {"play.yml": book("minimum_length: 14", "reuse_prevention: 25")},
        CHECK,
        "play.yml:7",
        ("25 is out of range",),
        task=TASK,
        option="reuse_prevention",
    ),
    Case(
        "command-line-usage-error",
        {"play.yml": STRONG},
        (*RUN, "--forks", "many"),
        None,
        ("--forks", "'many'"),
    ),
    Case(
        "json-format-bad-input",
        {"play.yml": book('minimum_length: "{{ n }}"')},
        (*RUN, "--format", "json", "-e", "n=3"),
        "play.yml:6",
        ("3 is out of range",),
        task=TASK,
        option="minimum_length",
        json_format=True,
        live=True,
    ),
    Case(
        "json-format-bad-inventory",
        {"play.yml": STRONG, "inv.yml": inventory('account_id: "12"')},
        (*CHECK, "--format", "json"),
        "inv.yml:5",
        ("account_id must be 12 digits",),
        json_format=True,
    ),
    # --- AWS's input rules, which the emulator does not enforce ------------------------------------
    Case(
        "role-name-not-ascii",
        {
            "play.yml": "- name: baseline\n  accounts: all\n  tasks:\n    - name: Deploy role\n      iam_role:\n"
            + "        name: デプロイ\n"
            + "        trust_policy: {Statement: [{Effect: Allow, Principal: {Service: ec2.amazonaws.com},"
            + ' Action: "sts:AssumeRole"}]}\n'
        },
        RUN,
        "play.yml:6",
        ("role name 'デプロイ' contains 'デ'", "ASCII letters, digits and _+=,.@-"),
        task="Deploy role",
        option="name",
        live=True,
    ),
    Case(
        "role-tag-key-with-aws-prefix",
        {
            "play.yml": "- name: baseline\n  accounts: all\n  tasks:\n    - name: Deploy role\n      iam_role:\n"
            + "        name: deploy\n"
            + "        trust_policy: {Statement: [{Effect: Allow, Principal: {Service: ec2.amazonaws.com},"
            + ' Action: "sts:AssumeRole"}]}\n'
            + '        tags:\n          team: platform\n          "aws:owner": me\n'
        },
        RUN,
        "play.yml:8",
        ("tag key 'aws:owner' begins with 'aws:'",),
        task="Deploy role",
        option="tags",
        live=True,
    ),
    Case(
        "role-inline-policies-over-the-total-size",  # each fits alone (~5,500), not both (limit 10,240)
        {
            "play.yml": "- name: baseline\n  accounts: all\n  tasks:\n    - name: Deploy role\n      iam_role:\n"
            + "        name: deploy\n"
            + "        trust_policy: {Statement: [{Effect: Allow, Principal: {Service: ec2.amazonaws.com},"
            + ' Action: "sts:AssumeRole"}]}\n'
            + "        inline_policies:\n"
            + "".join(
                f'          {p}: {{Version: "2012-10-17", Statement: [{{Effect: Allow, Action: "s3:GetObject",'
                f' Resource: "arn:aws:s3:::{p}/{"k" * 5500}"}}]}}\n'
                for p in ("read-a", "read-b")
            )
        },
        RUN,
        "play.yml:8",
        ("inline policies together are", "over AWS's limit of 10,240"),
        task="Deploy role",
        option="inline_policies",
        live=True,
    ),
    *[
        Case(
            f"cloudtrail-{label}",
            {
                "play.yml": "- name: baseline\n  accounts: all\n  tasks:\n    - name: Trail\n      cloudtrail:\n"
                "        name: account-trail\n"
                + ("" if option == "bucket" else "        bucket: cloudtrail-logs-123456789012\n")
                + f"        {option}: {value}\n"
            },
            RUN,
            "play.yml:7" if option == "bucket" else "play.yml:8",
            (says,),
            task="Trail",
            option=option,
        )
        for label, option, value, says in (
            ("retention-of-90-days", "retention_days", "90", "90 is out of range: must be at least 91"),
            ("bucket-name-with-capitals", "bucket", "Trail_Logs", "bucket name 'Trail_Logs'"),
            ("bucket-name-like-an-ip-address", "bucket", "192.168.5.4", "looks like an IP address"),
            ("prefix-with-a-leading-slash", "s3_key_prefix", "/trail", "no leading slash"),
            (
                "malformed-kms-key",
                "kms_key_id",
                "arn:aws:kms:us-east-1:key/oops",
                "KMS key 'arn:aws:kms:us-east-1:key/oops'",
            ),
            ("unknown-management-events", "management_events", "everything", "'everything' is not one of"),
        )
    ],
    Case(
        "inventory-account-id-in-fullwidth-digits",  # Python's \d matches them; AWS's account ids are ASCII
        {"play.yml": STRONG, "inv.yml": inventory('account_id: "１２３４５６７８９０１２"')},
        RUN,
        "inv.yml:5",
        ("account 'test': account_id must be 12 digits",),
    ),
    Case(
        "inventory-region-with-trailing-newline",  # `$` would accept it
        {"play.yml": STRONG, "inv.yml": inventory('region: "us-east-1\\n"')},
        RUN,
        "inv.yml:5",
        ("region 'us-east-1\\n' is not an AWS region name",),
    ),
    Case(
        "inventory-endpoint-url-with-a-space",  # a prefix match would accept it
        {"play.yml": STRONG, "inv.yml": "all:\n  accounts:\n    test:\n      endpoint_url: http://127.0.0.1:9 x\n"},
        RUN,
        "inv.yml:4",
        ("account 'test': endpoint_url must be an http(s) URL or 'embedded'",),
    ),
]


def account_state(iam: Any) -> dict[str, Any]:
    """What a bad run could have changed in the account."""
    try:
        policy = iam.get_account_password_policy()["PasswordPolicy"]
    except iam.exceptions.NoSuchEntityException:
        policy = None
    return {
        "password_policy": policy,
        "users": sorted(u["UserName"] for u in iam.list_users()["Users"]),
        "policies": sorted(p["PolicyName"] for p in iam.list_policies(Scope="Local")["Policies"]),
    }


def files_in(directory: Path) -> dict[str, bytes]:
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


def test_cases_are_distinct_and_enough() -> None:
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids))
    assert len([c for c in CASES if not c.known_bug]) >= 35


def _param(case: Case) -> Any:
    marks = [pytest.mark.xfail(strict=True, reason=case.known_bug)] if case.known_bug else []
    return pytest.param(case, id=case.id, marks=marks)


@pytest.mark.parametrize("case", [_param(c) for c in CASES])
def test_bad_input_is_one_line_exit_1_no_call_no_change(
    case: Case, workdir: Path, calls: Any, request: pytest.FixtureRequest
) -> None:
    for name in case.fixtures:
        request.getfixturevalue(name)
    iam = request.getfixturevalue("iam") if case.live else None
    url = request.getfixturevalue("aws") if case.live else NOWHERE
    if iam is not None:
        iam.update_account_password_policy(MinimumPasswordLength=8, RequireNumbers=True, MaxPasswordAge=90)
    where = case.where
    if case.setup is not None:
        where = case.setup(workdir, url) or where
    files = dict(case.files)
    if "play.yml" in files and "inv.yml" not in files and not (workdir / "inv.yml").exists():
        files["inv.yml"] = inventory()
    for name, text in files.items():
        write(workdir, name, text.replace(URL, url))
    calls.clear()
    state_before = account_state(iam) if iam is not None else None
    files_before = files_in(workdir)

    result = cli(*case.argv)

    assert result.code == 1, result.out + result.err
    assert "Traceback" not in result.err + result.out
    lines = result.err.splitlines()
    assert len(lines) == 1, result.err
    line = lines[0]
    assert line.startswith("error: "), line
    if where is not None:
        assert line.startswith(f"error: {where}: "), line
    if case.task is not None:
        assert f"task {case.task!r}" in line, line
    if case.option is not None:
        assert f"option {case.option!r}" in line, line
    for text in case.says:
        assert text in line, line
    if case.json_format:
        data = json.loads(result.out)
        assert data["exit_code"] == 1
        assert data["error"] == line.removeprefix("error: ")
    else:
        assert result.out == ""

    assert calls.records == []
    assert files_in(workdir) == files_before
    if iam is not None:
        assert account_state(iam) == state_before
