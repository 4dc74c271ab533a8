"""`remediator merge RESULT... --expect-shards N`: the shards of one run, put back into one report.

Every result must come from the same inputs (playbook, inventory, options and tool digests, the same
selection of accounts), shards 1..N each exactly once, with disjoint accounts, each in the shard its id
hashes to. What does not fit is bad input (exit 1). What is missing, a shard or an account of the
selection no result covers, is listed as not evaluated: the merged report is partial, its exit code is
3, whatever the shards said. Otherwise the exit code is the one the unsharded run would have had.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from remediator.errors import ConfigError
from remediator.loader.yamlfile import MACHINE_FILE_BYTES, read_text
from remediator.model import Account, AccountRun, Change, ChangeResult, TaskPlan
from remediator.report import Report
from remediator.shards import RESULT_KIND, RESULT_VERSION, Shard, shard_of

EXIT_PARTIAL = 3
NOT_EVALUATED = "not evaluated"
SAME_INPUTS = ("playbook_digest", "inventory_digest", "options_digest", "tool_digest")


@dataclass
class Result:
    path: str
    data: dict[str, Any]
    shard: Shard

    @property
    def report(self) -> dict[str, Any]:
        return self.data["report"]


class MergedReport(Report):
    """The shards' report; partial (exit 3) when a shard or an account is missing."""

    not_evaluated: list[str]

    def __init__(self, *args: Any, not_evaluated: list[str] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.not_evaluated = list(not_evaluated or [])

    def counts(self, run: AccountRun) -> dict[str, int]:
        counts = super().counts(run)
        if run.error.startswith(NOT_EVALUATED):
            counts.setdefault("not_evaluated", 1)
        return counts

    @property
    def partial(self) -> bool:
        return bool(self.not_evaluated)

    @property
    def exit_code(self) -> int:  # type: ignore[override]
        return EXIT_PARTIAL if self.partial else super().exit_code

    def to_dict(self) -> dict[str, Any]:
        data = super().to_dict()
        if self.partial:
            data["not_evaluated"] = list(self.not_evaluated)
            data["partial"] = True
        return data


def load_result(path: str) -> Result:
    text = read_text(path, "result file", MACHINE_FILE_BYTES)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"result file is not valid JSON: {exc.msg}", file=path, line=exc.lineno)
    if not isinstance(data, dict) or data.get("kind") != RESULT_KIND:
        raise ConfigError("not a remediator result file (written by `run --result`)", file=path)
    version = data.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or not 1 <= version <= RESULT_VERSION:
        raise ConfigError(f"result file format {version!r} is not one this remediator reads", file=path)
    try:
        shard = Shard(int(data["shard"]["index"]), int(data["shard"]["count"]))
        for key in ("selection", "accounts", "report", *SAME_INPUTS):
            data[key]  # noqa: B018 - present, or KeyError below
        if not isinstance(data["report"].get("accounts"), list):
            raise TypeError("report.accounts is not a list")
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"result file is malformed: {type(exc).__name__}: {exc}", file=path)
    return Result(path, data, shard)


def merge(paths: list[str], expect_shards: int) -> MergedReport:
    """Check the results belong together, and merge them into one report."""
    if expect_shards < 1:
        raise ConfigError("--expect-shards must be 1 or more")
    if not paths:
        raise ConfigError("merge needs at least one result file")
    results = [load_result(p) for p in paths]
    first = results[0]
    for result in results:
        for key in SAME_INPUTS:
            if result.data[key] != first.data[key]:
                what = key.removesuffix("_digest").replace("_", " ")
                raise ConfigError(
                    f"was made from a different {what} than {first.path}: shards of one run share every input",
                    file=result.path,
                )
        if result.data["selection"] != first.data["selection"]:
            raise ConfigError(f"selects other accounts than {first.path}: not shards of one run", file=result.path)
        if result.shard.count != expect_shards:
            raise ConfigError(
                f"is shard {result.shard}, not one of {expect_shards} (--expect-shards)", file=result.path
            )
        if result.report.get("mode") != first.report.get("mode"):
            raise ConfigError(
                f"is a {result.report.get('mode')} run, {first.path} a {first.report.get('mode')} run", file=result.path
            )
    by_index: dict[int, Result] = {}
    for result in results:
        if result.shard.index in by_index:
            raise ConfigError(
                f"shard {result.shard} is given twice ({by_index[result.shard.index].path} and {result.path})",
                file=result.path,
            )
        by_index[result.shard.index] = result

    selection = [(str(e["name"]), e.get("account_id")) for e in first.data["selection"]]
    selected = {name for name, _ in selection}
    covered: dict[str, tuple[Result, dict[str, Any]]] = {}
    for result in results:
        accounts = {str(a["name"]): a for a in result.report["accounts"]}
        if set(accounts) != set(result.data["accounts"]):
            raise ConfigError("its report and its account list disagree", file=result.path)
        for name, entry in accounts.items():
            if name not in selected:
                raise ConfigError(f"account {name!r} is not in the run's selection", file=result.path)
            if name in covered:
                raise ConfigError(
                    f"account {name!r} is in two shards ({covered[name][0].path} and {result.path})", file=result.path
                )
            home = shard_of(entry.get("account_id") or name, expect_shards)
            if home != result.shard.index:
                raise ConfigError(
                    f"account {name!r} belongs to shard {home}/{expect_shards}, not {result.shard}", file=result.path
                )
            covered[name] = (result, entry)

    missing_shards = [i for i in range(1, expect_shards + 1) if i not in by_index]
    runs: list[AccountRun] = []
    not_evaluated: list[str] = []
    for name, account_id in selection:
        if name in covered:
            runs.append(_run(covered[name][1]))
            continue
        home = shard_of(account_id or name, expect_shards)
        why = (
            f"shard {home}/{expect_shards} is missing"
            if home in missing_shards
            else f"shard {home}/{expect_shards} did not cover it"
        )
        runs.append(AccountRun(Account(name, account_id=account_id), error=f"{NOT_EVALUATED}: {why}"))
        not_evaluated.append(name)

    ordered = [by_index[i] for i in sorted(by_index)]
    warnings: list[str] = []
    for result in ordered:
        for warning in result.report.get("warnings") or []:
            if warning not in warnings:
                warnings.append(warning)
    errors = [f"shard {r.shard}: {r.report['error']}" for r in ordered if r.report.get("error")]
    if missing_shards:
        listed = ", ".join(f"{i}/{expect_shards}" for i in missing_shards)
        errors.append(f"shard(s) {listed} missing")
    if not_evaluated:
        errors.append(f"{NOT_EVALUATED}: {', '.join(not_evaluated)}")
    journal = _one_of(ordered, "journal", warnings)
    plan_file = _one_of(ordered, "plan_file", warnings)
    report = MergedReport(
        str(first.report.get("mode") or "check"),
        runs,
        diff=bool(first.data.get("diff")),
        warnings=warnings,
        error="; ".join(errors),
        journal=journal,
        plan_file=plan_file,
        playbook=first.report.get("playbook"),
        not_evaluated=not_evaluated,
    )
    _restore_findings_state(report, ordered)
    return report


def _one_of(results: list[Result], key: str, warnings: list[str]) -> str | None:
    """A journal or plan file: one path when one shard wrote one, else each shard's in the warnings."""
    values = [(r, r.report.get(key)) for r in results if r.report.get(key)]
    if len(values) == 1:
        return str(values[0][1])
    for result, value in values:
        warnings.append(f"shard {result.shard} {key.replace('_', ' ')}: {value}")
    return None


def _run(entry: dict[str, Any]) -> AccountRun:
    account = Account(str(entry["name"]), account_id=entry.get("account_id"))
    plans: list[TaskPlan] = []
    results: list[ChangeResult] = []
    for task in entry.get("tasks") or []:
        plans.append(TaskPlan.from_dict(task))
        for change in task.get("changes") or []:
            if change.get("result"):
                results.append(ChangeResult(change["address"], change["result"], change.get("result_message", "")))
    return AccountRun(
        account,
        task_plans=plans,
        results=results,
        error=entry.get("error") or "",
        converged=entry.get("converged"),
        unreachable=bool(entry.get("unreachable")),
        leftover=[Change.from_dict(c) for c in entry.get("leftover") or []],
    )


@dataclass(frozen=True)
class SavedWaiver:
    """A waiver as a shard's report recorded it: enough to show and count it again after the merge."""

    data: dict[str, Any] = field(hash=False)

    def __getattr__(self, name: str) -> Any:
        if name == "data":
            raise AttributeError(name)
        value = self.data.get(name)
        if name == "expires" and isinstance(value, str):
            return date.fromisoformat(value[:10])
        if name == "location" and value is None:
            return f"{self.data.get('file')}:{self.data.get('line')}" if self.data.get("line") else "waiver"
        return value

    def to_dict(self) -> dict[str, Any]:
        return dict(self.data)


def _restore_findings_state(report: MergedReport, results: list[Result]) -> None:
    """--fail-on and waived findings, as the shards' reports recorded them (where the Report has them)."""
    fail_on = next((r.report.get("fail_on") for r in results if r.report.get("fail_on")), None)
    if fail_on and hasattr(report, "fail_on"):
        report.fail_on = fail_on
    waived = getattr(report, "waived", None)
    if not isinstance(waived, dict):
        return
    entries = {str(a["name"]): a for r in results for a in r.report["accounts"]}
    for run in report.runs:
        account = entries.get(run.account.name)
        if account is None:
            continue
        for plan, task in zip(run.task_plans, account.get("tasks") or [], strict=False):
            for finding, raw in zip(plan.findings, task.get("findings") or [], strict=False):
                if isinstance(raw.get("waived"), dict):
                    waived[finding] = SavedWaiver(raw["waived"])
