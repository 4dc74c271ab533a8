"""`remediator inventory from-org`: the organisation's ACTIVE accounts, as an inventory grouped by OU.

Read from the Organizations API with the current credentials (the management account, or a delegated
administrator): ListRoots, then for each parent ListOrganizationalUnitsForParent and
ListAccountsForParent, every page of each. Suspended and closing accounts are left out. Each OU becomes a
group named after its whole path (`workloads_prod` for Workloads/Prod), nested as the OUs are, so
`--limit workloads` takes everything under Workloads; each account gets its id and the role a run
assumes there (`arn:aws:iam::ID:role/NAME`, OrganizationAccountAccessRole unless --role-name says).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from remediator.errors import ConfigError, RemediatorError

DEFAULT_ROLE_NAME = "OrganizationAccountAccessRole"
_ROLE_NAME = re.compile(r"(?:[\w+=,.@-]+/)*[\w+=,.@-]{1,64}", re.ASCII)


@dataclass
class OrgAccount:
    id: str
    name: str
    arn: str = ""


@dataclass
class OrgUnit:
    id: str
    name: str
    path: tuple[str, ...]  # OU names below the root; () for the root
    accounts: list[OrgAccount] = field(default_factory=list)
    children: list[OrgUnit] = field(default_factory=list)
    management_account: str = ""  # the organisation's management account id (set on the root)

    @property
    def shown_path(self) -> str:
        return "/".join(self.path) or "Root"

    def walk(self) -> list[OrgUnit]:
        units = [self]
        for child in self.children:
            units += child.walk()
        return units


def read_organization(client: Any) -> OrgUnit:
    """The whole organisation, from its root: OUs and their ACTIVE accounts."""
    roots = [root for page in client.pages("list_roots") for root in page.get("Roots", [])]
    if not roots:
        raise RemediatorError("the organisation has no root: are these the management account's credentials?")
    root = OrgUnit(roots[0]["Id"], roots[0].get("Name") or "Root", ())
    organization = client.call("describe_organization").get("Organization", {})
    root.management_account = str(organization.get("MasterAccountId") or "")
    pending = [root]
    while pending:
        unit = pending.pop()
        for page in client.pages("list_accounts_for_parent", ParentId=unit.id):
            for account in page.get("Accounts", []):
                # `State` replaces the deprecated `Status`; either says ACTIVE for a usable account.
                if (account.get("State") or account.get("Status")) == "ACTIVE":
                    name = account.get("Name") or account["Id"]
                    unit.accounts.append(OrgAccount(account["Id"], name, account.get("Arn", "")))
        for page in client.pages("list_organizational_units_for_parent", ParentId=unit.id):
            for ou in page.get("OrganizationalUnits", []):
                child = OrgUnit(ou["Id"], ou.get("Name") or ou["Id"], (*unit.path, ou.get("Name") or ou["Id"]))
                unit.children.append(child)
                pending.append(child)
    for unit in root.walk():
        unit.accounts.sort(key=lambda a: (a.name.lower(), a.id))
        unit.children.sort(key=lambda u: (u.name.lower(), u.id))
    return root


def find_unit(root: OrgUnit, wanted: str) -> OrgUnit:
    """An OU by its id (ou-…), or by its path of names below the root (Workloads/Prod; a leading Root/
    is allowed), case-sensitive as the names are."""
    wanted = wanted.strip()
    units = root.walk()
    if wanted.startswith(("ou-", "r-")):
        for unit in units:
            if unit.id == wanted:
                return unit
        raise ConfigError(f"--ou {wanted!r}: no such OU in the organisation")
    parts = [p for p in wanted.strip("/").split("/") if p]
    if parts and parts[0] in ("Root", root.name) and not any(c.name == parts[0] for c in root.children):
        parts = parts[1:]
    for unit in units:
        if list(unit.path) == parts:
            return unit
    known = ", ".join(u.shown_path for u in units[1:12]) or "none"
    raise ConfigError(f"--ou {wanted!r}: no OU at that path (OUs: {known})")


def _slug(text: str, separator: str) -> str:
    return re.sub(r"[^a-z0-9]+", separator, text.lower()).strip(separator)


def inventory_document(unit: OrgUnit, role_name: str = DEFAULT_ROLE_NAME) -> dict[str, Any]:
    """The inventory for `unit` and every OU below it: a group per OU (named after its path), accounts
    with their id and role_arn."""
    if not _ROLE_NAME.fullmatch(role_name):
        raise ConfigError(f"--role-name {role_name!r} is not an IAM role name")
    groups: dict[str, str] = {}  # group name → OU id, so two paths that slug alike stay apart
    names: dict[str, str] = {}  # account name → account id

    def group_name(ou: OrgUnit) -> str:
        name = _slug("_".join(ou.path), "_") or "ou"
        if groups.get(name, ou.id) != ou.id:
            name = f"{name}_{_slug(ou.id, '_')}"
        groups[name] = ou.id
        return name

    def account_name(account: OrgAccount) -> str:
        name = _slug(account.name, "-") or account.id
        if names.get(name, account.id) != account.id:
            name = f"{name}-{account.id}"
        names[name] = account.id
        return name

    def accounts(ou: OrgUnit) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for account in ou.accounts:
            partition = account.arn.split(":")[1] if account.arn.count(":") >= 2 else "aws"
            out[account_name(account)] = {
                "account_id": account.id,
                "role_arn": f"arn:{partition}:iam::{account.id}:role/{role_name}",
            }
        return out

    def group(ou: OrgUnit) -> dict[str, Any]:
        body: dict[str, Any] = {"vars": {"ou_path": ou.shown_path, "ou_id": ou.id}}
        if ou.accounts:
            body["accounts"] = accounts(ou)
        children = {group_name(child): group(child) for child in ou.children if _has_accounts(child)}
        if children:
            body["children"] = children
        return body

    top: dict[str, Any] = {}
    if not unit.path:  # the root: its own accounts go straight under `all`
        if unit.accounts:
            top["accounts"] = accounts(unit)
        children = {group_name(child): group(child) for child in unit.children if _has_accounts(child)}
        if children:
            top["children"] = children
    elif _has_accounts(unit):
        top["children"] = {group_name(unit): group(unit)}
    return {"all": top}


def _has_accounts(unit: OrgUnit) -> bool:
    return any(u.accounts for u in unit.walk())


def render_inventory(unit: OrgUnit, role_name: str = DEFAULT_ROLE_NAME, management_account: str = "") -> str:
    import yaml

    document = inventory_document(unit, role_name)
    accounts = [a for u in unit.walk() for a in u.accounts]
    if not accounts:
        raise RemediatorError(f"no ACTIVE account in {unit.shown_path}")
    today = datetime.now(UTC).date().isoformat()
    header = (
        f"# The organisation's ACTIVE accounts under {unit.shown_path}, by OU: {len(accounts)} account(s)\n"
        f"# (remediator inventory from-org, {today}). Each is reached by assuming {role_name} in it.\n"
    )
    management = next((a for a in accounts if a.id == management_account), None)
    if management is not None and role_name == DEFAULT_ROLE_NAME:
        header += (
            f"# The management account ({management.id}) has no {role_name} unless one was made there:"
            " create it, or reach that account another way.\n"
        )
    return header + yaml.safe_dump(document, sort_keys=False, default_flow_style=False, allow_unicode=True)
