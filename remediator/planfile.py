"""Plan files: `run --plan-out` writes one, `apply PLAN` runs exactly it (Terraform's plan -out / apply)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from remediator import __version__, registry
from remediator.errors import ConfigError
from remediator.model import Account, AccountRun, TaskPlan

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


def read(path: str | Path) -> list[AccountRun]:
    """Load a plan file; anything malformed, or from a newer remediator, is a ConfigError."""
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
    if not isinstance(version, int) or version > FORMAT_VERSION or version < 1:
        raise ConfigError(
            f"plan file format {version!r} is not one this remediator {__version__} reads (it reads {FORMAT_VERSION});"
            " make the plan again with this version",
            file=file,
        )
    runs: list[AccountRun] = []
    try:
        for entry in data["accounts"]:
            account = Account.from_connection(entry["account"])
            plans = [TaskPlan.from_dict(p) for p in entry["task_plans"]]
            for plan in plans:
                if not registry.has(plan.module):
                    raise ConfigError(f"plan names unknown module {plan.module!r}", file=file)
            runs.append(AccountRun(account=account, task_plans=plans, error=entry.get("error", "")))
    except ConfigError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ConfigError(f"plan file is malformed: {type(exc).__name__}: {exc}", file=file)
    return runs
