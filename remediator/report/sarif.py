"""--format sarif: SARIF 2.1.0, so code scanning shows drift and findings on the playbook line that asks.

One result per open change and per finding, placed at the task in the playbook, under a rule that says
how severe it is:

- A finding's rule is its rule name (`remediator.report.rules`: `MODULE:KEY`, KEY the control it maps to)
  and its severity: `iam_root_account:root_mfa/critical`. GitHub reads a rule's
  `properties.security-severity` (a number as text: critical ≥ 9.0, high 7.0–8.9, medium 4.0–6.9, low
  0.1–3.9) and shows the alert as Critical, High, Medium or Low; one rule per severity keeps that true
  for every result under it. Notes (`info`) get no security-severity, and level `none`.
- A change's rule is its module (`iam_password_policy`), as drift: security-severity medium.
- What is not open is not an alert: in apply mode a change that was applied (and converged) is left
  out, so code scanning closes the alert raised at check time; a waived finding is left out too (GitHub
  does not honour SARIF `suppressions`), and listed with its waiver under the run's
  `properties.waived`.

A partial fingerprint from the module, the resource address and (for a finding) its control ids lets
code scanning match a result across runs however the playbook's lines move; it is the same before and
after rules were split by control and severity.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import quote

from remediator import __version__, controls, registry
from remediator.model import APPLIED, FAILED, NOT_CONVERGED, STALE, AccountRun, Change, ChangeResult, Finding, TaskPlan
from remediator.report import EXIT_ERROR, Report, formatter
from remediator.report.rules import control_key, rule_name

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
FINGERPRINT = "remediatorAddress/v1"
SEVERITY_LEVELS = {"critical": "error", "high": "error", "medium": "warning", "low": "note", "info": "none"}
# properties.security-severity as GitHub maps it: ≥ 9.0 critical, 7.0–8.9 high, 4.0–6.9 medium, 0.1–3.9 low.
SECURITY_SEVERITY = {"critical": "9.5", "high": "8.0", "medium": "5.5", "low": "3.0"}
CHANGE_SEVERITY = "medium"  # drift from the baseline: a change pending, failed or stale
ERROR_RESULTS = (FAILED, STALE, NOT_CONVERGED)


@formatter("sarif")
def render_sarif(report: Report) -> str:
    rules: dict[str, dict[str, Any]] = {}
    results: list[dict[str, Any]] = []
    waived: list[dict[str, Any]] = []
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
                result = by_address.get(change.address)
                if report.mode == "apply" and result and result.status == APPLIED and change.address not in leftover:
                    continue  # made, and verified: not an alert (code scanning closes the check-time one)
                rule = _change_rule(rules, plan.module)
                results.append(_change(report, run, plan, change, result, leftover, rule))
            for finding in plan.findings:
                waiver = report.waiver_of(finding)
                if waiver is not None:
                    waived.append(_waived(run, plan, finding, waiver))
                    continue
                rule = _finding_rule(rules, plan.module, finding)
                results.append(_finding(run, plan, finding, rule))
        if run.error:
            notifications.append({"level": "error", "message": {"text": f"account {run.account.name}: {run.error}"}})
    rule_list = list(rules.values())
    index = {rule_id: i for i, rule_id in enumerate(rules)}
    results = [{"ruleId": r["ruleId"], "ruleIndex": index[r["ruleId"]], **r} for r in results]
    properties: dict[str, Any] = {"mode": report.mode}
    if report.fail_on:
        properties["failOn"] = report.fail_on
    if waived:
        properties["waived"] = waived
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
                "properties": properties,
                "results": results,
            }
        ],
    }
    return json.dumps(sarif, indent=2, default=str) + "\n"


def _summary(module: str) -> str:
    return (registry.get(module).summary if registry.has(module) else "") or f"remediator module {module}"


def _change_rule(rules: dict[str, dict[str, Any]], module: str) -> dict[str, Any]:
    """The module's drift rule, made on first use; results point at it by its position in the list."""
    if module not in rules:
        rules[module] = {
            "id": module,
            "name": module,
            "shortDescription": {"text": _summary(module)},
            "help": {"text": f"What the task asks differs from the account: {module} would change it."},
            "defaultConfiguration": {"level": "warning"},
            "properties": {"tags": ["security", "drift"], "security-severity": SECURITY_SEVERITY[CHANGE_SEVERITY]},
        }
    return rules[module]


def _finding_rule(rules: dict[str, dict[str, Any]], module: str, finding: Finding) -> dict[str, Any]:
    """One rule per rule name and severity: `MODULE:KEY/SEVERITY` (or `MODULE/SEVERITY` without controls)."""
    name = rule_name(module, finding)
    rule_id = f"{name}/{finding.severity}"
    if rule_id not in rules:
        key = control_key(finding.controls)
        what = f"{key.replace('_', ' ')} ({module})" if key in controls.CIS else name
        help_text = f"Severity: {finding.severity}."
        if finding.controls:
            help_text += f" Controls: {', '.join(finding.controls)}."
        help_text += f" To accept it for a while, waive rule {name!r} in a --waivers file (with an expiry)."
        properties: dict[str, Any] = {"tags": ["security", *sorted(finding.controls)]}
        if finding.severity in SECURITY_SEVERITY:
            properties["security-severity"] = SECURITY_SEVERITY[finding.severity]
        rules[rule_id] = {
            "id": rule_id,
            "name": name,
            "shortDescription": {"text": what},
            "fullDescription": {"text": _summary(module)},
            "help": {"text": help_text},
            "defaultConfiguration": {"level": SEVERITY_LEVELS.get(finding.severity, "warning")},
            "properties": properties,
        }
    else:
        tags = rules[rule_id]["properties"]["tags"]
        tags += sorted(c for c in finding.controls if c not in tags)
    return rules[rule_id]


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
    return _result(rule, level, " ".join(text), plan, change.address, props, [plan.module, change.address])


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
    # Controls tell apart two findings on one resource under one module.
    key = [plan.module, finding.address, *sorted(finding.controls)]
    return _result(rule, level, " ".join(text), plan, finding.address, props, key)


def _waived(run: AccountRun, plan: TaskPlan, finding: Finding, waiver: Any) -> dict[str, Any]:
    return {
        "rule": rule_name(plan.module, finding),
        "account": run.account.name,
        "task": plan.task,
        "address": finding.address,
        "resource": finding.resource,
        "severity": finding.severity,
        "message": finding.message,
        "controls": list(finding.controls),
        "waiver": waiver.to_dict(),
    }


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
