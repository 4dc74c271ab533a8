"""Inventories in Ansible's YAML shape: groups with vars, accounts and children; --limit patterns."""

from __future__ import annotations

import fnmatch
import hashlib
import re
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from remediator.errors import ConfigError, short
from remediator.loader import yamlfile
from remediator.loader.yamlfile import LocDict, plain

GROUP_KEYS = ("vars", "accounts", "children")
CONNECTION_KEYS = ("account_id", "region", "profile", "role_arn", "external_id", "session_name", "endpoint_url")
IMPLICIT_ACCOUNT = "default"

# Used with fullmatch and re.ASCII: in Python `\w` and `\d` match any Unicode letter or digit, and `$`
# accepts a trailing newline; AWS's patterns are ASCII and match the whole value.
_ROLE_ARN = re.compile(r"arn:aws[a-z-]*:iam::[0-9]{12}:role/[\w+=,.@/-]+", re.ASCII)
_REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-[0-9]", re.ASCII)
_ACCOUNT_ID = re.compile(r"[0-9]{12}", re.ASCII)
_SESSION_NAME = re.compile(r"[\w+=,.@-]{2,64}", re.ASCII)  # AssumeRole's RoleSessionName
_EXTERNAL_ID = re.compile(r"[\w+=,.@:/-]{2,1224}", re.ASCII)  # AssumeRole's ExternalId
_ENDPOINT_URL = re.compile(r"https?://[^\s/?#]+(?:[/?#]\S*)?")  # no whitespace anywhere (Unicode \s)


@dataclass
class InventoryAccount:
    """An account as written: its raw settings and vars, and where they came from."""

    name: str
    settings: dict[str, Any]
    file: str
    line: int | None
    groups: list[str] = field(default_factory=list)
    key_lines: dict[str, int | None] = field(default_factory=dict)  # setting or var → its line


@dataclass
class Inventory:
    path: str | None
    accounts: dict[str, InventoryAccount]
    groups: dict[str, list[str]]  # group → account names (transitively)
    group_vars: dict[str, dict[str, Any]]
    group_depth: dict[str, int]
    digest: str = ""

    def select(self, pattern: str, *, source: str = "--limit") -> list[str]:
        """Account names matching an Ansible-style pattern: names, groups, globs, !x, &x, a:b."""
        if not self.accounts:
            return []
        if self.path is None and source != "--limit":
            return [IMPLICIT_ACCOUNT]  # no inventory: every play runs on the current credentials' account
        selected: list[str] = []
        terms = [t.strip() for t in re.split(r"[:,]", pattern) if t.strip()]
        if not terms:
            raise ConfigError(f"{source}: empty pattern")
        for term in terms:
            if term.startswith("!"):
                matched = self._match(term[1:])
                selected = [a for a in selected if a not in matched]
            elif term.startswith("&"):
                matched = self._match(term[1:])
                selected = [a for a in selected if a in matched]
            else:
                selected += [a for a in self._match(term) if a not in selected]
        return selected

    def _match(self, term: str) -> list[str]:
        names: list[str] = []
        for group, members in self.groups.items():
            if fnmatch.fnmatchcase(group, term):
                names += [m for m in members if m not in names]
        for name in self.accounts:
            if fnmatch.fnmatchcase(name, term) and name not in names:
                names.append(name)
        return [n for n in self.accounts if n in names]

    def variables(self, name: str) -> dict[str, Any]:
        """Inventory vars of one account: all, then groups from parent to child, then the account."""
        account = self.accounts[name]
        merged: dict[str, Any] = {}
        for group in sorted(account.groups, key=lambda g: (self.group_depth.get(g, 0), g)):
            merged.update(self.group_vars.get(group, {}))
        merged.update({k: v for k, v in account.settings.items() if k not in CONNECTION_KEYS})
        return merged


def implicit_inventory() -> Inventory:
    """No inventory given: the one account of the current credentials."""
    account = InventoryAccount(IMPLICIT_ACCOUNT, {}, "(current credentials)", None, ["all"])
    return Inventory(None, {IMPLICIT_ACCOUNT: account}, {"all": [IMPLICIT_ACCOUNT]}, {}, {"all": 0})


def load_inventory(path: str | Path) -> Inventory:
    file = str(path)
    raw = yamlfile.read_bytes(path, "inventory")
    data = yamlfile.parse_bytes(raw, file, what="inventory")
    if not isinstance(data, LocDict):
        raise ConfigError("an inventory is a mapping of groups, starting with 'all'", file=file, line=1)
    inventory = Inventory(file, {}, {}, {}, {}, hashlib.sha256(raw).hexdigest())
    top = data if "all" in data else LocDict({"all": LocDict({"children": data})})
    if "all" in data and len(data) > 1:
        extra = LocDict({k: v for k, v in data.items() if k != "all"})
        extra.key_lines = {k: data.line_of(k) for k in extra}
        all_group = data["all"] if isinstance(data["all"], LocDict) else LocDict()
        children = all_group.get("children") or LocDict()
        if not isinstance(children, dict):
            raise ConfigError("'children' must be a mapping of groups", file=file, line=all_group.line_of("children"))
        for key, value in extra.items():
            if key in children:
                raise ConfigError(f"group {key!r} defined twice", file=file, line=data.line_of(key))
            children[key] = value
        all_group["children"] = children
        top = LocDict({"all": all_group})
    _walk_group(inventory, "all", top["all"], file, data.line_of("all") if "all" in data else 1, [], 0)
    if not inventory.accounts:
        raise ConfigError("the inventory defines no accounts", file=file, line=1)
    return inventory


def _walk_group(
    inv: Inventory, name: str, raw: Any, file: str, line: int | None, parents: list[str], depth: int
) -> None:
    if name in parents:
        raise ConfigError(f"group {name!r} contains itself", file=file, line=line)
    if raw is None:
        raw = LocDict()
    if not isinstance(raw, LocDict):
        raise ConfigError(f"group {name!r} must be a mapping with vars, accounts or children", file=file, line=line)
    for key in raw:
        if key not in GROUP_KEYS:
            hint = " (accounts go under 'accounts:')" if key in ("hosts",) else ""
            raise ConfigError(
                f"unknown key {key!r} in group {name!r}; expected one of {', '.join(GROUP_KEYS)}{hint}",
                file=file,
                line=raw.line_of(key),
            )
    group_vars = raw.get("vars") or {}
    if not isinstance(group_vars, dict):
        raise ConfigError(f"vars of group {name!r} must be a mapping", file=file, line=raw.line_of("vars"))
    for key in group_vars:
        if not isinstance(key, str) or not key.isidentifier():
            at = group_vars.line_of(key) if isinstance(group_vars, LocDict) else raw.line_of("vars")
            raise ConfigError(f"group {name!r}: variable name {key!r} is not a valid identifier", file=file, line=at)
    inv.group_vars.setdefault(name, {}).update(plain(group_vars))
    inv.group_depth[name] = max(depth, inv.group_depth.get(name, 0))
    inv.groups.setdefault(name, [])
    chain = [*parents, name]
    accounts = raw.get("accounts") or {}
    if not isinstance(accounts, dict):
        raise ConfigError(
            f"accounts of group {name!r} must be a mapping of names", file=file, line=raw.line_of("accounts")
        )
    for account_name, settings in accounts.items():
        account_line = accounts.line_of(account_name) if isinstance(accounts, LocDict) else line
        _add_account(inv, str(account_name), settings, file, account_line, chain)
    children = raw.get("children") or {}
    if not isinstance(children, dict):
        raise ConfigError(
            f"children of group {name!r} must be a mapping of groups", file=file, line=raw.line_of("children")
        )
    for child, child_raw in children.items():
        child_line = children.line_of(child) if isinstance(children, LocDict) else line
        _walk_group(inv, str(child), child_raw, file, child_line, chain, depth + 1)


def _add_account(inv: Inventory, name: str, settings: Any, file: str, line: int | None, groups: list[str]) -> None:
    if settings is None:
        settings = LocDict()
    if not isinstance(settings, dict):
        raise ConfigError(f"account {name!r} must be a mapping of settings", file=file, line=line)
    for key in settings:
        if not isinstance(key, str) or not key.isidentifier():
            raise ConfigError(
                f"account {name!r}: {key!r} is not a valid setting or variable name", file=file, line=line
            )
    _check_settings(name, settings, file, line)
    existing = inv.accounts.get(name)
    if existing is None:
        existing = inv.accounts[name] = InventoryAccount(name, {}, file, line)
    existing.settings.update(plain(settings))
    existing.key_lines.update(
        {str(k): settings.line_of(k) if isinstance(settings, LocDict) else line for k in settings}
    )
    for group in groups:
        if group not in existing.groups:
            existing.groups.append(group)
        if name not in inv.groups.setdefault(group, []):
            inv.groups[group].append(name)


def _check_settings(name: str, settings: dict[str, Any], file: str, line: int | None) -> None:
    lines = {k: settings.line_of(k) for k in settings} if isinstance(settings, LocDict) else {}
    normalized = check_connection(name, settings, file, line, lines)
    if "account_id" in normalized:
        settings["account_id"] = normalized["account_id"]


def check_connection(
    name: str,
    settings: dict[str, Any],
    file: str,
    line: int | None,
    lines: dict[str, int | None] | None = None,
) -> dict[str, Any]:
    """Check an account's connection settings (templates are let through, to be checked once rendered).

    Returns the settings with an integer account_id written as its 12 digits. Bad settings are a
    ConfigError naming the file and the setting's line (from `lines`, else `line`).
    """
    from remediator.templating import is_template

    def at(key: str) -> int | None:
        return (lines or {}).get(key) or line

    checked = dict(settings)
    for key in CONNECTION_KEYS:
        value = settings.get(key)
        if value is None or is_template(value):
            continue
        if key == "account_id":
            if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
                value = f"{value:012d}"
                checked[key] = value
            if not isinstance(value, str) or not _ACCOUNT_ID.fullmatch(value):
                raise ConfigError(
                    f"account {name!r}: account_id must be 12 digits, got {short(value)}", file=file, line=at(key)
                )
        elif not isinstance(value, str):
            raise ConfigError(f"account {name!r}: {key} must be a string", file=file, line=at(key))
        elif key == "role_arn" and not _ROLE_ARN.fullmatch(value):
            raise ConfigError(
                f"account {name!r}: role_arn {short(value)} is not an IAM role ARN", file=file, line=at(key)
            )
        elif key == "region" and not _REGION.fullmatch(value):
            raise ConfigError(
                f"account {name!r}: region {short(value)} is not an AWS region name", file=file, line=at(key)
            )
        elif key == "endpoint_url" and value != "embedded" and (problem := _endpoint_problem(value)) is not None:
            raise ConfigError(
                f"account {name!r}: endpoint_url must be an http(s) URL or 'embedded', got {short(value)}{problem}",
                file=file,
                line=at(key),
            )
        elif key == "session_name" and not _SESSION_NAME.fullmatch(value):
            raise ConfigError(
                f"account {name!r}: session_name {short(value)} must be 2–64 letters, digits or +=,.@_-",
                file=file,
                line=at(key),
            )
        elif key == "external_id" and not _EXTERNAL_ID.fullmatch(value):
            # never echo the value: an external id is a shared secret
            raise ConfigError(
                f"account {name!r}: external_id must be 2–1224 letters, digits or +=,.@:/_-", file=file, line=at(key)
            )
    if settings.get("external_id") and not settings.get("role_arn"):
        raise ConfigError(f"account {name!r}: external_id needs role_arn", file=file, line=at("external_id"))
    return checked


def _endpoint_problem(url: str) -> str | None:
    """None for a URL botocore can use; else what is wrong with it (after ': '), or ''.

    The pattern alone let through what only the first call found out: a port out of range, a port
    that is not a number, a bracketed address left open, no host.
    """
    if not _ENDPOINT_URL.fullmatch(url):
        return ""
    if any(not 0x21 <= ord(c) <= 0x7E for c in url):
        return ": only printable ASCII characters"
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port
    except ValueError as exc:
        return f": {str(exc)[:1].lower()}{str(exc)[1:]}"
    if not parts.hostname:
        return ": no host"
    if port == 0:
        return ": port 0"
    return None
