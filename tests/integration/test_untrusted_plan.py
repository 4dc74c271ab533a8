"""A plan file crosses a trust boundary (reviewed on a pull request, applied later by another identity):
`apply` trusts nothing in it that it has not checked, and checks it whole before the first AWS call.

Also what every output of `run` and `apply` must do: output paths are checked before the first call
(a report lost after the changes were applied is the worst time to find a typo), and every error goes
to stderr.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import cli, write, write_inventory
from tests.emulator import ACCOUNT
from tests.faults import Inject, query_error

BOOK = """\
- accounts: all
  tasks:
    - name: Strong passwords
      iam_password_policy:
        minimum_length: 14
        require_symbols: true
"""

# Two tasks: the password policy, and a sweep that caps one role's sessions (a second module, a second
# kind of call, and a plan whose first write would happen before a damaged second change was reached).
SWEEP_BOOK = """\
- accounts: all
  tasks:
    - name: Cap sessions
      iam_roles:
        max_session_duration: 3600
    - name: Strong passwords
      iam_password_policy:
        minimum_length: 14
        require_symbols: true
"""

TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}],
    }
)
PATH = "accounts[0].task_plans[0].changes[0]"


def make_plan(iam: Any, workdir: Path, aws: str, book: str = BOOK, *more: str) -> dict[str, Any]:
    """A real plan made with --check against the emulator, as the pull-request job would."""
    iam.update_account_password_policy(MinimumPasswordLength=8, RequireNumbers=True)
    inv = write_inventory(workdir, aws, name="inv.yml")
    play = write(workdir, "play.yml", book)
    made = cli("run", play, "-i", inv, "--check", "--plan-out", "plan.json", *more)
    assert made.code == 2, made.out + made.err
    return json.loads((workdir / "plan.json").read_text(encoding="utf-8"))


def save(workdir: Path, data: Any, name: str = "plan.json") -> str:
    (workdir / name).write_text(json.dumps(data, indent=2), encoding="utf-8")
    return name


def policy(iam: Any) -> dict[str, Any]:
    return iam.get_account_password_policy()["PasswordPolicy"]


def files_in(directory: Path) -> dict[str, bytes]:
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


def assert_refused(result: Any, calls: Any, *says: str, plan: str = "plan.json") -> str:
    """Exit 1, one line on stderr naming the plan file, nothing on stdout, no AWS call at all."""
    assert result.code == 1, result.out + result.err
    lines = result.err.splitlines()
    assert len(lines) == 1, result.err
    assert lines[0].startswith(f"error: {plan}: "), lines[0]
    assert "internal error" not in lines[0] and "Traceback" not in result.err
    for text in says:
        assert text in lines[0], lines[0]
    assert result.out == ""
    assert calls.records == []
    return lines[0]


# ------------------------------------------------------------------ the account apply writes to


def test_apply_refuses_a_plan_edited_to_name_another_account(iam, aws, workdir, calls):
    """Regression: reaching the account proves the credentials are for the account the plan names."""
    data = make_plan(iam, workdir, aws)
    data["accounts"][0]["account"]["account_id"] = "111111111111"
    save(workdir, data)
    calls.clear()
    applied = cli("apply", "plan.json")
    assert applied.code == 1
    assert f"the credentials reach account {ACCOUNT}, not 111111111111" in applied.err
    assert calls.mutating == []
    assert policy(iam)["MinimumPasswordLength"] == 8


def test_the_plan_records_the_account_it_was_made_in(iam, aws, workdir, calls):
    """The inventory names no account_id: the plan records the one the run reached, and apply holds to it."""
    data = make_plan(iam, workdir, aws)
    assert data["accounts"][0]["account"]["account_id"] == ACCOUNT
    applied = cli("apply", "plan.json")
    assert applied.code == 0, applied.out + applied.err
    assert policy(iam)["MinimumPasswordLength"] == 14


def test_apply_refuses_a_plan_that_does_not_say_which_account(iam, aws, workdir, calls):
    data = make_plan(iam, workdir, aws)
    del data["accounts"][0]["account"]["account_id"]
    save(workdir, data)
    calls.clear()
    assert_refused(cli("apply", "plan.json"), calls, "accounts[0].account", "account_id")
    assert policy(iam)["MinimumPasswordLength"] == 8


# ------------------------------------------------------------------ plan files checked whole


def _edit(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def edit(data: dict[str, Any]) -> None:
        *parents, last = _steps(path)
        node: Any = data
        for step in parents:
            node = node[step]
        node[last] = value

    return edit


def _steps(path: str) -> list[Any]:
    steps: list[Any] = []
    for part in path.split("."):
        name, _, rest = part.partition("[")
        if name:
            steps.append(name)
        for index in filter(None, rest.replace("]", "").split("[")):
            steps.append(int(index))
    return steps


def _duplicate(copies: int) -> Callable[[dict[str, Any]], None]:
    def edit(data: dict[str, Any]) -> None:
        changes = data["accounts"][0]["task_plans"][0]["changes"]
        changes.extend(copy.deepcopy(changes[0]) for _ in range(copies - 1))

    return edit


def _weaken(data: dict[str, Any]) -> None:
    """The update call edited to a shorter minimum and no symbols (after-image left as reviewed)."""
    params = data["accounts"][0]["task_plans"][0]["changes"][0]["calls"][0]["params"]
    params["MinimumPasswordLength"] = 6
    params["RequireNumbers"] = False


EDITS = {
    "region-mars": (_edit("accounts[0].account.region", "mars-1"), "region 'mars-1'"),
    "account-id-abc": (_edit("accounts[0].account.account_id", "abc"), "account_id"),
    "change-listed-twice": (_duplicate(2), "listed twice"),
    "before-of-the-wrong-type": (_edit(f"{PATH}.before", "abc"), f"{PATH}.before"),
    "before-missing-a-field": (
        lambda d: d["accounts"][0]["task_plans"][0]["changes"][0]["before"].pop("RequireNumbers"),
        f"{PATH}",
    ),
    "weakening-call": (_weaken, f"{PATH}"),
}


@pytest.mark.parametrize("edit", list(EDITS), ids=list(EDITS))
def test_apply_refuses_a_damaged_plan_before_any_call(edit, iam, aws, workdir, calls):
    damage, says = EDITS[edit]
    data = make_plan(iam, workdir, aws)
    damage(data)
    save(workdir, data)
    calls.clear()
    before = files_in(workdir)
    assert_refused(cli("apply", "plan.json"), calls, says)
    assert policy(iam)["MinimumPasswordLength"] == 8
    assert files_in(workdir) == before  # not even a journal


def test_a_wrong_before_in_a_later_task_is_refused_before_the_first_write(iam, aws, workdir, calls):
    iam.create_role(RoleName="app", AssumeRolePolicyDocument=TRUST, MaxSessionDuration=43200)
    data = make_plan(iam, workdir, aws, SWEEP_BOOK)
    assert [len(p["changes"]) for p in data["accounts"][0]["task_plans"]] == [1, 1]
    data["accounts"][0]["task_plans"][1]["changes"][0]["before"] = ["MinimumPasswordLength", 8]
    save(workdir, data)
    calls.clear()
    assert_refused(cli("apply", "plan.json"), calls, "accounts[0].task_plans[1].changes[0].before")
    assert iam.get_role(RoleName="app")["Role"]["MaxSessionDuration"] == 43200


def test_a_plan_whose_run_tripped_max_changes_is_recorded_as_refused(iam, aws, workdir, calls):
    """`run --check --max-changes 0 --plan-out F` refuses; F says so (an earlier F is not left to be applied
    by mistake), `show` still shows it for review, and `apply F` refuses it whole."""
    iam.update_account_password_policy(MinimumPasswordLength=8, RequireNumbers=True)
    inv = write_inventory(workdir, aws, name="inv.yml")
    play = write(workdir, "play.yml", BOOK)
    refused = cli("run", play, "-i", inv, "--check", "--max-changes", "0", "--plan-out", "plan.json")
    assert refused.code == 1 and "more than --max-changes 0" in refused.err
    data = json.loads((workdir / "plan.json").read_text(encoding="utf-8"))
    assert data["guards"]["max_changes"] == 0
    assert "more than --max-changes 0" in data["guards"]["refused"]
    shown = cli("show", "plan.json")
    assert shown.code == 0 and "ERROR: the run would make 1 changes, more than --max-changes 0" in shown.out
    calls.clear()
    assert_refused(cli("apply", "plan.json"), calls, "more than --max-changes 0", "cannot be applied")

    # the guard cleared by hand: the plan still records --max-changes 0, judged again at apply
    data["guards"]["refused"] = ""
    save(workdir, data)
    assert_refused(cli("apply", "plan.json"), calls, "--max-changes 0")
    assert policy(iam)["MinimumPasswordLength"] == 8


def test_apply_judges_the_recorded_max_changes(iam, aws, workdir, calls):
    make_plan(iam, workdir, aws, BOOK, "--max-changes", "1")
    data = json.loads((workdir / "plan.json").read_text(encoding="utf-8"))
    assert data["guards"] == {"max_changes": 1, "refused": ""}
    applied = cli("apply", "plan.json")
    assert applied.code == 0, applied.out + applied.err


# ------------------------------------------------------------------ output paths, checked before any call


OUTPUTS = {
    "--report": ("--format", "json"),
    "--plan-out": (),
    "--result": (),
    "--journal": (),
}


def _bad_output(workdir: Path, kind: str) -> str:
    if kind == "a-directory":
        (workdir / "taken").mkdir()
        return "taken"
    write(workdir, "afile", "x")
    return "afile/out.txt"  # its directory is a file


@pytest.mark.parametrize("kind", ["a-directory", "under-a-file"])
@pytest.mark.parametrize("option", list(OUTPUTS))
def test_run_checks_its_output_paths_before_any_call(option, kind, iam, aws, workdir, calls):
    iam.update_account_password_policy(MinimumPasswordLength=8)
    inv = write_inventory(workdir, aws, name="inv.yml")
    write(workdir, "play.yml", BOOK)
    target = _bad_output(workdir, kind)
    before = files_in(workdir)
    calls.clear()
    result = cli("run", "play.yml", "-i", "inv.yml", option, target, *OUTPUTS[option])
    assert result.code == 1, result.out + result.err
    (line,) = result.err.splitlines()
    assert line.startswith(f"error: {option} {target}: "), line
    assert calls.records == []
    assert files_in(workdir) == before
    assert policy(iam)["MinimumPasswordLength"] == 8
    assert inv.exists()


@pytest.mark.parametrize("option", ["--report", "--journal"])
def test_apply_checks_its_output_paths_before_any_call(option, iam, aws, workdir, calls):
    make_plan(iam, workdir, aws)
    calls.clear()
    write(workdir, "afile", "x")
    result = cli("apply", "plan.json", option, "afile/out.txt")
    assert result.code == 1, result.out + result.err
    (line,) = result.err.splitlines()
    assert line.startswith(f"error: {option} afile/out.txt: "), line
    assert "not a directory" in line
    assert calls.records == []
    assert policy(iam)["MinimumPasswordLength"] == 8


def test_a_missing_output_directory_is_made_before_the_first_call(iam, aws, workdir):
    inv = write_inventory(workdir, aws, name="inv.yml")
    write(workdir, "play.yml", BOOK)
    result = cli("run", "play.yml", "-i", inv, "--check", "--plan-out", "out/plans/plan.json", "--report", "r/x.txt")
    assert result.code == 2, result.out + result.err
    assert (workdir / "out" / "plans" / "plan.json").is_file() and (workdir / "r" / "x.txt").is_file()


def test_two_outputs_into_one_file_are_refused(iam, aws, workdir, calls):
    inv = write_inventory(workdir, aws, name="inv.yml")
    write(workdir, "play.yml", BOOK)
    result = cli("run", "play.yml", "-i", inv, "--check", "--plan-out", "out.json", "--report", "./out.json")
    assert result.code == 1
    assert "--plan-out and --report name the same file" in result.err
    assert calls.records == []


# ------------------------------------------------------------------ errors go to stderr


def test_a_stale_change_at_apply_is_an_error_on_stderr(iam, aws, workdir, calls):
    make_plan(iam, workdir, aws)
    iam.update_account_password_policy(MinimumPasswordLength=8, RequireNumbers=True, MaxPasswordAge=30)
    applied = cli("apply", "plan.json", "--format", "json")
    assert applied.code == 1
    json.loads(applied.out)  # stdout holds only JSON
    (line,) = applied.err.splitlines()
    assert line.startswith("error: account 'test': test/global/iam_password_policy/account-password-policy: ")
    assert "changed since the plan was made" in line


def test_a_change_that_does_not_converge_is_an_error_on_stderr(iam, aws, workdir, calls, client_hooks):
    """AWS answers the write with success but does not apply it: verification finds the change left."""
    from tests.faults import query_ok

    make_plan(iam, workdir, aws)
    client_hooks.append(Inject("iam", "UpdateAccountPasswordPolicy", lambda: query_ok("UpdateAccountPasswordPolicy")))
    applied = cli("apply", "plan.json")
    assert applied.code == 1
    assert "did not converge" in applied.out
    (line,) = applied.err.splitlines()
    assert line.startswith("error: account 'test': did not converge: "), line
    assert "test/global/iam_password_policy/account-password-policy" in line


@pytest.fixture
def applied_journal(iam: Any, aws: str, workdir: Path) -> Iterator[str]:
    iam.update_account_password_policy(MinimumPasswordLength=8, RequireNumbers=True)
    inv = write_inventory(workdir, aws, name="inv.yml")
    play = write(workdir, "play.yml", BOOK)
    assert cli("run", play, "-i", inv, "--journal", "j.jsonl").code == 0
    yield "j.jsonl"


def test_a_rollback_that_fails_says_so_on_stderr(applied_journal, iam, client_hooks):
    client_hooks.append(Inject("iam", "UpdateAccountPasswordPolicy", lambda: query_error("AccessDenied", "no")))
    result = cli("rollback", applied_journal)
    assert result.code == 1
    assert "failed to undo" in result.out  # stdout keeps the whole story
    (line,) = result.err.splitlines()
    assert line.startswith("error: failed to undo test/global/iam_password_policy/account-password-policy: ")


def test_a_stale_rollback_says_so_on_stderr(applied_journal, iam):
    iam.update_account_password_policy(MinimumPasswordLength=20)
    result = cli("rollback", applied_journal)
    assert result.code == 1
    assert "stale, not undone" in result.out
    (line,) = result.err.splitlines()
    assert line.startswith("error: stale, not undone: "), line


def test_a_failed_change_at_apply_is_an_error_on_stderr(iam, aws, workdir, calls, client_hooks):
    """Regression: already on stderr before plan files were checked whole."""
    make_plan(iam, workdir, aws)
    client_hooks.append(Inject("iam", "UpdateAccountPasswordPolicy", lambda: query_error("AccessDenied", "no")))
    applied = cli("apply", "plan.json")
    assert applied.code == 1
    (line,) = applied.err.splitlines()
    assert line.startswith("error: account 'test': test/global/iam_password_policy/account-password-policy: ")
    assert "AccessDenied" in line


def test_a_tasks_aws_failure_after_retries_is_an_error_on_stderr(iam, aws, workdir, calls, client_hooks):
    """Regression: already on stderr before plan files were checked whole."""
    inv = write_inventory(workdir, aws, name="inv.yml")
    play = write(workdir, "play.yml", BOOK)
    unavailable = Inject("iam", "GetAccountPasswordPolicy", lambda: query_error("ServiceUnavailable", "down", 503))
    client_hooks.append(unavailable)
    ran = cli("run", play, "-i", inv)
    assert ran.code == 1 and unavailable.seen > 1  # retried, then failed
    (line,) = ran.err.splitlines()
    assert line.startswith("error: account 'test': ") and "task 'Strong passwords'" in line
    assert "ServiceUnavailable" in line


# ------------------------------------------------------------------ a corpus of tampered plans

# The corpus is made from a real plan of two tasks: `iam_roles` caps a role's sessions (one update_role)
# and `iam_password_policy` strengthens the policy (one update). Every damage below must be refused whole
# before the first call. Left out by design: display text (summaries, locations, the header's dates).
ROLES_CHANGE = "accounts[0].task_plans[0].changes[0]"
POLICY_CHANGE = "accounts[0].task_plans[1].changes[0]"
UNCHECKED: tuple[str, ...] = ()  # every value of both changes is checked (iam_roles: check_change)
# Connection settings a plan may leave out (for AWS itself: no endpoint; the default region).
OPTIONAL = tuple(f"accounts[0].account.{k}" for k in ("region", "endpoint_url", "profile", "role_arn", "session_name"))
DISPLAY = ("created", "playbook", "tool_version", "playbook_digest", "inventory_digest", "summary", "reason",
           "location", "noop_reason", "task")  # fmt: skip


def _paths(node: Any, where: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(node, dict):
        for key, value in node.items():
            path = f"{where}.{key}" if where else key
            yield path, value
            yield from _paths(value, path)
    elif isinstance(node, list):
        for index, value in enumerate(node):
            path = f"{where}[{index}]"
            yield path, value
            yield from _paths(value, path)


def _another_type(value: Any) -> Any:
    """A value of another JSON type, and never one its place accepts (null where null is allowed)."""
    if isinstance(value, bool):
        return "yes"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        return 7
    if isinstance(value, dict):
        return []
    if isinstance(value, list):
        return {}
    return ["x"]


def _set(data: dict[str, Any], path: str, value: Any) -> None:
    _edit(path, value)(data)


def _delete(data: dict[str, Any], path: str) -> None:
    *parents, last = _steps(path)
    node: Any = data
    for step in parents:
        node = node[step]
    del node[last]


def _where(path: str) -> str:
    """What the refusal must name: the account entry of a path inside one, else the top-level key."""
    top = _steps(path)
    if top[0] == "accounts" and len(top) > 1:
        return f"accounts[{top[1]}]"
    return "format" if top[0] == "format_version" else str(top[0])


def _unchecked(path: str) -> bool:
    return path.startswith(UNCHECKED) or path + "." in UNCHECKED


def structural(base: dict[str, Any]) -> Iterator[tuple[str, Any, str]]:
    """(name, plan, what the error must name): each value replaced by one of another type, each key removed."""
    for path, value in _paths(base):
        if _unchecked(path):
            continue
        data = copy.deepcopy(base)
        _set(data, path, _another_type(value))
        yield f"type:{path}", data, _where(path)
        last = _steps(path)[-1]
        if isinstance(last, str) and path not in OPTIONAL and not (last in DISPLAY and "." not in path):
            data = copy.deepcopy(base)
            _delete(data, path)
            yield f"missing:{path}", data, _where(path)


def _with(base: dict[str, Any], *edits: tuple[str, Any]) -> dict[str, Any]:
    data = copy.deepcopy(base)
    for path, value in edits:
        _set(data, path, value)
    return data


def _policy_call(**params: Any) -> tuple[str, Any]:
    return f"{POLICY_CHANGE}.calls[0].params", params


def _calls(operation: str, **params: Any) -> list[dict[str, Any]]:
    return [{"service": "iam", "operation": operation, "params": params, "region": None, "wait_for": []}]


# The update the policy task plans, field by field (the base plan's, before any edit).
STRONG = {"MinimumPasswordLength": 14, "RequireSymbols": True, "RequireNumbers": True}
STRONG |= dict.fromkeys(("AllowUsersToChangePassword", "HardExpiry", "RequireLowercaseCharacters"), False)
STRONG |= {"RequireUppercaseCharacters": False}
ACCOUNT_IDS = ("abc", "11111111111", "1111111111111", "", "12345678901x", " 123456789012", "１２３４５６７８９０１２")
REGIONS = ("mars-1", "", "US-EAST-1", "us-east-1\n", "xx-east-1", "us-east", "us_east_1", "us-east-１")


def semantic(base: dict[str, Any]) -> Iterator[tuple[str, Any, str]]:
    """Values of the right type that must still be refused."""
    account = "accounts[0].account"
    for value in ACCOUNT_IDS:
        yield f"account_id:{value!r}", _with(base, (f"{account}.account_id", value)), f"{account}"
    for value in REGIONS:
        yield f"region:{value!r}", _with(base, (f"{account}.region", value)), f"{account}"
    for key, value in (
        ("endpoint_url", "ftp://127.0.0.1:9"), ("endpoint_url", "http://a b"), ("role_arn", "arn:aws:iam::1:role/x"),
        ("session_name", "x"), ("external_id", "secret-but-no-role"), ("profile", 7), ("name", ""),
        ("vars", {"a": 1}), ("groups", ["all"]), ("account_id", "{{ lookup_env('HOME') }}"),
    ):  # fmt: skip
        yield f"account.{key}:{value!r}", _with(base, (f"{account}.{key}", value)), f"{account}"
    # a change, a task, an account listed again
    for copies in (2, 3, 100, 10_000):
        data = copy.deepcopy(base)
        changes = data["accounts"][0]["task_plans"][1]["changes"]
        changes.extend(copy.deepcopy(changes[0]) for _ in range(copies - 1))
        yield f"policy change x{copies}", data, "accounts[0]"
    data = copy.deepcopy(base)
    data["accounts"][0]["task_plans"].append(copy.deepcopy(data["accounts"][0]["task_plans"][0]))
    yield "roles task twice", data, "accounts[0]"
    data = copy.deepcopy(base)
    data["accounts"].append(copy.deepcopy(data["accounts"][0]))
    yield "account twice", data, "accounts[1]"
    data = copy.deepcopy(base)
    twin = copy.deepcopy(data["accounts"][0])
    twin["account"]["name"] = "twin"
    for plan in twin["task_plans"]:
        plan["account"] = "twin"
        for change in plan["changes"]:
            change["address"] = "twin" + change["address"].removeprefix("test")
    data["accounts"].append(twin)
    yield "account id twice under another name", data, "accounts[1]"
    # the password policy's call, undo and images, edited
    edits: list[tuple[str, tuple[str, Any]]] = [
        (f"policy call {field}={value}", _policy_call(**{**STRONG, field: value}))
        for field, value in (
            ("MinimumPasswordLength", 6), ("RequireSymbols", False), ("RequireNumbers", False),
            ("MinimumPasswordLength", 15), ("HardExpiry", True), ("RequireUppercaseCharacters", True),
        )
    ]  # fmt: skip
    edits += [
        ("policy call MaxPasswordAge added", _policy_call(**STRONG, MaxPasswordAge=1095)),
        ("policy call field dropped", _policy_call(MinimumPasswordLength=14)),
        ("policy undo weakened", (f"{POLICY_CHANGE}.undo[0].params.MinimumPasswordLength", 6)),
        ("policy undo deletes", (f"{POLICY_CHANGE}.undo", _calls("delete_account_password_policy"))),
        ("policy undo none", (f"{POLICY_CHANGE}.undo", None)),
        ("policy call deletes", (f"{POLICY_CHANGE}.calls", _calls("delete_account_password_policy"))),
    ]
    images = base["accounts"][0]["task_plans"][1]["changes"][0]
    for image in ("before", "after"):
        for field, value in images[image].items():  # each field to another value, of its type or not
            other = (not value) if isinstance(value, bool) else value + 1
            edits.append((f"policy {image} {field}={other!r}", (f"{POLICY_CHANGE}.{image}.{field}", other)))
        for field, value in (("MaxPasswordAge", 5000), ("MinimumPasswordLength", 14.0), ("RequireNumbers", 1)):
            edits.append((f"policy {image} {field}={value!r}", (f"{POLICY_CHANGE}.{image}.{field}", value)))
        edits.append((f"policy {image} with another field", (f"{POLICY_CHANGE}.{image}.Extra", 1)))
    for name, edit in edits:
        yield name, _with(base, edit), POLICY_CHANGE
    yield "policy before none", _with(base, (f"{POLICY_CHANGE}.before", None)), POLICY_CHANGE
    yield "policy before empty", _with(base, (f"{POLICY_CHANGE}.before", {})), POLICY_CHANGE
    yield "policy action create", _with(base, (f"{POLICY_CHANGE}.action", "create")), POLICY_CHANGE
    yield "policy action destroy", _with(base, (f"{POLICY_CHANGE}.action", "destroy")), POLICY_CHANGE
    yield "policy summary lies", _with(base, (f"{POLICY_CHANGE}.summary", "nothing to see")), POLICY_CHANGE
    yield "policy args weaken", _with(base, ("accounts[0].task_plans[1].args.minimum_length", 6)), "task_plans[1]"
    allowed = ("accounts[0].task_plans[1].args.allow_weaken", True)
    weakened = _policy_call(**{**STRONG, "MinimumPasswordLength": 6})
    yield "policy args allow_weaken", _with(base, allowed, weakened), POLICY_CHANGE
    yield "policy args unknown option", _with(base, ("accounts[0].task_plans[1].args.nope", 1)), "task_plans[1]"
    yield "policy args huge", _with(base, ("accounts[0].task_plans[1].args.minimum_length", 10**18)), "task_plans[1]"
    # the role's call, edited to other calls
    role_call = f"{ROLES_CHANGE}.calls[0]"
    for operation, params in (
        ("delete_role", {"RoleName": "app"}), ("delete_user", {"UserName": "victim"}),
        ("update_access_key", {"UserName": "u", "AccessKeyId": "AKIAXXXXXXXXXXXXXXXX", "Status": "Inactive"}),
        ("attach_role_policy", {"RoleName": "app", "PolicyArn": "arn:aws:iam::aws:policy/AdministratorAccess"}),
        ("UpdateRole", {"RoleName": "app", "MaxSessionDuration": 3600}), ("__class__", {}), ("update_role", {}),
        ("update_role", {"RoleName": "app", "MaxSessionDuration": 3600, "Nope": 1}),
        ("update_role", {"RoleName": "app", "MaxSessionDuration": 60}),
    ):  # fmt: skip
        yield f"role call {operation} {params}", _with(base, (f"{role_call}.operation", operation),
                                                       (f"{role_call}.params", params)), ROLES_CHANGE  # fmt: skip
    for service in ("sts", "s3", "nope", "../iam", "IAM", "i" * 10_000):
        yield f"role call service {service[:10]}", _with(base, (f"{role_call}.service", service)), ROLES_CHANGE
    for region in ("mars-1", "", "us-east-1 "):
        yield f"role call region {region!r}", _with(base, (f"{role_call}.region", region)), ROLES_CHANGE
    yield "role call wait_for junk", _with(base, (f"{role_call}.wait_for", ["x y"])), ROLES_CHANGE
    yield "role calls none", _with(base, (f"{ROLES_CHANGE}.calls", [])), ROLES_CHANGE
    yield (
        "role undo deletes a user",
        _with(base, (f"{ROLES_CHANGE}.undo", _calls("delete_user", UserName="v"))),
        ROLES_CHANGE,
    )
    yield (
        "role address other account",
        _with(base, (f"{ROLES_CHANGE}.address", "other/global/iam_roles/a")),
        ROLES_CHANGE,
    )
    yield "role change of another module", _with(base, (f"{ROLES_CHANGE}.module", "iam_role")), ROLES_CHANGE
    yield "role action create", _with(base, (f"{ROLES_CHANGE}.action", "create")), ROLES_CHANGE
    yield "role before empty", _with(base, (f"{ROLES_CHANGE}.before", {})), ROLES_CHANGE
    roles_args = "accounts[0].task_plans[0].args"
    yield "role args unknown action", _with(base, (f"{roles_args}.action", "destroy")), "task_plans[0]"
    yield "role args below the floor", _with(base, (f"{roles_args}.max_session_duration", 60)), "task_plans[0]"
    # tasks
    tasks = "accounts[0].task_plans"
    yield "task module unknown", _with(base, (f"{tasks}[0].module", "iam_nope")), "task_plans[0]"
    yield "task module swapped", _with(base, (f"{tasks}[0].module", "iam_password_policy")), "task_plans[0]"
    yield "task of another account", _with(base, (f"{tasks}[0].account", "other")), "task_plans[0]"
    yield "task skipped with changes", _with(base, (f"{tasks}[0].skipped", "tags")), "task_plans[0]"
    yield "task failed with changes", _with(base, (f"{tasks}[0].error", "boom")), "task_plans[0]"
    yield "task max_changes 0", _with(base, (f"{tasks}[0].max_changes", 0)), "task_plans[0]"
    yield "task max_changes negative", _with(base, (f"{tasks}[0].max_changes", -1)), "task_plans[0]"
    # guards and header
    yield "guards max_changes 1", _with(base, ("guards.max_changes", 1)), "guards"
    yield "guards refused", _with(base, ("guards.refused", "the run would make 2 changes")), "guards"
    yield "guards unknown key", _with(base, ("guards.extra", 1)), "guards"
    yield "unknown top-level key", _with(base, ("extra", 1)), "extra"
    for version in (0, 2, 99, "1", 1.0, True, None, -1):
        yield f"format_version {version!r}", _with(base, ("format_version", version)), "format"
    yield "accounts not a list", _with(base, ("accounts", {"0": 1})), "accounts"
    yield "an unknown key in a change", _with(base, (f"{ROLES_CHANGE}.sneaky", 1)), ROLES_CHANGE
    huge = (f"{POLICY_CHANGE}.before.MinimumPasswordLength", 10**30)
    yield "a huge number in a change", _with(base, huge), POLICY_CHANGE
    deep: Any = {}
    for _ in range(200):
        deep = {"a": deep}
    yield "deep before", _with(base, (f"{ROLES_CHANGE}.before", deep)), ROLES_CHANGE
    yield "huge summary", _with(base, (f"{POLICY_CHANGE}.summary", "x" * 2_000_000)), POLICY_CHANGE


def raw_texts(base: dict[str, Any]) -> Iterator[tuple[str, bytes, str]]:
    """Files that are not the JSON a plan is."""
    good = json.dumps(base)
    yield "empty", b"", "not valid JSON"
    yield "not json", b"{oops", "not valid JSON"
    yield "a list", b"[]", "not a remediator plan file"
    yield "a string", b'"plan"', "not a remediator plan file"
    yield "not utf-8", good.encode().replace(b'"test"', b'"t\xffst"', 1), "UTF-8"
    yield "utf-16", good.encode("utf-16"), "UTF-8"
    yield (
        "a key twice",
        good.replace('"format_version": 1', '"format_version": 1, "format_version": 2').encode(),
        "twice",
    )
    yield "NaN", good.replace('"max_changes": null', '"max_changes": NaN', 1).encode(), "NaN"
    yield "Infinity", good.replace('"max_changes": null', '"max_changes": 1e400', 1).encode(), "max_changes"
    yield "5000 digits", good.replace('"max_changes": null', '"max_changes": ' + "9" * 5000, 1).encode(), "number"
    yield "nested 100000 deep", good[:-1].encode() + b', "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "deep"
    yield "nested 1000 deep", good[:-1].encode() + b', "x": ' + b"[" * 1000 + b"]" * 1000 + b"}", "deep"


def test_a_corpus_of_tampered_plans_is_refused_whole_before_any_call(iam, aws, workdir, calls):
    iam.create_role(RoleName="app", AssumeRolePolicyDocument=TRUST, MaxSessionDuration=43200)
    base = make_plan(iam, workdir, aws, SWEEP_BOOK)
    assert [len(p["changes"]) for p in base["accounts"][0]["task_plans"]] == [1, 1]
    cases = [(name, json.dumps(data).encode(), where) for name, data, where in structural(base)]
    cases += [(name, json.dumps(data).encode(), where) for name, data, where in semantic(base)]
    cases += list(raw_texts(base))
    assert len(cases) >= 300 and len({name for name, _, _ in cases}) == len(cases)
    state = (policy(iam), iam.get_role(RoleName="app")["Role"]["MaxSessionDuration"])
    before = {k: v for k, v in files_in(workdir).items() if k != "plan.json"}
    calls.clear()
    wrong = []
    for name, content, where in cases:
        (workdir / "plan.json").write_bytes(content)
        result = cli("apply", "plan.json")
        lines = result.err.splitlines()
        ok = (
            result.code == 1
            and len(lines) == 1
            and re.match(r"error: plan\.json(:\d+)?: ", lines[0]) is not None
            and where in lines[0]
            and "internal error" not in lines[0]
            and result.out == ""
        )
        if not ok or calls.records:
            wrong.append(f"{name}: exit {result.code}, calls {len(calls.records)}: {result.err[:300]!r}")
            calls.clear()
    assert wrong == [], "\n".join(wrong)
    assert (policy(iam), iam.get_role(RoleName="app")["Role"]["MaxSessionDuration"]) == state
    assert {k: v for k, v in files_in(workdir).items() if k != "plan.json"} == before


def test_a_plan_that_is_not_a_regular_file_is_refused_without_reading_it(workdir, calls):
    import os

    (workdir / "dir.json").mkdir()
    os.mkfifo(workdir / "fifo.json")  # nothing ever writes to it: reading it would wait forever
    for name, says in (("dir.json", "is a directory"), ("fifo.json", "not a regular file")):
        assert_refused(cli("apply", name), calls, says, plan=name)


# ------------------------------------------------------------------ the sweeps', inline policies' and trails' changes

# A plan of every module whose changes `check_change` judges: a role capped and an unused one deleted, an
# unused user quarantined, an inline policy put, a trail made from nothing. Made for real; each edit below
# is refused whole before any call (the values inside iam_roles' images, left out of the corpus above, too),
# and the plan as written applies.
MODULES_BOOK = """\
- accounts: all
  tasks:
    - name: Roles
      iam_roles: {max_session_duration: 3600, unused_days: 90, action: delete, check_callers: false}
    - name: Users
      iam_users: {unused_days: 90, action: disable}
    - name: Inline
      iam_inline_policy:
        user: alice
        policy_name: artifacts
        document: {Version: "2012-10-17", Statement: [{Effect: Allow, Action: "s3:GetObject", Resource: "*"}]}
    - name: Trail
      cloudtrail: {name: account-trail, bucket: cloudtrail-logs-123456789012, retention_days: 365}
"""
ALLOW_ALL = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}


def _change_at(data: dict[str, Any], resource: str) -> str:
    for j, plan in enumerate(data["accounts"][0]["task_plans"]):
        for k, change in enumerate(plan["changes"]):
            if change["resource"] == resource:
                return f"accounts[0].task_plans[{j}].changes[{k}]"
    raise AssertionError(f"no change to {resource}")


def _module_edits(data: dict[str, Any]) -> dict[str, tuple[list[tuple[str, Any]], str]]:
    """name → (edits, what the refusal says): each a change a reviewer might miss, made consistent."""
    cap, delete, user = _change_at(data, "long"), _change_at(data, "old"), _change_at(data, "stale")
    inline, trail = _change_at(data, "user/alice/artifacts"), _change_at(data, "trail/account-trail")
    policy = _change_at(data, "bucket/cloudtrail-logs-123456789012/policy")
    statements = _get(data, f"{policy}.after.Policy.Statement")
    broad = [{**s, "Action": "s3:*"} if s.get("Action") == "s3:PutObject" else s for s in statements]
    user_calls = _get(data, f"{user}.calls")
    last = len(_get(data, f"{delete}.calls")) - 1
    return {
        "cap raised": ([(f"{cap}.calls[0].params.MaxSessionDuration", 43200)], "MaxSessionDuration: 43200"),
        "cap and image both raised": (
            [(f"{cap}.calls[0].params.MaxSessionDuration", 7200), (f"{cap}.after.MaxSessionDuration", 7200)],
            "after.MaxSessionDuration: 7200 where the task's args plan 3600",
        ),
        "cap undo lowered": ([(f"{cap}.undo[0].params.MaxSessionDuration", 3600)], "undo[0].params"),
        "cap before edited": ([(f"{cap}.before.MaxSessionDuration", 3600)], "not above the cap"),
        "delete of another role": ([(f"{delete}.calls[{last}].params.RoleName", "long")], "RoleName: 'long'"),
        "quarantine without its policy": ([(f"{user}.calls", user_calls[1:])], "calls: "),
        "inline policy allows all": (
            [
                (f"{inline}.calls[0].params.PolicyDocument", json.dumps(ALLOW_ALL)),
                (f"{inline}.after.Document", ALLOW_ALL),
            ],
            "after.Document",
        ),
        "trail in one region": (
            [(f"{trail}.calls[0].params.IsMultiRegionTrail", False), (f"{trail}.after.IsMultiRegionTrail", False)],
            "after.IsMultiRegionTrail: false where the task's args plan true",
        ),
        "bucket policy lets CloudTrail do anything": (
            [
                (f"{policy}.after.Policy.Statement", broad),
                (f"{policy}.calls[0].params.Policy", json.dumps({"Version": "2012-10-17", "Statement": broad})),
            ],
            "'s3:*' where the task's args plan 's3:PutObject'",
        ),
    }


def _get(data: dict[str, Any], path: str) -> Any:
    node: Any = data
    for step in _steps(path):
        node = node[step]
    return node


def test_edited_changes_of_the_sweeps_inline_policies_and_trails_are_refused_and_real_ones_apply(
    iam, aws, workdir, calls, pinned_clock
):
    import boto3

    from tests.emulator import age_role, age_user, make_role, populated_role

    make_role(iam, "long", MaxSessionDuration=43200)
    age_role("long", 200, 1)
    arn = iam.create_policy(PolicyName="p", PolicyDocument=json.dumps(ALLOW_ALL))["Policy"]["Arn"]
    populated_role(iam, "old", arn)
    age_role("old", 200)
    iam.create_user(UserName="stale")
    age_user("stale", 200)
    iam.create_user(UserName="alice")
    inv = write_inventory(workdir, aws, name="inv.yml")
    play = write(workdir, "play.yml", MODULES_BOOK)
    made = cli("run", play, "-i", inv, "--check", "--plan-out", "plan.json")
    assert made.code == 2, made.out + made.err
    base = json.loads((workdir / "plan.json").read_text(encoding="utf-8"))
    edits = _module_edits(base)
    calls.clear()
    for name, (changes, says) in edits.items():
        data = copy.deepcopy(base)
        for path, value in changes:
            _set(data, path, value)
        save(workdir, data)
        line = assert_refused(cli("apply", "plan.json"), calls, says)
        assert ".changes[" in line, f"{name}: {line}"
    assert iam.get_role(RoleName="long")["Role"]["MaxSessionDuration"] == 43200
    assert "old" in [r["RoleName"] for r in iam.list_roles()["Roles"]]

    save(workdir, base)
    applied = cli("apply", "plan.json")
    assert applied.code == 0, applied.out + applied.err
    assert iam.get_role(RoleName="long")["Role"]["MaxSessionDuration"] == 3600
    assert "old" not in [r["RoleName"] for r in iam.list_roles()["Roles"]]
    assert iam.list_user_policies(UserName="stale")["PolicyNames"] == ["remediator-quarantine"]
    assert iam.list_user_policies(UserName="alice")["PolicyNames"] == ["artifacts"]
    trails = boto3.client("cloudtrail", endpoint_url=aws, region_name="us-east-1").describe_trails()["trailList"]
    assert [t["Name"] for t in trails] == ["account-trail"]
