"""Plan files: `run --plan-out` writes one, `apply PLAN` runs exactly it (Terraform's plan -out / apply)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import botocore.exceptions
from botocore.validate import ParamValidator

from remediator import __version__, registry
from remediator.aws import actions
from remediator.errors import ArgError, ConfigError
from remediator.loader.schema import check_args
from remediator.model import Account, AccountRun, ApiCall, TaskPlan

FORMAT_VERSION = 1


def write(
    path: str | Path, runs: list[AccountRun], *, playbook: str, playbook_digest: str, inventory_digest: str
) -> None:
    data = {
        "format_version": FORMAT_VERSION,
        "tool_version": __version__,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "playbook": playbook,
        "playbook_digest": playbook_digest,
        "inventory_digest": inventory_digest,
        "accounts": [
            {
                "account": run.account.connection(),
                "error": run.error,
                "task_plans": [plan.to_dict() for plan in run.task_plans],
            }
            for run in runs
        ],
    }
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n", encoding="utf-8")


@dataclass(frozen=True)
class SavedPlan:
    """A plan file read back: its runs, and what it says about where it came from (for `show`)."""

    runs: list[AccountRun]
    playbook: str = ""
    created: str = ""
    tool_version: str = ""
    playbook_digest: str = ""
    inventory_digest: str = ""


def read(path: str | Path) -> list[AccountRun]:
    """Load a plan file; anything malformed, or from a newer remediator, is a ConfigError."""
    return load(path).runs


def load(path: str | Path) -> SavedPlan:
    """As `read`, with the plan file's header (playbook, creation time, tool version, digests)."""
    file = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError("plan file not found", file=file)
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read plan file: {exc}", file=file)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"plan file is not valid JSON: {exc.msg}", file=file, line=exc.lineno)
    if not isinstance(data, dict) or "format_version" not in data:
        raise ConfigError("not a remediator plan file (no format_version)", file=file)
    version = data["format_version"]
    if isinstance(version, bool) or not isinstance(version, int) or version > FORMAT_VERSION or version < 1:
        raise ConfigError(
            f"plan file format {version!r} is not one this remediator {__version__} reads (it reads {FORMAT_VERSION});"
            " make the plan again with this version",
            file=file,
        )
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
    except ConfigError as exc:
        exc.file = exc.file or file
        raise
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ConfigError(f"plan file is malformed at {where}: {type(exc).__name__}: {exc}", file=file)
    header = {k: data.get(k) for k in ("playbook", "created", "tool_version", "playbook_digest", "inventory_digest")}
    return SavedPlan(runs, **{k: v if isinstance(v, str) else "" for k, v in header.items()})


def check_task_plan(plan: TaskPlan, where: str) -> None:
    """A plan file is input like any other: its args pass the module's checks, and every call it would
    make is one the module may make, with parameters AWS's model accepts — before any AWS call."""
    if not registry.has(plan.module):
        raise ConfigError(f"{where}: plan names unknown module {plan.module!r}")
    module = registry.get(plan.module)
    if not plan.skipped:
        for option, message in check_args(plan.module, plan.args, rendered=True):
            raise ConfigError(f"{where}: args: {option or ''}: {message}")
        try:
            module.validate(plan.args)
        except ArgError as exc:
            raise ConfigError(f"{where}: args: {exc.field or ''}: {exc.message}")
    allowed = {a.lower() for a in module.permissions.get("write", [])}
    for k, change in enumerate(plan.changes):
        for call in (*change.calls, *(change.undo or ())):
            _check_call(call, allowed, f"{where}.changes[{k}]")


def _check_call(call: ApiCall, allowed: set[str], where: str) -> None:
    try:
        model = actions.service_model(call.service)
    except botocore.exceptions.UnknownServiceError:
        raise ConfigError(f"{where}: unknown AWS service {call.service!r}")
    operation = actions.operation_name(call.service, call.operation)
    if operation is None or actions.action_of(call.service, call.operation).lower() not in allowed:
        raise ConfigError(f"{where}: call {call} is not one module may make")
    shape = model.operation_model(operation).input_shape
    if shape is None:  # an operation without parameters (DeleteAccountPasswordPolicy)
        if call.params:
            raise ConfigError(f"{where}: call {call} takes no parameters")
        return
    report = ParamValidator().validate(call.params, shape)
    if report.has_errors():
        problem = " ".join(report.generate_report().split())
        raise ConfigError(f"{where}: call {call}: {problem}")
