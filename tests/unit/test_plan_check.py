"""The checks a plan file passes before `apply` makes its first call, without AWS: the password policy's
`check_change`, region names, output paths, and a generated fuzz of damaged plans (only ever a
ConfigError, and any edit of a password policy change is refused)."""

from __future__ import annotations

import argparse
import copy
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from remediator import planfile, registry
from remediator.cli import check_output_paths, directory_problem, output_problem
from remediator.errors import ConfigError
from remediator.model import Account, AccountRun, ApiCall, Change, TaskPlan

POLICY = registry.get("iam_password_policy")
LIVE = {
    "MinimumPasswordLength": 8,
    "RequireSymbols": False,
    "RequireNumbers": True,
    "RequireUppercaseCharacters": False,
    "RequireLowercaseCharacters": False,
    "AllowUsersToChangePassword": False,
    "MaxPasswordAge": 90,
    "PasswordReusePrevention": 0,
    "HardExpiry": False,
}
# Fields whose order differs between AWS's (the summary's) and a plan file's sorted keys.
ARGS = {"minimum_length": 14, "require_symbols": True, "require_uppercase": True, "reuse_prevention": 24}


def planned(args: dict[str, Any] = ARGS, live: dict[str, Any] | None = LIVE) -> Any:
    (change,) = POLICY.plan(args, copy.deepcopy(live), "acct/global").changes
    return change


# ------------------------------------------------------------------ iam_password_policy.check_change


@pytest.mark.parametrize(
    ("args", "live"),
    [(ARGS, LIVE), (ARGS, None), ({"state": "absent"}, LIVE), ({"minimum_length": 6, "allow_weaken": True}, LIVE)],
    ids=["update", "create", "delete", "allowed-weakening"],
)
def test_the_change_a_task_plans_passes(args: dict[str, Any], live: dict[str, Any] | None) -> None:
    change = planned(args, live)
    assert POLICY.check_change(args, change) is None
    saved = json.loads(json.dumps(change.to_dict(), sort_keys=True))  # as a plan file holds it
    assert POLICY.check_change(args, Change.from_dict(saved)) is None


def _params(change: Any, **fields: Any) -> Any:
    (call,) = change.calls
    edited = ApiCall(call.service, call.operation, {**call.params, **fields})
    return type(change)(**{**change.__dict__, "calls": (edited,)})


@pytest.mark.parametrize(
    "fields",
    [{"MinimumPasswordLength": 6}, {"RequireNumbers": False}, {"MaxPasswordAge": 1095}, {"RequireSymbols": 1}],
)
def test_an_edited_update_is_refused(fields: dict[str, Any]) -> None:
    assert "'calls' is not what the task's args plan" in (POLICY.check_change(ARGS, _params(planned(), **fields)) or "")


def test_a_weakening_the_args_do_not_allow_is_refused_even_when_every_field_agrees() -> None:
    weaker = planned({"minimum_length": 6, "allow_weaken": True})
    assert "would weaken the password policy" in (POLICY.check_change({"minimum_length": 6}, weaker) or "")


@pytest.mark.parametrize(
    ("before", "says"),
    [
        ("abc", "not a password policy"),
        ({**LIVE, "MinimumPasswordLength": "8"}, "MinimumPasswordLength must be a whole number"),
        ({**LIVE, "MinimumPasswordLength": 8.0}, "MinimumPasswordLength must be a whole number"),
        ({**LIVE, "MaxPasswordAge": 5000}, "MaxPasswordAge must be a whole number from 0 to 1095"),
        ({**LIVE, "RequireNumbers": 1}, "RequireNumbers must be true or false"),
        ({k: v for k, v in LIVE.items() if k != "HardExpiry"}, "HardExpiry is missing"),
        ({**LIVE, "Sneaky": True}, "'Sneaky' is not a password policy field"),
    ],
)
def test_a_before_image_of_the_wrong_shape_is_refused(before: Any, says: str) -> None:
    change = type(planned())(**{**planned().__dict__, "before": before})
    assert says in (POLICY.check_change(ARGS, change) or "")


def test_the_base_module_adds_no_check() -> None:
    assert registry.get("iam_admins").check_change({}, planned()) is None


# ------------------------------------------------------------------ regions


@pytest.mark.parametrize("name", ["us-east-1", "eu-west-3", "us-gov-west-1", "cn-north-1", "ap-southeast-5"])
def test_region_names_aws_uses(name: str) -> None:
    assert planfile.is_region(name)


@pytest.mark.parametrize(
    "name", ["mars-1", "", "US-EAST-1", "us-east-1\n", "xx-east-1", "us-east", "us-east-１", "us-east-1 ", 1, None]
)
def test_names_that_are_not_regions(name: Any) -> None:
    assert not planfile.is_region(name)


# ------------------------------------------------------------------ output paths


def test_output_paths(tmp_path: Path) -> None:
    (tmp_path / "dir").mkdir()
    (tmp_path / "file").write_text("x")
    assert output_problem(tmp_path / "report.txt") is None
    assert output_problem(tmp_path / "file") is None  # an existing file is overwritten
    assert output_problem(tmp_path / "dir") == "is a directory; give a file name"
    assert output_problem(tmp_path / "missing" / "r.txt") is None  # made now, before the first call
    assert (tmp_path / "missing").is_dir()
    assert output_problem(tmp_path / "file" / "r.txt") == f"{tmp_path / 'file'} is not a directory"
    assert directory_problem(tmp_path / "new" / "journal") is None  # remediator creates it
    assert directory_problem(tmp_path / "file" / "journal") == f"{tmp_path / 'file'} is not a directory"


def test_every_output_option_is_checked_and_none_twice(tmp_path: Path) -> None:
    args = argparse.Namespace(report=str(tmp_path / "r.json"), plan_out=str(tmp_path / "p.json"), journal=None)
    check_output_paths(args)
    (tmp_path / "afile").write_text("x")
    with pytest.raises(ConfigError, match=r"^--journal .*afile/j\.jsonl: .*afile is not a directory$"):
        check_output_paths(argparse.Namespace(**{**vars(args), "journal": str(tmp_path / "afile" / "j.jsonl")}))
    with pytest.raises(ConfigError, match="--plan-out and --report name the same file"):
        check_output_paths(argparse.Namespace(**{**vars(args), "plan_out": args.report}))


# ------------------------------------------------------------------ a generated fuzz of plan files


def base_plan(tmp_path: Path) -> dict[str, Any]:
    """A plan as `run --plan-out` writes it: one account, a password policy change and a role sweep's."""
    role = registry.get("iam_roles")
    sweep = TaskPlan("acct", "cap", "iam_roles", "play.yml:3", {"max_session_duration": 3600})
    sweep.changes = [
        role.plan(sweep.args, role.load_current(_roles()), "acct/global").changes[0]  # one role above the cap
    ]
    strong = TaskPlan("acct", "strong", "iam_password_policy", "play.yml:6", dict(ARGS), changes=[planned()])
    account = Account("acct", account_id="123456789012", endpoint_url="http://127.0.0.1:9")
    path = tmp_path / "base.json"
    planfile.write(path, [AccountRun(account, [sweep, strong])], playbook="play.yml", playbook_digest="d",
                   inventory_digest="i")  # fmt: skip
    planfile.load(path, for_apply=True)  # as written, it passes
    return json.loads(path.read_text(encoding="utf-8"))


def _roles() -> Any:
    cases = sorted((Path(__file__).resolve().parent.parent / "modules" / "iam_roles").glob("*.json"))
    for case in cases:
        data = json.loads(case.read_text(encoding="utf-8"))
        if data.get("args") == {"max_session_duration": 3600} and data.get("changes"):
            return data["current"]
    raise AssertionError("no iam_roles case caps one role at 3600")


def _paths(node: Any, where: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = []
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else []
    for key, value in items:
        found.append((*where, key))
        found += _paths(value, (*where, key))
    return found


JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
POLICY_CHANGE = ("accounts", 0, "task_plans", 1, "changes", 0)


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return base_plan(tmp_path_factory.mktemp("plan"))


@settings(
    max_examples=200,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_a_damaged_plan_is_a_config_error_and_an_edited_policy_change_is_refused(
    data: st.DataObject, base: dict[str, Any], tmp_path: Path
) -> None:
    plan = copy.deepcopy(base)
    path = data.draw(st.sampled_from(_paths(plan)))
    *parents, last = path
    node: Any = plan
    for step in parents:
        node = node[step]
    old = node[last]
    if isinstance(last, str) and data.draw(st.booleans()):
        del node[last]
        new: Any = "<deleted>"
    else:
        new = node[last] = data.draw(JSON)
    target = tmp_path / "plan.json"
    target.write_text(json.dumps(plan), encoding="utf-8")
    try:
        planfile.load(target, for_apply=True)
    except ConfigError as exc:
        assert str(exc).startswith(f"{target}"), str(exc)
        assert "\n" not in str(exc) and len(str(exc)) < 1000
        return
    edited = json.dumps(old, sort_keys=True) != json.dumps(new, sort_keys=True)
    assert not (tuple(path[: len(POLICY_CHANGE)]) == POLICY_CHANGE and edited), f"accepted {path} = {new!r}"
