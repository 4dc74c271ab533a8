"""`remediator activity` reports: text (a table to scan), json (SPEC's shape, stable), csv, markdown."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from remediator.events.activity import AccountActivity

FORMATS = ("text", "json", "csv", "markdown")


def render(results: list[AccountActivity], fmt: str) -> str:
    data = {"format_version": 1, "accounts": [r.to_dict() for r in results]}
    if fmt == "json":
        return json.dumps(data, indent=2, sort_keys=False) + "\n"
    if fmt == "csv":
        return _csv(data)
    if fmt == "markdown":
        return _markdown(data)
    return _text(data)


def _top(counts: dict[str, int], most: int = 3) -> str:
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:most]
    more = len(counts) - len(ranked)
    return ", ".join(f"{k} {v}" for k, v in ranked) + (f", +{more} more" if more > 0 else "")


def _failures(principal: dict[str, Any]) -> str:
    return ", ".join(f"{f['action']} ×{f['count']}" for f in principal["failures"]) or "-"


def _text(data: dict[str, Any]) -> str:
    out: list[str] = []
    for account in data["accounts"]:
        label = f"{account['name']} ({account['account_id']})" if account.get("account_id") else account["name"]
        window = account["window"]
        out.append(f"ACCOUNT [{label}] {window['start']} → {window['end']} ({account['source']})")
        if account.get("error"):
            out.append(f"  ERROR: {account['error']}")
        coverage = account["coverage"]
        out.append(
            f"  read: {len(coverage['regions'])} region(s), {coverage['calls']} call(s),"
            f" {'complete' if coverage['complete'] else 'INCOMPLETE'}"
        )
        out += [f"  note: {note}" for note in coverage["notes"]]
        rows = [("PRINCIPAL", "EVENTS", "LAST SEEN", "TOP ACTIONS", "DENIED", "FROM")]
        for p in account["principals"]:
            ips = ", ".join(p["source_ips"][:3]) + (" …" if len(p["source_ips"]) > 3 else "")
            rows.append(
                (p["arn"], str(p["events"]), p["last_seen"][:10], _top(p["actions"]) or "-", _failures(p), ips or "-")
            )
        widths = [min(60, max(len(r[i]) for r in rows)) for i in range(len(rows[0]))]
        for row in rows:
            out.append("  " + "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())
        if account["inactive"]:
            out.append(f"  inactive ({len(account['inactive'])}): " + ", ".join(account["inactive"]))
        out.append("")
    return "\n".join(out)


def _csv(data: dict[str, Any]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["account", "principal", "type", "events", "first_seen", "last_seen", "action", "count", "kind"])
    for account in data["accounts"]:
        for p in account["principals"]:
            base = [account["name"], p["arn"], p["type"], p["events"], p["first_seen"], p["last_seen"]]
            for action, count in p["actions"].items():
                writer.writerow([*base, action, count, "used"])
            for failure in p["failures"]:
                writer.writerow([*base, failure["action"], failure["count"], f"denied:{failure['error_code']}"])
            if not p["actions"] and not p["failures"]:
                writer.writerow([*base, "", 0, "other"])
        for arn in account["inactive"]:
            writer.writerow([account["name"], arn, "", 0, "", "", "", 0, "inactive"])
    return buffer.getvalue()


def _markdown(data: dict[str, Any]) -> str:
    out = ["# Activity", ""]
    for account in data["accounts"]:
        window = account["window"]
        out += [f"## {account['name']} — {window['start']} to {window['end']} ({account['source']})", ""]
        if account.get("error"):
            out += [f"**Error:** {account['error']}", ""]
        out += ["| principal | events | last seen | top actions | denied |", "|---|---:|---|---|---|"]
        for p in account["principals"]:
            cells = [f"`{p['arn']}`", str(p["events"]), p["last_seen"][:10], _top(p["actions"]) or "-", _failures(p)]
            out.append("| " + " | ".join(cells) + " |")
        if account["inactive"]:
            out += ["", f"Inactive: {', '.join(f'`{a}`' for a in account['inactive'])}"]
        out.append("")
    return "\n".join(out) + "\n"
