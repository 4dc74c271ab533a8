"""Waivers (`--waivers FILE`): dated, owned exceptions for findings that are known and accepted for now.

```yaml
waivers:                             # or the list alone, without the `waivers:` key
  - rule: iam_access_keys:key_rotation
    resource: "svc-legacy/*"
    reason: "vendor integration, rotation ticket SEC-123"
    owner: security@example.com
    expires: 2027-01-31
```

Every key is required, and no other key is allowed:

- `rule`: which findings, by what they break (`remediator.report.rules` names them the same way in SARIF
  and in the markdown summary):
  - `*`: any finding;
  - a module name, or a glob on it (`iam_access_keys`, `iam_*`): every finding of that module;
  - `MODULE:RULE`: a module's findings for one rule, where RULE is a rule of the controls table
    (`key_rotation`, `console_mfa`, `root_mfa`…) or one of its control ids (`CIS v5.0 1.13`); either part
    may be a glob (`*:console_mfa`);
  - a rule of the controls table alone (`console_mfa`) or one control id alone (`CIS v5.0 1.9`): that
    rule in any module.
  A rule that names no known module, rule or control is bad input (a typo must not waive nothing quietly).
- `resource`: a glob (`*` crosses `/`) matched against the finding's resource as reports show it (a
  user name, `alice/AKIA…`, an ARN), its full address (`<account>/<region|global>/<module>/<resource>`, so
  `prod/*` waives one account's findings) and the resource part of that address; any of them may match.
  `*` is every resource, and must be written out.
- `reason`, `owner`: non-empty text, shown next to every finding the waiver covers.
- `expires`: a date, YYYY-MM-DD. The waiver applies up to and including that day and not after it; an
  expired waiver is not bad input: it is ignored, with a warning, and its findings are open again.

A waived finding is reported as waived (with the waiver's reason, owner and expiry) in every format and
never changes the exit code. Notes (severity `info`) are never open and never waived. When several
waivers match a finding, the first in the file wins. Warnings: a waiver that expired; one that expires
within 14 days (`EXPIRY_WARNING_DAYS`); one that matched no finding (unless `warn_unmatched=False`, for
runs that cover part of the inventory: `--limit`, `--tags`, `--shard`).
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from remediator import controls, registry, timeutil
from remediator.errors import ConfigError
from remediator.loader import yamlfile
from remediator.loader.yamlfile import LocDict, LocList
from remediator.model import AccountRun, Finding
from remediator.report import Report
from remediator.report.rules import CONTROL_KEYS, control_key

KEYS = ("rule", "resource", "reason", "owner", "expires")
EXPIRY_WARNING_DAYS = 14
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)
_GLOB = re.compile(r"[*?\[]")


@dataclass(frozen=True)
class Waiver:
    rule: str
    resource: str
    reason: str
    owner: str
    expires: date
    file: str = ""
    line: int | None = None
    # How `rule` reads: any | module | module_rule | rule | control (see the module's docstring).
    kind: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", rule_kind(self.rule))  # ValueError for a rule nothing could match

    @property
    def location(self) -> str:
        return f"{self.file}:{self.line}" if self.file and self.line else self.file or "waiver"

    def describe(self) -> str:
        return f"rule {self.rule!r} on {self.resource!r}"

    def active(self, today: date) -> bool:
        """Applies up to and including its `expires` day."""
        return today <= self.expires

    def matches(self, module: str, finding: Finding) -> bool:
        return self._rule_matches(module, finding) and self._resource_matches(finding)

    def _rule_matches(self, module: str, finding: Finding) -> bool:
        if self.kind == "any":
            return True
        if self.kind == "module":
            return fnmatch.fnmatchcase(module, self.rule)
        if self.kind == "control":
            return self.rule in finding.controls
        if self.kind == "rule":
            return _key_matches(self.rule, finding)
        module_pattern, key_pattern = self.rule.split(":", 1)
        return fnmatch.fnmatchcase(module, module_pattern) and _key_matches(key_pattern, finding)

    def _resource_matches(self, finding: Finding) -> bool:
        parts = finding.address.split("/", 3)
        candidates = [finding.resource, finding.address, *(parts[3:] if len(parts) == 4 else [])]
        return any(fnmatch.fnmatchcase(c, self.resource) for c in candidates)

    def to_dict(self) -> dict[str, Any]:
        """The `waived` block of a finding in the JSON report."""
        return {
            "rule": self.rule,
            "resource": self.resource,
            "reason": self.reason,
            "owner": self.owner,
            "expires": self.expires.isoformat(),
            "source": self.location,
        }


def _key_matches(pattern: str, finding: Finding) -> bool:
    """A rule name or control id pattern against the finding's rule key and control ids."""
    if pattern == "*":
        return True
    key = control_key(finding.controls)
    names = [key] if key else []
    return any(fnmatch.fnmatchcase(name, pattern) for name in [*names, *finding.controls])


def rule_kind(rule: str) -> str:
    """How a waiver's `rule` reads; ValueError (with what is known) when it could match nothing."""
    if not isinstance(rule, str) or not rule.strip():
        raise ValueError("'rule' must be a module, MODULE:RULE, a rule, a control id, or '*'")
    if rule == "*":
        return "any"
    if ":" in rule:
        module_pattern, key_pattern = rule.split(":", 1)
        _check_module(module_pattern, rule)
        if not (_GLOB.search(key_pattern) or key_pattern in controls.CIS or key_pattern in CONTROL_KEYS):
            raise ValueError(f"rule {rule!r}: {key_pattern!r} is not a rule of the controls table ({_rules()})")
        return "module_rule"
    if _GLOB.search(rule) or registry.has(rule):
        _check_module(rule, rule)
        return "module"
    if rule in CONTROL_KEYS:
        return "control"
    if rule in controls.CIS:
        return "rule"
    raise ValueError(
        f"rule {rule!r} is not a module, a rule or a control id (modules: {', '.join(registry.names())};"
        f" rules: {_rules()})"
    )


def _check_module(pattern: str, rule: str) -> None:
    if not any(fnmatch.fnmatchcase(name, pattern) for name in registry.names()):
        raise ValueError(f"rule {rule!r}: {pattern!r} names no module (modules: {', '.join(registry.names())})")


def _rules() -> str:
    return ", ".join(controls.CIS)


# ---------------------------------------------------------------- loading


def load_waivers(path: str | Path) -> list[Waiver]:
    """Read a waivers file. Bad input (syntax, a missing or unknown key, an empty text, a date that is not
    YYYY-MM-DD, a rule that names nothing) is a ConfigError with the file and line. An empty file, or
    `waivers: []`, is no waivers."""
    file = str(path)
    data = yamlfile.load(path, "waivers file")
    if data is None:
        return []
    entries: Any = data
    line = getattr(data, "line", None)
    if isinstance(data, dict):
        for key in data:
            if key != "waivers":
                raise ConfigError(
                    f"unknown key {key!r}: a waivers file holds `waivers:`, a list", file=file, line=_line(data, key)
                )
        if "waivers" not in data:
            raise ConfigError("a waivers file holds `waivers:`, a list", file=file, line=line)
        entries, line = data["waivers"], _line(data, "waivers")
        if entries is None:
            return []
    if not isinstance(entries, list):
        raise ConfigError("`waivers` must be a list of waivers", file=file, line=line)
    lines = entries.item_lines if isinstance(entries, LocList) else [line] * len(entries)
    return [_waiver(raw, file, at) for raw, at in zip(entries, lines, strict=True)]


def _waiver(raw: Any, file: str, line: int | None) -> Waiver:
    if not isinstance(raw, dict):
        raise ConfigError(f"a waiver must be a mapping with the keys {', '.join(KEYS)}", file=file, line=line)
    for key in raw:
        if key not in KEYS:
            raise ConfigError(
                f"waiver: unknown key {key!r} (a waiver has {', '.join(KEYS)})", file=file, line=_line(raw, key)
            )
    missing = [k for k in KEYS if k not in raw]
    if missing:
        raise ConfigError(
            f"waiver: missing {', '.join(repr(k) for k in missing)} (every waiver needs {', '.join(KEYS)})",
            file=file,
            line=line,
        )
    for key in ("rule", "resource", "reason", "owner"):
        value = raw[key]
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(f"waiver: {key!r} must be non-empty text", file=file, line=_line(raw, key))
    expires = _date(raw["expires"], file, _line(raw, "expires"))
    try:
        return Waiver(raw["rule"], raw["resource"], raw["reason"].strip(), raw["owner"].strip(), expires, file, line)
    except ValueError as exc:
        raise ConfigError(f"waiver: {exc}", file=file, line=_line(raw, "rule"))


def _date(value: Any, file: str, line: int | None) -> date:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value  # YAML reads 2027-01-31 as a date (and refuses one that does not exist, with its line)
    text = value if isinstance(value, str) else ""
    if not _DATE.fullmatch(text.strip()):
        raise ConfigError(f"waiver: 'expires' must be a date, YYYY-MM-DD (got {value!r})", file=file, line=line)
    try:
        return date.fromisoformat(text.strip())
    except ValueError as exc:
        raise ConfigError(f"waiver: 'expires' {text.strip()!r} is not a date: {exc}", file=file, line=line)


def _line(mapping: Any, key: str) -> int | None:
    return mapping.line_of(key) if isinstance(mapping, LocDict) else None


# ---------------------------------------------------------------- applying


def mark_waived(report: Report, run: AccountRun, waivers: list[Waiver], today: date) -> None:
    """Put on the report the waiver covering each open finding of this account: the first in the file that
    matches and has not expired. What `apply_waivers` does for every account, and the CLI for each account
    before it is streamed."""
    for plan in run.task_plans:
        for finding in plan.findings:
            if not finding.open or finding in report.waived:
                continue  # a note is never open: nothing to waive
            waiver = next((w for w in waivers if w.active(today) and w.matches(plan.module, finding)), None)
            if waiver is not None:
                report.waived[finding] = waiver


def apply_waivers(
    report: Report, waivers: list[Waiver], today: date | None = None, *, warn_unmatched: bool = True
) -> list[str]:
    """Mark the report's findings that an active waiver covers (report.waived), add the warnings to
    report.warnings, and return them. `today` defaults to today's UTC date. Call once per report."""
    today = today or timeutil.now().date()
    report.waived = {}
    covered: dict[int, int] = {}  # index of a waiver → findings it covers (or would, once expired)
    for run in report.runs:
        mark_waived(report, run, waivers, today)
        for plan in run.task_plans:
            for finding in plan.findings:
                if not finding.open:
                    continue  # a note is never open: nothing to waive
                for index, waiver in enumerate(waivers):
                    if waiver.matches(plan.module, finding):
                        covered[index] = covered.get(index, 0) + 1
    warnings: list[str] = []
    for index, waiver in enumerate(waivers):
        count = covered.get(index, 0)
        days = (waiver.expires - today).days
        if days < 0:
            again = f"; {count} finding(s) it covered are open again" if count else ""
            warnings.append(
                f"{waiver.location}: waiver for {waiver.describe()} expired on {waiver.expires}: ignored{again}"
            )
            continue
        if days <= EXPIRY_WARNING_DAYS:
            when = "today (its last day)" if days == 0 else f"in {days} day(s)"
            warnings.append(
                f"{waiver.location}: waiver for {waiver.describe()} expires on {waiver.expires}, {when};"
                f" owner: {waiver.owner}"
            )
        if warn_unmatched and not count:
            warnings.append(f"{waiver.location}: waiver for {waiver.describe()} matched no finding")
    report.warnings.extend(warnings)
    return warnings
