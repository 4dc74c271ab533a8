"""Pure plan cases, pyinfra style: one JSON file per scenario under `tests/modules/<module>/<scenario>.json`.

A case file is a JSON object with these keys:

- `"args"`: the task's options, as rendered (native types).
- `"current"`: what the module's `read()` returns (for `iam_password_policy`, the normalised policy dict,
  or `null` when there is none).
- exactly one expectation:
  - `"changes"`: the list of expected changes, in order. Each holds `action`, `after`, optionally `before`
    (checked only when given), `calls` as `[{service, operation, params}]` (`params` defaults to `{}`,
    `region` to null, `wait_for` to []), `undo` likewise (or `null`: no undo possible), and
    `summary_contains` (a string or a list of strings the summary must contain). Optional: `resource`,
    `reason_contains`.
  - `"noop_reason_contains"`: the plan has no changes, and its noop reason contains this text.
  - `"error_contains"`: `validate` or `plan` raises `ArgError` or `TaskFailed` whose message contains
    this text. Optional `"error_type"` (`"ArgError"` or `"TaskFailed"`) pins which one.
- optional `"findings"`: `[{severity, resource, message_contains}]`; without it the plan must find nothing.
- optional `"converged_current"`: the state after the changes are applied (see below).
- optional `"description"`: free text for the reader.

The runner calls `registry.get(module).validate(args)` then `.plan(args, current, "acct/global")` and
compares. Then the convergence check: for a case with changes, the changes are applied onto `current`
(default rule: the resource's new state is `change.after`; a case gives `"converged_current"` instead
where that rule does not fit, e.g. a module whose `current` holds several resources) and the task is
planned again, expecting no changes and a noop reason.

Every case also checks what any plan must satisfy: the args pass the module's JSON Schema (a case the
loader would reject tests nothing real), `plan` does not mutate its inputs, each change's address is
`<scope>/<module>/<resource>`, and each change survives the JSON round trip of plan files and journals.

A new module needs no code here: add its JSON files.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from remediator import registry
from remediator.errors import ArgError, TaskFailed
from remediator.loader.schema import check_args
from remediator.model import ACTIONS, ApiCall, Change

CASES_DIR = Path(__file__).resolve().parent.parent / "modules"
CASE_FILES = sorted(CASES_DIR.glob("*/*.json"))
SCOPE = "acct/global"

EXPECTATIONS = ("changes", "noop_reason_contains", "error_contains")
CASE_KEYS = {"args", "current", "findings", "converged_current", "description", "error_type", *EXPECTATIONS}
CHANGE_KEYS = {"action", "before", "after", "calls", "undo", "summary_contains", "resource", "reason_contains"}
CALL_KEYS = {"service", "operation", "params", "region", "wait_for"}
FINDING_KEYS = {"severity", "resource", "message_contains"}
ERROR_TYPES = {"ArgError": ArgError, "TaskFailed": TaskFailed}


def case_id(path: Path) -> str:
    return f"{path.parent.name}/{path.stem}"


def load_case(path: Path) -> dict[str, Any]:
    case = json.loads(path.read_text(encoding="utf-8"))
    assert isinstance(case, dict), f"{path.name}: a case is a JSON object"
    unknown = set(case) - CASE_KEYS
    assert not unknown, f"{path.name}: unknown keys {sorted(unknown)} (known: {sorted(CASE_KEYS)})"
    assert "args" in case and "current" in case, f"{path.name}: a case needs 'args' and 'current'"
    given = [k for k in EXPECTATIONS if k in case]
    assert len(given) == 1, f"{path.name}: give exactly one of {EXPECTATIONS}, not {given}"
    assert "error_type" not in case or "error_contains" in case, f"{path.name}: error_type needs error_contains"
    assert "converged_current" not in case or "changes" in case, f"{path.name}: converged_current needs changes"
    return case


def expected_calls(path: Path, calls: list[dict[str, Any]] | None) -> tuple[ApiCall, ...] | None:
    if calls is None:
        return None
    for call in calls:
        unknown = set(call) - CALL_KEYS
        assert not unknown, f"{path.name}: unknown call keys {sorted(unknown)}"
    return tuple(
        ApiCall(c["service"], c["operation"], c.get("params") or {}, c.get("region"), tuple(c.get("wait_for", ())))
        for c in calls
    )


def fmt_calls(calls: tuple[ApiCall, ...] | None) -> Any:
    if calls is None:
        return None
    return [
        {"service": c.service, "operation": c.operation, "params": c.params, "region": c.region, "wait_for": c.wait_for}
        for c in calls
    ]


def contains_all(text: str, wanted: str | list[str]) -> list[str]:
    """The wanted fragments missing from text."""
    return [w for w in ([wanted] if isinstance(wanted, str) else wanted) if w not in text]


def plan(module: registry.Module, args: dict[str, Any], current: Any) -> registry.PlanResult:
    """validate + plan, checking that neither touches its inputs (plan is pure)."""
    args_copy, current_copy = copy.deepcopy(args), copy.deepcopy(current)
    module.validate(args)
    result = module.plan(args, current, SCOPE)
    assert args == args_copy, "validate/plan mutated the task args"
    assert current == current_copy, "plan mutated current"
    return result


def check_change(path: Path, index: int, module_name: str, actual: Change, expected: dict[str, Any]) -> None:
    where = f"{path.name}: change {index}"
    unknown = set(expected) - CHANGE_KEYS
    assert not unknown, f"{where}: unknown keys {sorted(unknown)} (known: {sorted(CHANGE_KEYS)})"
    for key in ("action", "after", "calls", "undo", "summary_contains"):
        assert key in expected, f"{where}: expected change needs {key!r}"

    assert actual.module == module_name
    assert actual.action in ACTIONS
    assert actual.address == f"{SCOPE}/{module_name}/{actual.resource}", f"{where}: address {actual.address!r}"
    assert actual.action == expected["action"], f"{where}: action"
    if "resource" in expected:
        assert actual.resource == expected["resource"], f"{where}: resource"
    if "before" in expected:
        assert actual.before == expected["before"], f"{where}: before"
    assert actual.after == expected["after"], f"{where}: after"
    assert fmt_calls(actual.calls) == fmt_calls(expected_calls(path, expected["calls"])), f"{where}: calls"
    assert fmt_calls(actual.undo) == fmt_calls(expected_calls(path, expected["undo"])), f"{where}: undo"
    missing = contains_all(actual.summary, expected["summary_contains"])
    assert not missing, f"{where}: summary {actual.summary!r} lacks {missing}"
    if "reason_contains" in expected:
        missing = contains_all(actual.reason, expected["reason_contains"])
        assert not missing, f"{where}: reason {actual.reason!r} lacks {missing}"

    # What plan files and journals do to a change must give the same change back.
    assert Change.from_dict(json.loads(json.dumps(actual.to_dict()))) == actual, f"{where}: JSON round trip"


def check_findings(path: Path, result: registry.PlanResult, expected: list[dict[str, Any]]) -> None:
    assert len(result.findings) == len(expected), f"{path.name}: findings {result.findings}"
    for index, (actual, want) in enumerate(zip(result.findings, expected, strict=True)):
        unknown = set(want) - FINDING_KEYS
        assert not unknown, f"{path.name}: finding {index}: unknown keys {sorted(unknown)}"
        if "severity" in want:
            assert actual.severity == want["severity"], f"{path.name}: finding {index}: severity"
        if "resource" in want:
            assert actual.resource == want["resource"], f"{path.name}: finding {index}: resource"
        if "message_contains" in want:
            missing = contains_all(actual.message, want["message_contains"])
            assert not missing, f"{path.name}: finding {index}: message {actual.message!r} lacks {missing}"


def converged(path: Path, case: dict[str, Any], changes: list[Change]) -> Any:
    """The state after applying the changes: `converged_current`, or each change's `after`."""
    if "converged_current" in case:
        return case["converged_current"]
    resources = {c.resource for c in changes}
    if len(resources) > 1:
        pytest.fail(f"{path.name}: changes to several resources ({sorted(resources)}): give 'converged_current'")
    return changes[-1].after


def test_there_are_cases() -> None:
    assert CASE_FILES, f"no plan cases under {CASES_DIR}"


@pytest.mark.parametrize("path", CASE_FILES, ids=case_id)
def test_plan_case(path: Path) -> None:
    module_name = path.parent.name
    assert registry.has(module_name), f"{path}: no module named {module_name!r}"
    module = registry.get(module_name)
    case = load_case(path)
    args, current = case["args"], module.load_current(case["current"])

    problems = check_args(module_name, args, rendered=True)
    assert not problems, f"{path.name}: args fail the module schema: {problems}"

    if "error_contains" in case:
        assert case.get("error_type", "ArgError") in ERROR_TYPES, (
            f"{path.name}: error_type is one of {set(ERROR_TYPES)}"
        )
        expected_type = ERROR_TYPES[case["error_type"]] if "error_type" in case else None
        with pytest.raises((ArgError, TaskFailed)) as info:
            plan(module, args, current)
        if expected_type is not None:
            assert isinstance(info.value, expected_type), f"{path.name}: raised {type(info.value).__name__}"
        message = info.value.message if isinstance(info.value, ArgError) else str(info.value)
        assert case["error_contains"] in message, f"{path.name}: error {message!r}"
        return

    result = plan(module, args, current)
    check_findings(path, result, case.get("findings", []))

    if "noop_reason_contains" in case:
        assert result.changes == [], f"{path.name}: expected no changes, got {[c.summary for c in result.changes]}"
        assert case["noop_reason_contains"] in result.noop_reason, f"{path.name}: noop reason {result.noop_reason!r}"
        return

    expected = case["changes"]
    assert len(result.changes) == len(expected), f"{path.name}: changes {[c.summary for c in result.changes]}"
    for index, (actual, want) in enumerate(zip(result.changes, expected, strict=True)):
        check_change(path, index, module_name, actual, want)

    if not result.changes:
        return
    # Convergence: once the changes are applied, planning the same task again finds nothing to do.
    again = plan(module, args, module.load_current(converged(path, case, result.changes)))
    assert again.changes == [], f"{path.name}: not converged: {[c.summary for c in again.changes]}"
    assert again.noop_reason, f"{path.name}: a converged re-plan must say why it does nothing"


@pytest.mark.parametrize(
    ("body", "complaint"),
    [
        ({"args": {}, "current": None}, "exactly one of"),
        ({"args": {}, "current": None, "changes": [], "noop_reason_contains": "x"}, "exactly one of"),
        ({"args": {}, "current": None, "noop_reason": "x"}, "unknown keys"),
        ({"args": {}, "noop_reason_contains": "x"}, "needs 'args' and 'current'"),
        ({"args": {}, "current": None, "noop_reason_contains": "x", "error_type": "ArgError"}, "error_type needs"),
    ],
    ids=["no-expectation", "two-expectations", "typo", "no-current", "stray-error-type"],
)
def test_malformed_case_files_are_refused(tmp_path: Path, body: dict[str, Any], complaint: str) -> None:
    path = tmp_path / "case.json"
    path.write_text(json.dumps(body), encoding="utf-8")
    with pytest.raises(AssertionError, match=complaint):
        load_case(path)
