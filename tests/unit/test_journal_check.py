"""The journal check on its own: every undo the modules plan passes it, and an undo edited to do anything else
does not (offline: the plan cases of tests/modules give the changes)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from remediator import journal, registry
from remediator.errors import ArgError, ConfigError, TaskFailed
from remediator.journal import JournalProblem, check_undo
from remediator.model import ApiCall, Change

CASES = sorted((Path(__file__).resolve().parent.parent / "modules").glob("*/*.json"))
ACCOUNT = "123456789012"


def planned_changes() -> list[tuple[str, Change]]:
    """Every change with an undo that a plan case makes its module plan."""
    found = []
    for path in CASES:
        case = json.loads(path.read_text(encoding="utf-8"))
        if "changes" not in case:
            continue
        module = registry.get(path.parent.name)
        try:
            module.validate(case["args"])
            result = module.plan(case["args"], module.load_current(case["current"]), "acct/global")
        except (ArgError, TaskFailed):
            continue
        found += [(f"{path.parent.name}/{path.stem}#{i}", c) for i, c in enumerate(result.changes) if c.undo]
    return found


PLANNED = planned_changes()


def test_the_plan_cases_give_undos_of_every_module_that_has_some():
    modules = {change.module for _, change in PLANNED}
    assert len(PLANNED) > 100
    assert {"cloudtrail", "iam_role", "iam_user", "iam_users", "iam_policy", "iam_access_keys"} <= modules


@pytest.mark.parametrize("change", [c for _, c in PLANNED], ids=[name for name, _ in PLANNED])
def test_every_undo_a_module_plans_passes(change: Change) -> None:
    check_undo(change, ACCOUNT)
    check_undo(change, None)  # an entry from before account ids were recorded: checked as far as it can be


def one(module: str, operation: str) -> Change:
    """The first planned change of `module` whose calls include `operation`."""
    return next(c for _, c in PLANNED if c.module == module and operation in {x.operation for x in c.calls})


def with_undo(change: Change, *undo: ApiCall) -> Change:
    return dataclasses.replace(change, undo=undo)


def edited(call: ApiCall, **params: Any) -> ApiCall:
    return dataclasses.replace(call, params={**call.params, **params})


def refused(change: Change, says: str) -> None:
    with pytest.raises(JournalProblem) as info:
        check_undo(change, ACCOUNT)
    assert says in str(info.value), str(info.value)


def test_an_operation_that_inverts_nothing_the_change_did_is_refused():
    change = one("iam_password_policy", "update_account_password_policy")
    refused(with_undo(change, ApiCall("iam", "delete_user", {"UserName": "victim"})), "does not undo")


def test_an_undo_on_another_resource_is_refused():
    change = one("iam_role", "update_role")
    refused(with_undo(change, edited(change.undo[0], RoleName="victim")), "RoleName 'victim'")


def test_an_undo_that_deletes_what_existed_before_the_change_is_refused():
    update = next(
        c
        for _, c in PLANNED
        if c.module == "iam_password_policy" and c.action == "update" and c.undo[0].operation.startswith("update")
    )
    refused(with_undo(update, ApiCall("iam", "delete_account_password_policy")), "removes what was there")
    start = one("cloudtrail", "start_logging")
    refused(dataclasses.replace(start, before={"IsLogging": True}), "removes what was there")
    trail = one("cloudtrail", "update_trail")
    stop = ApiCall("cloudtrail", "stop_logging", {"Name": trail.calls[0].params["Name"]}, trail.calls[0].region)
    refused(with_undo(trail, stop), "does not undo")


def test_an_undo_that_writes_a_value_the_before_image_never_held_is_refused():
    change = one("iam_password_policy", "update_account_password_policy")
    undo = change.undo[0]
    refused(with_undo(change, edited(undo, MinimumPasswordLength=6)), "MinimumPasswordLength holds a value")
    flipped = next(k for k, v in undo.params.items() if isinstance(v, bool))
    refused(with_undo(change, edited(undo, **{flipped: not undo.params[flipped]})), f"{flipped} holds a value")


def test_an_undo_that_untags_keys_the_change_did_not_set_is_refused():
    change = next(c for _, c in PLANNED if c.resource.endswith("/tags") and c.undo[0].operation.startswith("untag"))
    refused(with_undo(change, edited(change.undo[0], TagKeys=["owner"])), "tags keys")


def test_an_undo_in_another_region_is_refused():
    change = next(c for _, c in PLANNED if c.module == "cloudtrail")
    refused(with_undo(change, dataclasses.replace(change.undo[0], region="ap-south-1")), "region 'ap-south-1'")


def test_the_policy_a_change_created_is_the_only_one_its_undo_deletes():
    change = one("iam_policy", "create_policy")
    arn = change.undo[0].params["PolicyArn"]
    refused(with_undo(change, edited(change.undo[0], PolicyArn=arn + "-x")), "PolicyArn")
    with pytest.raises(JournalProblem):
        check_undo(change, "111111111111")  # the ARN of the entry's account is another one


def test_an_empty_undo_is_refused():
    refused(with_undo(one("iam_role", "update_role")), "empty")


# ---- the journal file: records and their order ---------------------------------------------------------------


def journal_text(*records: dict[str, Any]) -> str:
    return "".join(json.dumps(r) + "\n" for r in records)


RUN = {"type": "run", "format": 1, "run_id": "r1", "started": "2026-01-01T00:00:00+00:00"}


def begin(seq: int = 1, **edits: Any) -> dict[str, Any]:
    change = one("iam_role", "update_role")
    record = {
        "type": "begin",
        "run_id": "r1",
        "seq": seq,
        "account": {"name": "acct", "account_id": ACCOUNT, "region": "us-east-1"},
        "args": {"name": change.resource, "max_session_duration": 3600},
        "change": change.to_dict(),
    }
    return {**record, **edits}


def end(seq: int = 1, status: str = "applied") -> dict[str, Any]:
    return {"type": "end", "run_id": "r1", "seq": seq, "status": status}


UNDONE = {"type": "undone", "run_id": "r1", "seq": 1}
NO_ID = {"name": "acct", "region": "us-east-1"}  # as journals were written before account ids were recorded


def read(tmp_path: Path, text: str) -> list[journal.Entry]:
    path = tmp_path / "j.jsonl"
    path.write_text(text, encoding="utf-8")
    return journal.read(path)


def refused_at(tmp_path: Path, text: str, line: int, says: str) -> None:
    with pytest.raises(ConfigError) as info:
        read(tmp_path, text)
    assert info.value.line == line and says in info.value.message, str(info.value)
    assert "\n" not in str(info.value)


def test_a_well_formed_journal_reads(tmp_path):
    entries = read(tmp_path, journal_text(RUN, begin(), end()))
    assert [(e.seq, e.status, e.line, e.pending) for e in entries] == [(1, "applied", 2, True)]


@pytest.mark.parametrize(
    ("records", "line", "says"),
    [
        pytest.param([RUN, begin(), begin()], 3, "begun twice", id="begun-twice"),
        pytest.param([RUN, begin(), end(), end()], 4, "ends twice", id="ended-twice"),
        pytest.param([RUN, RUN], 2, "second run header", id="header-twice"),
        pytest.param([RUN, begin(run_id="r2")], 2, "never started", id="run-never-started"),
        pytest.param([RUN, begin(), end(status="exploded")], 3, "status", id="unknown-status"),
        pytest.param([RUN, begin(), end(status="failed"), UNDONE, UNDONE], 5, "undone twice", id="undone-failed-twice"),
        pytest.param([RUN, begin(seq=0)], 2, "seq", id="seq-zero"),
        pytest.param([RUN, begin(extra=1)], 2, "not a field", id="unknown-field"),
        pytest.param([RUN, begin(account=NO_ID)], 2, "account_id", id="no-account-id"),
        pytest.param([{**RUN, "format": True}], 1, "format", id="format-a-bool"),
    ],
)  # fmt: skip
def test_records_out_of_place_are_refused(tmp_path, records, line, says):
    refused_at(tmp_path, journal_text(*records), line, says)


def test_an_entry_without_account_id_that_needs_no_rollback_reads(tmp_path):
    # already undone: rollback will not write for it, so nothing needs proving
    assert read(tmp_path, journal_text(RUN, begin(account=NO_ID), end(), UNDONE))[0].undone


# ---- generated: any value anywhere in a real entry, and any cut of its line -----------------------------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place in a JSON value, as the keys and indexes that lead there."""
    found = [prefix] if prefix else []
    children = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, child in children:
        found += paths(child, (*prefix, key))
    return found


RECORD = begin()
PLACES = paths(RECORD)


def replaced(record: Any, place: tuple[Any, ...], value: Any) -> Any:
    copied = json.loads(json.dumps(record))
    node = copied
    for key in place[:-1]:
        node = node[key]
    node[place[-1]] = value
    return copied


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(place=st.sampled_from(PLACES), value=JSON)
def test_any_value_anywhere_is_read_or_one_error_naming_its_line(tmp_path, place, value):
    text = journal_text(RUN, replaced(RECORD, place, value), end())
    try:
        read(tmp_path, text)
    except ConfigError as exc:
        assert exc.line in (2, 3) and "\n" not in str(exc), str(exc)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cut=st.integers(min_value=0), junk=st.text(max_size=5))
def test_any_cut_of_a_line_is_one_error_naming_its_line(tmp_path, cut, junk):
    line = json.dumps(RECORD)
    cut %= len(line)
    text = journal_text(RUN) + line[:cut] + junk + line[cut:] + "\n"
    try:
        read(tmp_path, text)
    except ConfigError as exc:
        assert exc.line == 2 and "\n" not in str(exc), str(exc)
