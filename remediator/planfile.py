"""Plan files: `run --plan-out` writes one, `apply PLAN` runs exactly it (Terraform's plan -out / apply).

A plan file crosses a trust boundary: it is reviewed on a pull request, kept as a CI artifact, and applied
later by another identity. `load` checks what every reader needs (`show` too): JSON of the shape
`write` makes, every call one its module may make with parameters AWS's model accepts. `load(...,
for_apply=True)` then checks it whole, before `apply` makes its first call: the account it was made
in (12 digits, a real region), no change listed twice, each change consistent with its task's args
(`Module.check_change`), and the guards the run was judged by (a run a guard refused writes a plan
that says so, and `apply` refuses it: an earlier plan file is never left behind to be applied instead).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

import botocore.exceptions
from botocore.validate import ParamValidator

from remediator import __version__, registry
from remediator.aws import actions
from remediator.errors import ArgError, ConfigError
from remediator.loader.schema import check_args
from remediator.loader.yamlfile import read_text
from remediator.model import ACTIONS, EXTERNAL_ID_REF, Account, AccountRun, ApiCall, Change, Finding, TaskPlan

FORMAT_VERSION = 1
MAX_BYTES = 256 * 1024 * 1024  # a plan of 500 accounts × 100 changes is a few MB
MAX_DEPTH = 64  # policy documents nest a few levels; nothing remediator writes comes near
MAX_INT = 2**63  # AWS's widest integer parameter is a Long
HEADER = ("tool_version", "created", "playbook", "playbook_digest", "inventory_digest")


def write(
    path: str | Path,
    runs: list[AccountRun],
    *,
    playbook: str,
    playbook_digest: str,
    inventory_digest: str,
    max_changes: int | None = None,
    refused: str = "",
) -> None:
    """Save a run's plan. `max_changes` is the run's --max-changes and `refused` the run's tripped guard,
    if any: `apply` judges the first again and refuses a plan with the second."""
    data = {
        "format_version": FORMAT_VERSION,
        "tool_version": __version__,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "playbook": playbook,
        "playbook_digest": playbook_digest,
        "inventory_digest": inventory_digest,
        "guards": {"max_changes": max_changes, "refused": refused},
        "accounts": [
            {
                "account": run.account.connection(),
                "error": run.error,
                "task_plans": [plan.to_dict() for plan in run.task_plans],
            }
            for run in runs
        ],
    }
    text = json.dumps(data, indent=2, sort_keys=True, default=str) + "\n"
    try:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(text, encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot write the plan file: {exc.strerror or exc}", file=str(path))


@dataclass(frozen=True)
class Guards:
    """The guards of the run that made a plan: its --max-changes, and the guard that refused it, if one did."""

    max_changes: int | None = None
    refused: str = ""


@dataclass(frozen=True)
class SavedPlan:
    """A plan file read back: its runs, and what it says about where it came from (for `show`)."""

    runs: list[AccountRun]
    playbook: str = ""
    created: str = ""
    tool_version: str = ""
    playbook_digest: str = ""
    inventory_digest: str = ""
    guards: Guards = field(default_factory=Guards)


def read(path: str | Path) -> list[AccountRun]:
    """Load a plan file; anything malformed, or from a newer remediator, is a ConfigError."""
    return load(path).runs


def load(path: str | Path, *, for_apply: bool = False) -> SavedPlan:
    """As `read`, with the plan file's header (playbook, creation time, tool version, digests, guards).

    `for_apply`: checked whole, as `apply` needs it before its first call (see the module's docstring).
    Every problem is a ConfigError naming the file and the path inside it (`accounts[0].account`)."""
    file = str(path)
    try:
        data = _parse(read_text(path, "plan file", MAX_BYTES))
        _check_version(data)
        if for_apply and "guards" not in data:
            raise ConfigError(
                "the plan records no guards, nor perhaps the account it was made in (an earlier remediator"
                " wrote it); make the plan again with this version"
            )
        _check_shape(data, for_apply=for_apply)
        saved = _saved_plan(data)
        if for_apply:
            check_for_apply(saved)
    except ConfigError as exc:
        exc.file = exc.file or file
        raise
    return saved


# --------------------------------------------------------------------------- reading the JSON


class _DuplicateKey(Exception):
    pass


def _parse(text: str) -> Any:
    """JSON, strictly: a key given twice, NaN or Infinity, a number beyond any AWS parameter, or nesting
    deeper than a plan has are refused (JSON readers disagree on the first; the others break later)."""

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for key, value in items:
            if key in result:
                raise _DuplicateKey(key)
            result[key] = value
        return result

    def constant(name: str) -> Any:
        raise ValueError(f"{name} is not a number JSON allows")

    try:
        data = json.loads(text, object_pairs_hook=pairs, parse_constant=constant)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"plan file is not valid JSON: {exc.msg}", line=exc.lineno)
    except _DuplicateKey as exc:
        raise ConfigError(f"plan file is not valid JSON: key {_short(exc.args[0])} is given twice")
    except RecursionError:
        raise ConfigError(f"plan file is nested deeper than {MAX_DEPTH} levels")
    except ValueError as exc:  # an integer of thousands of digits, NaN
        raise ConfigError(f"plan file holds a number it cannot read: {_cut(str(exc), 120)}")
    return data


def _check_version(data: Any) -> None:
    if not isinstance(data, dict) or "format_version" not in data:
        raise ConfigError("not a remediator plan file (no format_version)")
    version = data["format_version"]
    if isinstance(version, bool) or not isinstance(version, int) or version > FORMAT_VERSION or version < 1:
        raise ConfigError(
            f"plan file format {_short(version)} is not one this remediator {__version__} reads (it reads"
            f" {FORMAT_VERSION}); make the plan again with this version"
        )


# --------------------------------------------------------------------------- the shape


@dataclass(frozen=True)
class _Value:
    """A JSON value of one of `types` (JSON's names); an integer at least `minimum`. Values free of any
    further shape (params, args, images) are checked for depth and numbers only."""

    types: tuple[str, ...]
    minimum: int | None = None
    choices: tuple[str, ...] = ()


@dataclass(frozen=True)
class _List:
    item: Any
    min_items: int = 0
    nullable: bool = False


@dataclass(frozen=True)
class _Record:
    """An object with these keys and no others; `required` must be there."""

    fields: dict[str, Any]
    required: tuple[str, ...]


STR = _Value(("string",))
OBJECT = _Value(("object",))
IMAGE = _Value(("object", "null"))
COUNT = _Value(("integer", "null"), minimum=0)


def _record(
    cls: type, known: dict[str, Any], *, optional: tuple[str, ...] = (), leave: tuple[str, ...] = ()
) -> _Record:
    """The shape of one of the model's dataclasses: its fields and no others, the ones given here required
    (a field the model gains later is let through, unchecked, until it is given here)."""
    names = [n for n in cls.__dataclass_fields__ if n not in leave]
    fields = {name: known.get(name, _Value(())) for name in names}
    return _Record(fields, tuple(n for n in names if n in known and n not in optional))


_CALL = _record(ApiCall, {"service": STR, "operation": STR, "params": OBJECT, "region": _Value(("string", "null")),
                          "wait_for": _List(STR)})  # fmt: skip
_CHANGE = _record(
    Change,
    {
        "address": STR,
        "module": STR,
        "resource": STR,
        "action": _Value(("string",), choices=ACTIONS),
        "before": IMAGE,
        "after": IMAGE,
        "calls": _List(_CALL, min_items=1),
        "undo": _List(_CALL, nullable=True),
        "summary": STR,
        "reason": STR,
        "creates": STR,
    },
)
_FINDING = _record(
    Finding,
    {"address": STR, "resource": STR, "severity": STR, "message": STR, "controls": _List(STR), "evidence": IMAGE},
    optional=("evidence",),
)
_TASK_PLAN = _record(
    TaskPlan,
    {
        "account": STR,
        "task": STR,
        "module": STR,
        "location": STR,
        "args": OBJECT,
        "changes": _List(_CHANGE),
        "findings": _List(_FINDING),
        "noop_reason": STR,
        "error": STR,
        "skipped": STR,
        "max_changes": COUNT,
    },
)
_CONNECTION = [k for k in Account.__dataclass_fields__ if k not in ("name", "groups", "vars", "external_id_from")]
# A plan never holds an external id, only which inventory account holds it (Account.connection).
_EXTERNAL_ID = _Record({EXTERNAL_ID_REF: STR}, (EXTERNAL_ID_REF,))
_ACCOUNT = _record(
    Account,
    {"name": STR, **dict.fromkeys(_CONNECTION, STR), "external_id": _EXTERNAL_ID},
    optional=tuple(_CONNECTION),
    leave=("groups", "vars", "external_id_from"),
)
_ENTRY = _Record(
    {"account": _ACCOUNT, "error": STR, "task_plans": _List(_TASK_PLAN)}, ("account", "error", "task_plans")
)
_GUARDS = _Record({"max_changes": COUNT, "refused": STR}, ("max_changes", "refused"))
_TOP = {
    "format_version": _Value(("integer",)),
    **dict.fromkeys(HEADER, STR),
    "guards": _GUARDS,
    "accounts": _List(_ENTRY),
}
# `show` reads plans of earlier versions too (no guards then); `apply` needs all a plan says.
_PLAN = {True: _Record(_TOP, tuple(_TOP)), False: _Record(_TOP, ("format_version", "accounts"))}


class _Misshapen(Exception):
    """A shape problem; `steps` (keys and indices) grow on the way up, so the happy path builds no paths."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
        self.steps: list[str | int] = []

    def at(self, step: str | int) -> _Misshapen:
        self.steps.insert(0, step)
        return self

    @property
    def where(self) -> str:
        where = ""
        for step in self.steps:
            where = f"{where}[{step}]" if isinstance(step, int) else _join(where, step)
        return where


def _check_shape(data: dict[str, Any], *, for_apply: bool) -> None:
    try:
        _check_node(data, _PLAN[for_apply])
    except _Misshapen as exc:
        raise ConfigError(f"plan file is malformed at {_cut(exc.where, 160) or 'its top'}: {exc.message}")


def _check_node(node: Any, shape: Any) -> None:
    if isinstance(shape, _Record):
        if not isinstance(node, dict):
            raise _Misshapen(f"expected object, got {_json_type(node)}")
        for key in shape.required:
            if key not in node:
                raise _Misshapen(f"key {key!r} is missing")
        for key, value in node.items():
            if key not in shape.fields:
                raise _Misshapen(f"unknown key {_short(key)}")
            try:
                _check_node(value, shape.fields[key])
            except _Misshapen as exc:
                raise exc.at(key)
    elif isinstance(shape, _List):
        if node is None and shape.nullable:
            return
        if not isinstance(node, list):
            raise _Misshapen(f"expected array{' or null' if shape.nullable else ''}, got {_json_type(node)}")
        if len(node) < shape.min_items:
            raise _Misshapen(f"needs at least {shape.min_items} item(s)")
        for index, item in enumerate(node):
            try:
                _check_node(item, shape.item)
            except _Misshapen as exc:
                raise exc.at(index)
    else:
        _check_value(node, shape)


def _check_value(node: Any, shape: _Value) -> None:
    kind = _json_type(node)
    if shape.types and kind not in shape.types:
        raise _Misshapen(f"expected {' or '.join(shape.types)}, got {kind}")
    if shape.choices and node not in shape.choices:
        raise _Misshapen(f"{_short(node)} is not one of: {', '.join(shape.choices)}")
    if shape.minimum is not None and kind == "integer" and node < shape.minimum:
        raise _Misshapen(f"{node} is below {shape.minimum}")
    if kind in ("object", "array", "number", "integer"):
        _check_free(node, MAX_DEPTH)


def _check_free(node: Any, depth: int) -> None:
    """A value the shape leaves free (params, args, images): no deeper than any plan, and numbers AWS takes."""
    if depth < 0:
        raise _Misshapen(f"nested deeper than {MAX_DEPTH} levels")
    if isinstance(node, dict):
        items: Any = node.items()
    elif isinstance(node, list):
        items = enumerate(node)
    else:
        if isinstance(node, float) and not math.isfinite(node):
            raise _Misshapen(f"{node} is not a number a plan holds")
        if isinstance(node, int) and not isinstance(node, bool) and abs(node) >= MAX_INT:
            raise _Misshapen("the number is out of range")
        return
    for step, value in items:
        if isinstance(value, dict | list | int | float):
            try:
                _check_free(value, depth - 1)
            except _Misshapen as exc:
                raise exc.at(step if isinstance(step, int) else str(step))


def _json_type(value: Any) -> str:
    names = {bool: "boolean", int: "integer", float: "number", str: "string", list: "array", dict: "object"}
    return "null" if value is None else names.get(type(value), type(value).__name__)


def _saved_plan(data: dict[str, Any]) -> SavedPlan:
    runs: list[AccountRun] = []
    where = "accounts"
    try:
        for i, entry in enumerate(data["accounts"]):
            where = f"accounts[{i}]"
            account = Account.from_connection(entry["account"])
            plans = []
            for j, raw in enumerate(entry["task_plans"]):
                where = f"accounts[{i}].task_plans[{j}]"
                plan = TaskPlan.from_dict(raw)
                check_task_plan(plan, where)
                plans.append(plan)
            runs.append(AccountRun(account=account, task_plans=plans, error=entry.get("error", "")))
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ConfigError(f"plan file is malformed at {where}: {type(exc).__name__}: {_cut(str(exc), 120)}")
    header = {k: data.get(k) for k in HEADER}
    raw_guards = data.get("guards") or {}
    guards = Guards(raw_guards.get("max_changes"), raw_guards.get("refused") or "")
    return SavedPlan(runs, **{k: v if isinstance(v, str) else "" for k, v in header.items()}, guards=guards)


# --------------------------------------------------------------------------- calls (show and apply)


_SERVICE = re.compile(r"[a-z0-9-]{1,64}", re.ASCII)


def check_task_plan(plan: TaskPlan, where: str) -> None:
    """A plan file is input like any other: its args pass the module's checks, and every call it would
    make is one the module may make, with parameters AWS's model accepts — before any AWS call."""
    if not registry.has(plan.module):
        raise ConfigError(f"{where}: plan names unknown module {_short(plan.module)}")
    module = registry.get(plan.module)
    if not plan.skipped:
        for option, message in check_args(plan.module, plan.args, rendered=True):
            raise ConfigError(f"{where}: args: {option or ''}: {_cut(message, 160)}")
        try:
            module.validate(plan.args)
        except ArgError as exc:
            raise ConfigError(f"{where}: args: {exc.field or ''}: {_cut(exc.message, 160)}")
    for k, change in enumerate(plan.changes):
        for call in (*change.calls, *(change.undo or ())):
            problem = call_problem(plan.module, call)
            if problem:
                raise ConfigError(f"{where}.changes[{k}]: {problem}")


def call_problem(module: str, call: ApiCall) -> str | None:
    """Why `call` is not one `module` may make with parameters AWS's model accepts, or None (for journals
    too: an undo is checked as a plan's call is)."""
    return _call_problem(module, call.service, call.operation, json.dumps(call.params, sort_keys=True))


@lru_cache(maxsize=4096)  # a plan repeats its calls (one per account and resource); checking one is slow
def _call_problem(module: str, service: str, operation: str, params_json: str) -> str | None:
    """Why this call is not one the module may make with parameters AWS's model accepts, or None."""
    call = ApiCall(service, operation, json.loads(params_json))
    if not _SERVICE.fullmatch(service):
        return f"unknown AWS service {_short(service)}"
    try:
        model = actions.service_model(service)
    except botocore.exceptions.UnknownServiceError:
        return f"unknown AWS service {service!r}"
    allowed = {a.lower() for a in registry.get(module).permissions.get("write", [])}
    name = actions.operation_name(service, operation)
    if name is None or actions.action_of(service, operation).lower() not in allowed:
        return f"call {_cut(str(call))} is not one module may make"
    shape = model.operation_model(name).input_shape
    if shape is None:  # an operation without parameters (DeleteAccountPasswordPolicy)
        return f"call {call} takes no parameters" if call.params else None
    report = ParamValidator().validate(call.params, shape)
    if report.has_errors():
        return f"call {call}: {_cut(' '.join(report.generate_report().split()), 200)}"
    return None


# --------------------------------------------------------------------------- whole, before apply


# Region names as AWS spells them (`us-east-1`, `us-gov-west-1`, `eusc-de-east-1`), ASCII only, and within
# one of botocore's partitions (`mars-1` and `xx-east-1` are neither).
_REGION = re.compile(r"[a-z]{2,4}(-[a-z]+)+-[0-9]{1,2}", re.ASCII)


@cache
def _partition_patterns() -> tuple[re.Pattern[str], ...]:
    import botocore.loaders

    loader = botocore.loaders.create_loader()
    try:
        partitions = loader.load_data("partitions")["partitions"]
        patterns = [p["regionRegex"] for p in partitions]
    except Exception:  # an older botocore: the same patterns live in endpoints.json
        patterns = [p["regionRegex"] for p in loader.load_data("endpoints")["partitions"]]
    return tuple(re.compile(p, re.ASCII) for p in patterns)


def is_region(name: Any) -> bool:
    """A real AWS region name: AWS's spelling, in one of the partitions botocore knows."""
    return (
        isinstance(name, str)
        and _REGION.fullmatch(name) is not None
        and any(p.match(name) for p in _partition_patterns())
    )


def check_for_apply(saved: SavedPlan) -> None:
    """Everything `apply` relies on, checked with no AWS call: see the module's docstring."""
    if saved.guards.refused:
        raise ConfigError(
            f"guards: the run that made this plan was refused ({saved.guards.refused}); it cannot be applied"
        )
    names: dict[str, str] = {}
    ids: dict[str, str] = {}
    total = 0
    for i, run in enumerate(saved.runs):
        where = f"accounts[{i}]"
        _check_account(run, where, names, ids)
        seen: dict[tuple[str, str], str] = {}
        for j, plan in enumerate(run.task_plans):
            _check_task(run, plan, f"{where}.task_plans[{j}]", seen)
        total += len(run.changes)
    limit = saved.guards.max_changes
    if limit is not None and total > limit:
        raise ConfigError(
            f"guards: the plan holds {total} changes, more than the --max-changes {limit} its run was given;"
            " it cannot be applied"
        )


def _check_account(run: AccountRun, where: str, names: dict[str, str], ids: dict[str, str]) -> None:
    from remediator.loader.inventory import check_connection
    from remediator.templating import is_template

    account = run.account
    if account.endpoint_url == "embedded":
        raise ConfigError(
            f"{where}.account: the plan names the embedded emulator, which ended with the run that planned it"
        )
    if not account.name:
        raise ConfigError(f"{where}.account.name: an account needs a name")
    # (the external id is a reference to the inventory, of the shape _EXTERNAL_ID checked: no value here)
    settings = {k: v for k, v in account.connection().items() if k != "name" and not isinstance(v, dict)}
    for key, value in settings.items():
        if is_template(value):
            raise ConfigError(f"{where}.account.{key}: a template; a plan holds rendered values")
    try:
        check_connection(account.name, settings, "", None)
    except ConfigError as exc:
        raise ConfigError(f"{where}.account: {_cut(exc.message, 200)}")
    if not is_region(account.region):
        raise ConfigError(f"{where}.account.region: region {_short(account.region)} is not an AWS region name")
    if account.name in names:
        raise ConfigError(
            f"{where}.account: account {_short(account.name)} is listed twice (also {names[account.name]})"
        )
    names[account.name] = where
    if account.account_id is None:
        if run.error:  # never reached when the plan was made, and never reached by apply
            return
        raise ConfigError(
            f"{where}.account: no account_id: the plan does not say which AWS account it was made for;"
            " make the plan again with this remediator (it records the account it reached)"
        )
    if account.account_id in ids:
        raise ConfigError(
            f"{where}.account: account_id {account.account_id} is listed twice (also {ids[account.account_id]})"
        )
    ids[account.account_id] = where


def _check_task(run: AccountRun, plan: TaskPlan, where: str, seen: dict[tuple[str, str], str]) -> None:
    account = run.account
    module = registry.get(plan.module)
    if plan.account != account.name:
        raise ConfigError(f"{where}.account: {_short(plan.account)} is not the account of its entry ({account.name!r})")
    if plan.changes and (plan.skipped or plan.error):
        state = "skipped" if plan.skipped else "failed"
        raise ConfigError(f"{where}: the task {state} when it was planned, yet lists changes to apply")
    limit = plan.max_changes if plan.max_changes is not None else module.default_max_changes(plan.args)
    if limit is not None and len(plan.changes) > limit and not run.error:
        raise ConfigError(
            f"{where}: {len(plan.changes)} changes, more than the task's max_changes of {limit}; the run that"
            " planned it would have refused it"
        )
    scope = f"{account.name}/global" if module.global_service else f"{account.name}/{account.region}"
    writes = {a.lower() for a in module.write_permissions(plan.args)}
    addresses: set[str] = set()
    for k, change in enumerate(plan.changes):
        at = f"{where}.changes[{k}]"
        _check_change(change, plan, scope, writes, at)
        if change.address in addresses:
            raise ConfigError(f"{at}: the change to {_short(change.address)} is listed twice in its task")
        addresses.add(change.address)
        key = (change.address, json.dumps([asdict(c) for c in change.calls], sort_keys=True, default=str))
        if key in seen:
            raise ConfigError(f"{at}: the change to {_short(change.address)} is listed twice (also {seen[key]})")
        seen[key] = at
        problem = module.check_change(plan.args, change)
        if problem:
            raise ConfigError(f"{at}: {_cut(problem, 300)}")


def _check_change(change: Change, plan: TaskPlan, scope: str, writes: set[str], at: str) -> None:
    if change.module != plan.module:
        raise ConfigError(f"{at}.module: {_short(change.module)} in a task of {plan.module}")
    expected = f"{scope}/{plan.module}/{change.resource}"
    if change.address != expected:
        raise ConfigError(
            f"{at}.address: {_short(change.address)} is not this task's address for it ({_short(expected)})"
        )
    # What the applier's staleness check rests on: a create is planned for a resource that is not there,
    # anything else against the fields it compared (an empty before-image would never be stale).
    if change.action == "create" and change.before is not None:
        raise ConfigError(f"{at}.before: a create is planned for a resource that does not exist (before: null)")
    if change.action != "create" and not change.before:
        raise ConfigError(f"{at}.before: {change.action} of a resource needs the fields it compared")
    for n, call in enumerate(change.calls):
        if actions.action_of(call.service, call.operation).lower() not in writes:
            raise ConfigError(f"{at}.calls[{n}]: {call} is not a call a task with these args makes")
    for name, calls in (("calls", change.calls), ("undo", change.undo or ())):
        for n, call in enumerate(calls):
            if call.region is not None and not is_region(call.region):
                raise ConfigError(f"{at}.{name}[{n}].region: {_short(call.region)} is not an AWS region name")
            if any(not re.fullmatch(r"[A-Za-z0-9.]{1,64}", code) for code in call.wait_for):
                raise ConfigError(f"{at}.{name}[{n}].wait_for: not AWS error codes")


# --------------------------------------------------------------------------- text


def _join(where: str, key: str) -> str:
    """`where.key`; a key that is not a plain name is quoted (and cut short)."""
    name = key if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key) else json.dumps(key)[:40]
    return f"{where}.{name}" if where else name


def _short(value: Any, limit: int = 60) -> str:
    """A value echoed in an error, cut short: a plan file may hold anything, of any size."""
    return _cut(repr(value), limit)


def _cut(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
