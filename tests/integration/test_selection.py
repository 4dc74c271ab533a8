"""Which accounts and tasks run, and with which variables: --limit, tags, when, loop, vars precedence."""

from __future__ import annotations

import json

from tests.conftest import cli, write

INVENTORY = """\
all:
  vars:
    min_len: 10
    endpoint: "{url}"
  children:
    production:
      vars: {{min_len: 12}}
      accounts:
        prod-a: {{endpoint_url: "{url}", min_len: 13}}
        prod-b: {{endpoint_url: "{url}"}}
    staging:
      accounts:
        stage-a: {{endpoint_url: "{url}"}}
"""


def inventory(workdir, aws):
    return write(workdir, "inv.yml", INVENTORY.format(url=aws))


def plan_of(result):
    data = json.loads(result.out)
    return {a["name"]: a["tasks"] for a in data["accounts"]}


def lengths(result):
    return {
        name: [t["args"].get("minimum_length") for t in tasks if not t["skipped"]]
        for name, tasks in plan_of(result).items()
    }


BOOK = """\
- accounts: all
  tasks:
    - name: length
      iam_password_policy: {minimum_length: "{{ min_len }}"}
"""


def test_vars_precedence_all_group_account_and_extra(aws, workdir):
    inv = inventory(workdir, aws)
    book = write(workdir, "p.yml", BOOK)
    result = cli("run", book, "-i", inv, "--check", "--format", "json")
    assert lengths(result) == {"prod-a": [13], "prod-b": [12], "stage-a": [10]}
    extra = cli("run", book, "-i", inv, "--check", "--format", "json", "-e", "min_len=20")
    assert lengths(extra) == {"prod-a": [20], "prod-b": [20], "stage-a": [20]}


def test_play_vars_override_inventory_and_extra_vars_override_play(aws, workdir):
    inv = inventory(workdir, aws)
    write(workdir, "vars/base.yml", "min_len: 16\n")
    book = write(
        workdir, "p.yml", BOOK.replace("  tasks:", "  vars: {min_len: 15}\n  vars_files: [vars/base.yml]\n  tasks:")
    )
    result = cli("run", book, "-i", inv, "--check", "--format", "json")
    assert set(map(tuple, lengths(result).values())) == {(16,)}
    write(workdir, "extra.yml", "min_len: 18\n")
    extra = cli("run", book, "-i", inv, "--check", "--format", "json", "-e", "@extra.yml")
    assert set(map(tuple, lengths(extra).values())) == {(18,)}


def test_limit_patterns(aws, workdir):
    inv = inventory(workdir, aws)
    book = write(workdir, "p.yml", BOOK)

    def names(pattern):
        return sorted(plan_of(cli("run", book, "-i", inv, "--check", "--format", "json", "--limit", pattern)))

    assert names("production") == ["prod-a", "prod-b"]
    assert names("prod-*") == ["prod-a", "prod-b"]
    assert names("production:!prod-b") == ["prod-a"]
    assert names("prod-a:stage-a") == ["prod-a", "stage-a"]
    assert names("all:&staging") == ["stage-a"]
    nothing = cli("run", book, "-i", inv, "--check", "--limit", "nope")
    assert nothing.code == 1 and "matches no account" in nothing.err


def test_play_pattern_selects_accounts(aws, workdir):
    inv = inventory(workdir, aws)
    book = write(workdir, "p.yml", BOOK.replace("accounts: all", "hosts: staging"))
    assert sorted(plan_of(cli("run", book, "-i", inv, "--check", "--format", "json"))) == ["stage-a"]


TAGGED = """\
- accounts: stage-a
  tasks:
    - name: one
      iam_password_policy: {minimum_length: 14}
      tags: [passwords]
    - name: two
      iam_password_policy: {require_symbols: true}
      tags: [symbols]
    - name: three
      iam_password_policy: {require_numbers: true}
      when: enforce_numbers | default(false)
"""


def test_tags_skip_tags_and_when(aws, workdir):
    inv = inventory(workdir, aws)
    book = write(workdir, "p.yml", TAGGED)

    def tasks(*extra):
        result = cli("run", book, "-i", inv, "--check", "--format", "json", *extra)
        return [(t["task"], t["status"]) for t in plan_of(result)["stage-a"]]

    assert tasks() == [("one", "would_change"), ("two", "would_change"), ("three", "skipped")]
    assert tasks("--tags", "passwords") == [("one", "would_change")]
    assert tasks("--skip-tags", "passwords") == [("two", "would_change"), ("three", "skipped")]
    assert tasks("-e", '{"enforce_numbers": true}')[2] == ("three", "would_change")


def test_loop_renders_one_task_per_item(aws, workdir):
    inv = inventory(workdir, aws)
    book = write(
        workdir,
        "p.yml",
        "- accounts: stage-a\n  tasks:\n    - name: 'length {{ item }}'\n"
        "      iam_password_policy: {minimum_length: '{{ item }}', allow_weaken: true}\n      loop: [14, 16]\n",
    )
    result = cli("run", book, "-i", inv, "--check", "--format", "json")
    assert [t["task"] for t in plan_of(result)["stage-a"]] == ["length 14", "length 16"]


def test_tags_that_match_no_task_are_bad_input(aws, workdir, calls):
    book = write(
        workdir,
        "play.yml",
        "- accounts: all\n  tasks:\n    - iam_password_policy: {minimum_length: 14}\n      tags: [passwords]\n",
    )
    result = cli("run", book, "-i", inventory(workdir, aws), "--tags", "pasword", "--check")
    assert result.code == 1
    assert "play.yml" in result.err and "--tags 'pasword' matches no task" in result.err
    assert "passwords" in result.err  # the tags that exist
    assert calls.records == []
    assert cli("run", book, "-i", inventory(workdir, aws), "--tags", "pasword,passwords", "--check").code == 2


def test_two_names_for_one_account_id_are_bad_input(aws, workdir, calls):
    inv = write(
        workdir,
        "inv.yml",
        f'all:\n  accounts:\n    prod: {{endpoint_url: "{aws}", account_id: "123456789012"}}\n'
        f'    prod-again: {{endpoint_url: "{aws}", account_id: "123456789012"}}\n',
    )
    book = write(workdir, "play.yml", "- accounts: all\n  tasks:\n    - iam_password_policy: {minimum_length: 14}\n")
    result = cli("run", book, "-i", inv)
    assert result.code == 1
    assert "inv.yml:4" in result.err and "same account_id 123456789012" in result.err
    assert len(result.err.strip().splitlines()) == 1
    assert calls.records == []
