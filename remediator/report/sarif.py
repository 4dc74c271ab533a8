"""--format sarif: SARIF 2.1.0, so code scanning shows drift and findings on the playbook line that asks.

One result per change and per finding, ruled by its module and placed at the task in the playbook. A
partial fingerprint from the rule and the resource address lets code scanning match a result across runs
(and a check-mode alert to its apply-mode result) however the playbook's lines move.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import quote

from remediator import __version__, registry
from remediator.model import APPLIED, FAILED, NOT_CONVERGED, STALE, AccountRun, Change, ChangeResult, Finding, TaskPlan
from remediator.report import EXIT_ERROR, Report, formatter

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
FINGERPRINT = "remediatorAddress/v1"
SEVERITY_LEVELS = {"critical": "error", "high": "error", "medium": "warning", "low": "note", "info": "none"}
ERROR_RESULTS = (FAILED, STALE, NOT_CONVERGED)


@formatter("sarif")
def render_sarif(report: Report) -> str:
    rules: dict[str, dict[str, Any]] = {}
    controls_seen: dict[str, set[str]] = {}
    results: list[dict[str, Any]] = []
    notifications: list[dict[str, Any]] = [{"level": "warning", "message": {"text": w}} for w in report.warnings]
    if report.error:
        notifications.append({"level": "error", "message": {"text": report.error}})
    for run in report.runs:
        by_address = {r.address: r for r in run.results}
        leftover = {c.address for c in run.leftover}
        for plan in run.task_plans:
            if plan.error:
                notifications.append(_notification(f"{run.account.name}: {plan.task}: {plan.error}", plan))
            for change in plan.changes:
                rule = _rule(rules, plan.module)
                results.append(_change(report, run, plan, change, by_address.get(change.address), leftover, rule))
            for finding in plan.findings:
                rule = _rule(rules, plan.module)
                controls_seen.setdefault(rule["id"], set()).update(finding.controls)
                results.append(_finding(run, plan, finding, rule))
        if run.error:
            notifications.append({"level": "error", "message": {"text": f"account {run.account.name}: {run.error}"}})
    rule_list = list(rules.values())
    index = {rule_id: i for i, rule_id in enumerate(rules)}
    results = [{"ruleId": r["ruleId"], "ruleIndex": index[r["ruleId"]], **r} for r in results]
    for rule in rule_list:
        tags = controls_seen.get(rule["id"])
        if tags:
            rule["properties"] = {"tags": sorted(tags)}
    sarif = {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {"driver": {"name": "remediator", "version": __version__, "rules": rule_list}},
                "invocations": [
                    {
                        "executionSuccessful": report.exit_code != EXIT_ERROR,
                        "exitCode": report.exit_code,
                        "toolExecutionNotifications": notifications,
                    }
                ],
                "properties": {"mode": report.mode},
                "results": results,
            }
        ],
    }
    return json.dumps(sarif, indent=2, default=str) + "\n"


def _rule(rules: dict[str, dict[str, Any]], module: str) -> dict[str, Any]:
    """The module's rule, made on first use; results point at it by its position in the list."""
    if module not in rules:
        summary = registry.get(module).summary if registry.has(module) else ""
        rules[module] = {
            "id": module,
            "name": module,
            "shortDescription": {"text": summary or f"remediator module {module}"},
            "defaultConfiguration": {"level": "warning"},
        }
    return rules[module]


def _change(
    report: Report,
    run: AccountRun,
    plan: TaskPlan,
    change: Change,
    result: ChangeResult | None,
    leftover: set[str],
    rule: dict[str, Any],
) -> dict[str, Any]:
    text = [_sentence(change.summary or f"{change.action} {change.resource}")]
    if change.reason:
        text.append(_sentence(f"Why: {change.reason}"))
    if change.undo is None:
        text.append("Cannot be undone.")
    if report.mode == "check":
        level = "warning"
    elif result is None:
        level = "warning"
        text.append("Not applied.")
    else:
        level = "note" if result.status == APPLIED else "error" if result.status in ERROR_RESULTS else "warning"
        text.append(_sentence(f"Result: {result.status}" + (f" ({result.message})" if result.message else "")))
    if report.mode == "apply" and change.address in leftover:
        level = "error"
        text.append("Still differs after applying.")
    props = {
        "account": run.account.name,
        "task": plan.task,
        "address": change.address,
        "resource": change.resource,
        "action": change.action,
        "controls": [],
        "reversible": change.undo is not None,
    }
    if report.mode == "apply":
        props["result"] = result.status if result else None
    return _result(rule, level, " ".join(text), plan, change.address, props, [rule["id"], change.address])


def _finding(run: AccountRun, plan: TaskPlan, finding: Finding, rule: dict[str, Any]) -> dict[str, Any]:
    text = [_sentence(f"{finding.resource}: {finding.message}")]
    if finding.controls:
        text.append(_sentence("Controls: " + ", ".join(finding.controls)))
    props = {
        "account": run.account.name,
        "task": plan.task,
        "address": finding.address,
        "resource": finding.resource,
        "action": "finding",
        "severity": finding.severity,
        "controls": list(finding.controls),
    }
    level = SEVERITY_LEVELS.get(finding.severity, "warning")
    # Controls tell apart two findings on one resource under one rule.
    key = [rule["id"], finding.address, *sorted(finding.controls)]
    return _result(rule, level, " ".join(text), plan, finding.address, props, key)


def _result(
    rule: dict[str, Any],
    level: str,
    text: str,
    plan: TaskPlan,
    address: str,
    props: dict[str, Any],
    key: list[str],
) -> dict[str, Any]:
    result: dict[str, Any] = {
        "ruleId": rule["id"],
        "level": level,
        "message": {"text": text},
    }
    location = _location(plan.location)
    result["locations"] = [{**location, "logicalLocations": [{"fullyQualifiedName": address, "kind": "resource"}]}]
    result["partialFingerprints"] = {FINGERPRINT: hashlib.sha256("\n".join(key).encode()).hexdigest()}
    result["properties"] = props
    return result


def _location(where: str) -> dict[str, Any]:
    """A physicalLocation from TaskPlan.location ("path:line" or "path"); empty when there is no path."""
    if not where:
        return {}
    match = re.fullmatch(r"(.+):(\d+)", where)
    path, line = (match.group(1), int(match.group(2))) if match else (where, 0)
    physical: dict[str, Any] = {"artifactLocation": {"uri": _uri(path)}}
    if line > 0:
        physical["region"] = {"startLine": line}
    return {"physicalLocation": physical}


def _uri(path: str) -> str:
    """Relative to the working directory (the repository, in CI) when the file is under it, else file://."""
    p = Path(path)
    if not p.is_absolute():
        return quote(p.as_posix())
    try:
        return quote(p.resolve().relative_to(Path.cwd().resolve()).as_posix())
    except ValueError:
        return p.as_uri()


def _notification(text: str, plan: TaskPlan) -> dict[str, Any]:
    location = _location(plan.location)
    return {"level": "error", "message": {"text": text}, **({"locations": [location]} if location else {})}


def _sentence(text: str) -> str:
    text = text.strip()
    return text if not text or text[-1] in ".!?" else text + "."
