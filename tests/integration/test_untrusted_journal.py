"""Rollback trusts nothing in a journal it has not checked (issue 12, items 1, 2, 5, 6 and 14).

A journal is a file on disk: anyone who can write it can make rollback write to AWS. So the whole journal is
checked before the first AWS call (every record well-formed, every undo the inverse of its change, on the
resource the change names), every account it names must be the one the credentials reach, and a journal
that fails any check is one line naming the file and line, exit 1, with nothing undone and no AWS call.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from remediator.rollback import rollback
from tests.conftest import cli, write, write_inventory
from tests.emulator import iam_in, make_role, role_names, user_names

ACCOUNT = "123456789012"
STRONG = "- tasks:\n    - iam_password_policy: {minimum_length: 14, require_symbols: true}\n"
# Every kind of change rollback undoes, from modules that name their resources differently: an update of a
# singleton, a created role with tags and a boundary and its inline policy, an update of an existing role's
# session and tags, a created managed policy and its attachment, a created group, user and membership.
MIXED = """\
- tasks:
    - iam_password_policy: {minimum_length: 14, require_symbols: true}
    - iam_role:
        name: app
        description: the app
        trust_policy:
          Version: "2012-10-17"
          Statement: [{Effect: Allow, Principal: {Service: ec2.amazonaws.com}, Action: "sts:AssumeRole"}]
        max_session_duration: 7200
        tags: {team: core}
        permissions_boundary: arn:aws:iam::aws:policy/ReadOnlyAccess
        inline_policies:
          s3: {Version: "2012-10-17", Statement: [{Effect: Allow, Action: "s3:GetObject", Resource: "*"}]}
    - iam_role: {name: old, max_session_duration: 3600, tags: {env: prod}}
    - iam_policy:
        name: app-read
        document: {Version: "2012-10-17", Statement: [{Effect: Allow, Action: "s3:GetObject", Resource: "*"}]}
        attach_to: {roles: [old]}
    - iam_group: {name: devs, path: /teams/}
    - iam_user: {name: carol, groups: [devs]}
"""


def password_policy(iam: Any) -> dict[str, Any] | None:
    try:
        return iam.get_account_password_policy()["PasswordPolicy"]
    except iam.exceptions.NoSuchEntityException:
        return None


def records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def write_records(path: Path, items: list[Any]) -> None:
    path.write_text("".join((i if isinstance(i, str) else json.dumps(i)) + "\n" for i in items))


def begin_lines(items: list[dict[str, Any]]) -> list[int]:
    """The 0-based indexes of the begin records."""
    return [i for i, r in enumerate(items) if r["type"] == "begin"]


def assert_refused(result: Any, file: Path | str, line: int) -> None:
    """A bad journal: exit 1, one line on stderr naming the file and line, nothing on stdout."""
    assert result.code == 1, result.out + result.err
    assert result.out == "", result.out
    lines = result.err.splitlines()
    assert len(lines) == 1, result.err
    assert lines[0].startswith(f"error: {file}:{line}: "), lines[0]
    assert "nothing was rolled back" in lines[0], lines[0]
    assert "Traceback" not in result.err and "internal error" not in result.err


def undone(result: Any) -> int:
    return sum(1 for line in result.out.splitlines() if line.startswith("undone:"))


def run_mixed(iam: Any, aws: str, workdir: Path) -> Path:
    """A real journal: MIXED applied to the emulator (ten changes, every one with an undo)."""
    make_role(iam, "old", MaxSessionDuration=43200, Tags=[{"Key": "env", "Value": "dev"}])
    iam.update_account_password_policy(MinimumPasswordLength=8)
    inv, book = write_inventory(workdir, aws), write(workdir, "mixed.yml", MIXED)
    ran = cli("run", book, "-i", inv, "--journal", "j.jsonl")
    assert ran.code == 0, ran.out + ran.err
    return workdir / "j.jsonl"


# ---- item 1: sessions by the whole connection, credentials proven to reach the account ------------------


def two_account_inventory(workdir: Path, aws: str, account_id: str) -> Path:
    """An inventory whose one account is called `acc`, whatever account it is."""
    body = (
        "all:\n  accounts:\n    acc:\n"
        f'      account_id: "{account_id}"\n      endpoint_url: "{aws}"\n'
        f"      role_arn: arn:aws:iam::{account_id}:role/remediator\n"
    )
    return write(workdir, f"inv-{account_id}.yml", body)


def test_two_accounts_with_one_name_are_each_restored_in_their_own_account(aws, workdir):
    first, second = iam_in(aws, "111111111111"), iam_in(aws, "222222222222")
    first.update_account_password_policy(MinimumPasswordLength=8)
    second.update_account_password_policy(MinimumPasswordLength=10, RequireNumbers=True)
    seeded = {"first": password_policy(first), "second": password_policy(second)}
    book = write(workdir, "play.yml", STRONG)
    for account_id in ("111111111111", "222222222222"):
        ran = cli("run", book, "-i", two_account_inventory(workdir, aws, account_id), "--journal", "j.jsonl")
        assert ran.code == 0, ran.out + ran.err

    done = cli("rollback", "j.jsonl")

    assert done.code == 0, done.out + done.err
    assert {"first": password_policy(first), "second": password_policy(second)} == seeded


def test_an_endpoint_edited_in_one_entry_is_the_endpoint_rollback_uses(iam, aws, workdir, calls):
    path = run_mixed(iam, aws, workdir)
    items = records(path)
    first = begin_lines(items)[0]  # the oldest change: the password policy
    items[first]["account"]["endpoint_url"] = "http://127.0.0.1:9"  # nothing listens there
    write_records(path, items)
    calls.clear()

    result = cli("rollback", path)

    assert result.code == 1, result.out + result.err
    assert "127.0.0.1:9" in result.out + result.err
    assert calls.mutating == []  # every account is reached before the first write: nothing was undone
    assert "app" in role_names(iam) and password_policy(iam)["MinimumPasswordLength"] == 14


def test_a_region_edited_in_one_entry_is_the_region_its_undo_uses(iam, aws, workdir, client_hooks):
    sent: list[tuple[str, str]] = []

    def record(client: Any) -> None:
        region = client.meta.region_name
        client.meta.events.register(
            "before-parameter-build.iam.*", lambda model, **_: sent.append((model.name, region))
        )

    client_hooks.append(record)
    path = run_mixed(iam, aws, workdir)
    items = records(path)
    items[begin_lines(items)[0]]["account"]["region"] = "eu-west-2"  # the password policy's entry
    write_records(path, items)
    sent.clear()

    done = cli("rollback", path)

    assert done.code == 0, done.out + done.err
    assert ("UpdateAccountPasswordPolicy", "eu-west-2") in sent
    assert ("DeleteRole", "us-east-1") in sent


def test_credentials_that_reach_another_account_than_the_entry_names_undo_nothing(iam, aws, workdir, calls):
    iam.update_account_password_policy(MinimumPasswordLength=8)
    ran = cli("run", write(workdir, "p.yml", STRONG), "-i", write_inventory(workdir, aws), "--journal", "j.jsonl")
    assert ran.code == 0, ran.out + ran.err
    path = workdir / "j.jsonl"
    items = records(path)
    items[begin_lines(items)[0]]["account"]["account_id"] = "111111111111"
    write_records(path, items)
    calls.clear()

    result = cli("rollback", path)

    assert result.code == 1, result.out + result.err
    assert "reach account 123456789012, not 111111111111" in result.out + result.err
    assert calls.mutating == []
    assert password_policy(iam)["MinimumPasswordLength"] == 14


def test_the_journal_records_the_account_id_the_credentials_reached(iam, aws, workdir):
    # the inventory names no account_id: the one the run proved is written, so rollback can prove it again
    ran = cli("run", write(workdir, "p.yml", STRONG), "-i", write_inventory(workdir, aws), "--journal", "j.jsonl")
    assert ran.code == 0, ran.out + ran.err
    begins = [r for r in records(workdir / "j.jsonl") if r["type"] == "begin"]
    assert begins and all(r["account"]["account_id"] == ACCOUNT for r in begins)


def test_an_entry_that_names_no_account_is_not_rolled_back(iam, aws, workdir, calls):
    ran = cli("run", write(workdir, "p.yml", STRONG), "-i", write_inventory(workdir, aws), "--journal", "j.jsonl")
    assert ran.code == 0, ran.out + ran.err
    path = workdir / "j.jsonl"
    items = records(path)
    at = begin_lines(items)[0]
    items[at]["account"].pop("account_id", None)  # as a journal written before account ids were recorded
    write_records(path, items)
    calls.clear()

    result = cli("rollback", path)

    assert_refused(result, path, at + 1)
    assert "account_id" in result.err
    assert calls.records == []


# ---- item 2: a journal is checked whole, and an undo must be the inverse of its change ----------------------


def test_an_undo_replaced_by_delete_user_of_a_victim_is_refused(iam, aws, workdir, calls):
    iam.create_user(UserName="victim")
    iam.update_account_password_policy(MinimumPasswordLength=8)
    ran = cli("run", write(workdir, "p.yml", STRONG), "-i", write_inventory(workdir, aws), "--journal", "j.jsonl")
    assert ran.code == 0, ran.out + ran.err
    path = workdir / "j.jsonl"
    items = records(path)
    at = begin_lines(items)[0]
    items[at]["change"]["undo"] = [{"service": "iam", "operation": "delete_user", "params": {"UserName": "victim"}}]
    write_records(path, items)
    calls.clear()

    for argv in (("rollback", path), ("rollback", path, "--check")):
        assert_refused(cli(*argv), path, at + 1)
    assert calls.records == []
    assert user_names(iam) == ["victim"]


def test_a_damaged_older_entry_stops_the_rollback_before_the_valid_newer_one(iam, aws, workdir, calls):
    path = run_mixed(iam, aws, workdir)
    items = records(path)
    at = begin_lines(items)[0]
    items[at]["change"]["module"] = "iam_nope"
    write_records(path, items)
    calls.clear()

    assert_refused(cli("rollback", path), path, at + 1)
    assert calls.records == []
    assert user_names(iam) == ["carol"]  # the newest change, valid, was not undone either


def test_the_unaltered_mixed_journal_rolls_back_whole(iam, aws, workdir):
    """The checks refuse tampering, not the undos the modules really plan."""
    path = run_mixed(iam, aws, workdir)
    assert cli("rollback", path, "--check").code == 2
    done = cli("rollback", path)
    assert done.code == 0, done.out + done.err
    assert undone(done) == 10
    assert role_names(iam) == ["old"] and user_names(iam) == []
    assert password_policy(iam)["MinimumPasswordLength"] == 8


# ---- the corpus: tampered copies of a real journal -------------------------------------------------------

Items = list[dict[str, Any]]
# A mutation of one begin record (given the records and its index) → the records to write (None: it does not
# apply to that entry) and the 1-based line the error must name.
Mutation = Callable[[Items, int], tuple[list[Any], int] | None]


def _change(edit: Callable[[dict[str, Any]], Any]) -> Mutation:
    """A mutation of the begin record at `at` made by `edit` (which returns False when it does not apply)."""

    def mutate(items: Items, at: int) -> tuple[list[Any], int] | None:
        copied = copy.deepcopy(items)
        if edit(copied[at]) is False:
            return None
        return copied, at + 1

    return mutate


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], Any]:
    """Set a dotted path (`change.undo.0.params`) of a record; False when the path is not there."""

    def edit(record: dict[str, Any]) -> Any:
        *parents, last = path.split(".")
        node: Any = record
        for part in parents:
            try:
                node = node[int(part)] if isinstance(node, list) else node[part]
            except (KeyError, IndexError, TypeError):
                return False
        if isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value
        return True

    return edit


def _drop(path: str) -> Callable[[dict[str, Any]], Any]:
    def edit(record: dict[str, Any]) -> Any:
        *parents, last = path.split(".")
        node: Any = record
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        if last not in node:
            return False
        del node[last]
        return True

    return edit


IDENTITY = ("UserName", "RoleName", "GroupName", "PolicyArn", "PolicyName")


def _retarget(record: dict[str, Any]) -> Any:
    """The undo's first call aimed at another resource of the same kind."""
    params = record["change"]["undo"][0]["params"]
    key = next((k for k in IDENTITY if k in params), None)
    if key is None:
        return False
    params[key] = params[key] + "-victim"
    return True


def _revalue(record: dict[str, Any]) -> Any:
    """A value of the undo's first call that the change's before-image never held."""
    params = record["change"]["undo"][0]["params"]
    for key, value in params.items():
        if key in IDENTITY or key in ("Tags", "TagKeys"):
            continue
        if isinstance(value, int) and not isinstance(value, bool):
            params[key] = 7
            return True
        if isinstance(value, str) and not value.startswith("{"):
            params[key] = "tampered"
            return True
    return False


def _swap_account(record: dict[str, Any]) -> Any:
    """Another account's id, on an entry whose calls name this account's ARNs (so it shows without AWS)."""
    if ACCOUNT not in json.dumps(record["change"]["calls"]) + json.dumps(record["change"]["undo"]):
        return False
    record["account"]["account_id"] = "222222222222"
    return True


def _undo_removing(record: dict[str, Any]) -> Any:
    """An update's undo turned into a deletion that removes what existed before the change."""
    change = record["change"]
    if change["before"] is None or change["module"] != "iam_password_policy":
        return False
    change["undo"] = [{"service": "iam", "operation": "delete_account_password_policy", "params": {}}]
    return True


def _untag_more(record: dict[str, Any]) -> Any:
    calls = record["change"]["undo"]
    tag_calls = [c for c in calls if c["operation"].startswith(("tag_", "untag_"))]
    if not tag_calls:
        return False
    noun = tag_calls[0]["operation"].split("_", 1)[1]
    name_param = {"role": "RoleName", "user": "UserName"}[noun]
    calls.append(
        {"service": "iam", "operation": f"untag_{noun}", "params": {name_param: tag_calls[0]["params"][name_param],
                                                                     "TagKeys": ["owner"]}}
    )  # fmt: skip
    return True


VICTIM = {"service": "iam", "operation": "delete_user", "params": {"UserName": "victim"}}

ENTRY_MUTATIONS: dict[str, Mutation] = {
    "account-id-not-digits": _change(_set("account.account_id", "abc")),
    "account-id-a-number": _change(_set("account.account_id", 123456789012)),
    "account-id-swapped": _change(_swap_account),
    "account-id-missing": _change(_drop("account.account_id")),
    "region-not-a-region": _change(_set("account.region", "mars-1")),
    "region-a-number": _change(_set("account.region", 5)),
    "endpoint-not-http": _change(_set("account.endpoint_url", "ftp://example.com")),
    "endpoint-a-template": _change(_set("account.endpoint_url", "{{ lookup_env('X') }}")),
    "endpoint-embedded": _change(_set("account.endpoint_url", "embedded")),
    "account-a-number": _change(_set("account", 5)),
    "account-a-list": _change(_set("account", ["acc"])),
    "account-without-name": _change(_drop("account.name")),
    "account-unknown-key": _change(_set("account.password", "hunter2")),
    "args-a-list": _change(_set("args", [1, 2])),
    "args-unknown-option": _change(_set("args.bogus_option", 1)),
    "change-a-number": _change(_set("change", 5)),
    "change-missing": _change(_drop("change")),
    "module-unknown": _change(_set("change.module", "iam_nope")),
    "module-another": _change(_set("change.module", "iam_user")),
    "address-another-account": _change(_set("change.address", "elsewhere/global/iam_user/x")),
    "action-unknown": _change(_set("change.action", "explode")),
    "before-a-number": _change(_set("change.before", 5)),
    "after-a-list": _change(_set("change.after", [1])),
    "calls-missing": _change(_drop("change.calls")),
    "calls-a-string": _change(_set("change.calls", "iam.update_role")),
    "undo-a-number": _change(_set("change.undo", 5)),
    "undo-an-object": _change(_set("change.undo", {"service": "iam"})),
    "undo-call-a-string": _change(_set("change.undo.0", "iam.delete_user")),
    "undo-delete-victim": _change(_set("change.undo.0", VICTIM)),
    "undo-plus-delete-victim": _change(lambda r: r["change"]["undo"].append(VICTIM)),
    "undo-empty": _change(_set("change.undo", [])),
    "undo-unknown-service": _change(_set("change.undo.0.service", "iamx")),
    "undo-unknown-operation": _change(_set("change.undo.0.operation", "frobnicate")),
    "undo-without-operation": _change(_drop("change.undo.0.operation")),
    "undo-forward-operation": _change(lambda r: r["change"]["undo"].__setitem__(0, r["change"]["calls"][0])),
    "undo-other-resource": _change(_retarget),
    "undo-other-value": _change(_revalue),
    "undo-removes-what-was-there": _change(_undo_removing),
    "undo-untags-more": _change(_untag_more),
    "undo-params-a-number": _change(_set("change.undo.0.params", 5)),
    "undo-params-unknown-key": _change(_set("change.undo.0.params.Bogus", 1)),
    "undo-region-changed": _change(_set("change.undo.0.region", "eu-west-1")),
    "undo-wait-for-a-number": _change(_set("change.undo.0.wait_for", 5)),
    "seq-a-string": _change(_set("seq", "1")),
    "seq-a-bool": _change(_set("seq", True)),
    "seq-missing": _change(_drop("seq")),
    "run-id-a-number": _change(_set("run_id", 5)),
    "run-id-never-started": _change(_set("run_id", "000000000000")),
    "record-type-unknown": _change(_set("type", "bogus")),
    "summary-a-number": _change(_set("change.summary", 5)),
}


def _line(text: str) -> Mutation:
    """The begin record replaced by a raw line."""

    def mutate(items: Items, at: int) -> tuple[list[Any], int]:
        return [*items[:at], text, *items[at + 1 :]], at + 1

    return mutate


def _truncated(items: Items, at: int) -> tuple[list[Any], int]:
    line = json.dumps(items[at])
    return [*items[:at], line[: len(line) // 2], *items[at + 1 :]], at + 1


def _duplicated(items: Items, at: int) -> tuple[list[Any], int]:
    return [*items[: at + 1], items[at], *items[at + 1 :]], at + 2


def _end_of(items: Items, at: int) -> int:
    key = (items[at]["run_id"], items[at]["seq"])
    return next(i for i, r in enumerate(items) if r["type"] == "end" and (r["run_id"], r["seq"]) == key)


def _end_duplicated(items: Items, at: int) -> tuple[list[Any], int]:
    end = _end_of(items, at)
    return [*items[: end + 1], items[end], *items[end + 1 :]], end + 2


def _end_edited(field: str, value: Any) -> Mutation:
    def mutate(items: Items, at: int) -> tuple[list[Any], int]:
        end = _end_of(items, at)
        copied = copy.deepcopy(items)
        copied[end][field] = value
        return copied, end + 1

    return mutate


def _undone_twice(items: Items, at: int) -> tuple[list[Any], int]:
    undone = {"type": "undone", "run_id": items[at]["run_id"], "seq": items[at]["seq"], "at": "2026-01-01"}
    return [*items, undone, undone], len(items) + 2


LINE_MUTATIONS: dict[str, Mutation] = {
    "line-a-list": _line("[1, 2]"),
    "line-null": _line("null"),
    "line-a-string": _line('"begin"'),
    "line-nested-too-deep": _line("[" * 100_000 + "]" * 100_000),
    "line-huge-integer": _line('{"type": "begin", "seq": ' + "9" * 5000 + "}"),
    "line-truncated": _truncated,
    "begin-duplicated": _duplicated,
    "end-duplicated": _end_duplicated,
    "end-status-unknown": _end_edited("status", "exploded"),
    "end-of-a-change-never-begun": _end_edited("seq", 999),
    "undone-twice": _undone_twice,
}


def header_removed(items: Items) -> tuple[list[Any], int]:
    return items[1:], 1


def header_newer(items: Items) -> tuple[list[Any], int]:
    copied = copy.deepcopy(items)
    copied[0]["format"] = 99
    return copied, 1


def header_repeated(items: Items) -> tuple[list[Any], int]:
    return [items[0], *items], 2


def tampered_journals(items: Items) -> list[tuple[str, list[Any], int]]:
    """Every mutation on two entries of different modules where it applies (else the next that it fits)."""
    begins = begin_lines(items)
    cases = [("header-removed", *header_removed(items)), ("header-newer", *header_newer(items))]
    cases.append(("header-repeated", *header_repeated(items)))
    for name, mutate in {**ENTRY_MUTATIONS, **LINE_MUTATIONS}.items():
        made = 0
        for at in sorted(begins, key=lambda i: (i % 2, i)):  # alternate old and new entries, modules differ
            result = mutate(items, at)
            if result is None:
                continue
            cases.append((f"{name}@{at + 1}", *result))
            made += 1
            if made == 2:
                break
        assert made, f"mutation {name} applies to no entry of the journal"
    return cases


def test_tampered_journals_are_refused_whole_before_any_call(iam, aws, workdir, calls):
    path = run_mixed(iam, aws, workdir)
    items = records(path)
    cases = tampered_journals(items)
    assert len(cases) >= 100
    failures = []
    for name, lines, line in cases:
        target = workdir / "tampered.jsonl"
        write_records(target, lines)
        written = target.read_bytes()
        calls.clear()
        for argv in (("rollback", target), ("rollback", target, "--check")):
            result = cli(*argv)
            try:
                assert_refused(result, target, line)
                assert calls.records == [], calls.records
                assert target.read_bytes() == written
            except AssertionError as exc:
                failures.append(f"{name} {argv[2:]}: {str(exc).splitlines()[0][:300]}")
    assert not failures, f"{len(failures)} of {2 * len(cases)}:\n" + "\n".join(failures)
    assert "carol" in user_names(iam) and "app" in role_names(iam)  # nothing was undone


# ---- item 5: one read per module and account, and the right state between two undos of one resource ------


def test_rollback_reads_each_task_once_not_once_per_change(iam, aws, workdir, calls):
    for i in range(12):
        make_role(iam, f"r{i:02}", MaxSessionDuration=43200)
        iam.create_user(UserName=f"u{i:02}")
        iam.create_access_key(UserName=f"u{i:02}")
        iam.create_access_key(UserName=f"u{i:02}")
    book = write(
        workdir,
        "sweeps.yml",
        "- tasks:\n"
        "    - iam_roles: {max_session_duration: 3600}\n"
        "    - iam_access_keys: {max_active_per_user: 1, action: deactivate}\n"
        "      max_changes: 100\n",
    )
    inv = write_inventory(workdir, aws)
    ran = cli("run", book, "-i", inv, "--journal", "j.jsonl")
    assert ran.code == 0, ran.out + ran.err
    calls.clear()
    check = cli("run", book, "-i", inv, "--check")  # what reading both tasks once costs
    assert check.code == 0, check.out + check.err
    one_read = len(calls.records)
    calls.clear()

    done = cli("rollback", "j.jsonl")

    assert done.code == 0, done.out + done.err
    assert undone(done) == 24
    writes = len(calls.mutating)
    reads = len(calls.records) - writes
    print(f"rollback of 24 changes: {reads} reads, {writes} writes; one check run reads {one_read}")
    # Each task read once, plus reaching the account; iam_access_keys confirms each key live just before a
    # write to it (ListAccessKeys, GetAccessKeyLastUsed), by design. Read once per change, it was 152.
    assert reads <= one_read + 1 + 2 * 12, (reads, one_read)


def test_two_changes_of_one_resource_undone_in_a_row_see_the_state_between_them(iam, aws, workdir):
    # run 1 sets 8 → 14; someone sets 10; run 2 sets 10 → 14. Undoing run 2 restores 10, so run 1's change
    # is stale (its resource moved since) and must stay as it is: the second look must not be the first read.
    iam.update_account_password_policy(MinimumPasswordLength=8)
    book, inv = write(workdir, "p.yml", STRONG), write_inventory(workdir, aws)
    assert cli("run", book, "-i", inv, "--journal", "j.jsonl").code == 0
    iam.update_account_password_policy(MinimumPasswordLength=10, RequireSymbols=True)
    assert cli("run", book, "-i", inv, "--journal", "j.jsonl").code == 0

    done = cli("rollback", "j.jsonl")

    assert done.code == 1, done.out + done.err
    assert undone(done) == 1 and "stale, not undone" in done.out
    assert password_policy(iam)["MinimumPasswordLength"] == 10


def test_a_chain_of_changes_to_one_role_by_two_tasks_is_undone_to_the_start(iam, aws, workdir):
    make_role(iam, "app", MaxSessionDuration=43200)
    inv = write_inventory(workdir, aws)
    for cap in (7200, 3600):
        book = write(
            workdir, f"cap{cap}.yml", f"- tasks:\n    - iam_role: {{name: app, max_session_duration: {cap}}}\n"
        )
        assert cli("run", book, "-i", inv, "--journal", "j.jsonl").code == 0
    done = cli("rollback", "j.jsonl")
    assert done.code == 0, done.out + done.err
    assert iam.get_role(RoleName="app")["Role"]["MaxSessionDuration"] == 43200


# ---- item 6: a role created with tags rolls back (regression) -----------------------------------------------


def test_a_role_created_with_tags_and_a_boundary_is_rolled_back(iam, aws, workdir):
    book = write(
        workdir,
        "role.yml",
        "- tasks:\n    - iam_role:\n        name: tagged\n        tags: {team: core, critical: true}\n"
        "        permissions_boundary: arn:aws:iam::aws:policy/ReadOnlyAccess\n"
        "        trust_policy: {Version: '2012-10-17', Statement: [{Effect: Allow, Principal: {Service:"
        " ec2.amazonaws.com}, Action: 'sts:AssumeRole'}]}\n",
    )
    assert cli("run", book, "-i", write_inventory(workdir, aws), "--journal", "j.jsonl").code == 0
    done = cli("rollback", "j.jsonl")
    assert done.code == 0, done.out + done.err
    assert "stale" not in done.out and role_names(iam) == []


# ---- item 14: problems are told apart from information, so the CLI can put them on stderr --------------------


def test_rollback_problems_are_error_lines(iam, aws, workdir):
    iam.update_account_password_policy(MinimumPasswordLength=8)
    book, inv = write(workdir, "p.yml", STRONG), write_inventory(workdir, aws)
    assert cli("run", book, "-i", inv, "--journal", "j.jsonl").code == 0
    iam.update_account_password_policy(MinimumPasswordLength=20)

    outcome = rollback(str(workdir / "j.jsonl"), check=False)

    assert outcome.exit_code == 1
    assert [m.text for m in outcome.messages if m.error] == outcome.errors
    assert len(outcome.errors) == 1 and "stale, not undone" in outcome.errors[0]
    assert outcome.lines == [m.text for m in outcome.messages]  # every line, in order, as before


def test_rollback_problems_reach_stderr(iam, aws, workdir):
    iam.update_account_password_policy(MinimumPasswordLength=8)
    book, inv = write(workdir, "p.yml", STRONG), write_inventory(workdir, aws)
    assert cli("run", book, "-i", inv, "--journal", "j.jsonl").code == 0
    iam.update_account_password_policy(MinimumPasswordLength=20)
    result = cli("rollback", "j.jsonl")
    assert result.code == 1 and "stale, not undone" in result.err


def test_an_entry_its_module_would_not_have_planned_is_refused(iam, aws, workdir, calls):
    """A journal entry meets the checks its module holds a plan file's change to (`check_change`): a change
    to the password policy whose call was edited is not one the task's args plan."""
    iam.update_account_password_policy(MinimumPasswordLength=8)
    ran = cli("run", write(workdir, "p.yml", STRONG), "-i", write_inventory(workdir, aws), "--journal", "j.jsonl")
    assert ran.code == 0, ran.out + ran.err
    path = workdir / "j.jsonl"
    items = records(path)
    at = begin_lines(items)[0]
    items[at]["change"]["calls"][0]["params"]["MinimumPasswordLength"] = 6
    write_records(path, items)
    calls.clear()
    for argv in (("rollback", path), ("rollback", path, "--check")):
        assert_refused(cli(*argv), path, at + 1)
    assert calls.records == []
