"""`remediator inventory from-org`: the organisation's ACTIVE accounts as an inventory, against the
emulator's Organizations (moto), pages included."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
import yaml

from remediator.loader.inventory import load_inventory
from tests.conftest import cli, write

MANAGEMENT = "123456789012"  # the emulator's own account: the organisation's management account


@pytest.fixture
def org(aws: str) -> dict[str, str]:
    """Root: the management account, Legacy (closed); Workloads/Prod: two accounts; Workloads/Dev: one;
    Sandbox: one; Empty: no account at all. Returns account name → id."""
    client = boto3.client("organizations", endpoint_url=aws, region_name="us-east-1")
    client.create_organization(FeatureSet="ALL")
    root = client.list_roots()["Roots"][0]["Id"]

    def ou(parent: str, name: str) -> str:
        return client.create_organizational_unit(ParentId=parent, Name=name)["OrganizationalUnit"]["Id"]

    workloads = ou(root, "Workloads")
    places = {"prod": ou(workloads, "Prod"), "dev": ou(workloads, "Dev"), "sandbox": ou(root, "Sandbox"), "root": root}
    ou(root, "Empty")
    ids: dict[str, str] = {}
    for name, where in (("Prod Main (EU)", "prod"), ("prod-us", "prod"), ("Dev", "dev"), ("Sandbox 1", "sandbox"),
                        ("Legacy", "root")):  # fmt: skip
        status = client.create_account(Email=f"{len(ids)}@example.com", AccountName=name)["CreateAccountStatus"]
        ids[name] = status["AccountId"]
        if where != "root":
            client.move_account(AccountId=ids[name], SourceParentId=root, DestinationParentId=places[where])
    client.close_account(AccountId=ids["Legacy"])
    return ids


def from_org(aws: str, *args: str) -> tuple[int, Any, str]:
    result = cli("inventory", "from-org", "--endpoint-url", aws, *args)
    return result.code, yaml.safe_load(result.out) if result.code == 0 else None, result.out + result.err


def test_the_organisation_grouped_by_ou(aws, org, workdir):
    code, inventory, out = from_org(aws)
    assert code == 0, out
    assert out.startswith("# The organisation's ACTIVE accounts under Root, by OU: 5 account(s)")
    top = inventory["all"]
    assert list(top["accounts"]) == ["master"]  # the management account, as moto names it
    assert f"# The management account ({MANAGEMENT}) has no OrganizationAccountAccessRole" in out
    (management,) = top["accounts"].values()
    assert management == {
        "account_id": MANAGEMENT,
        "role_arn": f"arn:aws:iam::{MANAGEMENT}:role/OrganizationAccountAccessRole",
    }
    assert list(top["children"]) == ["sandbox", "workloads"]  # Empty has no account: no group
    workloads = top["children"]["workloads"]
    assert workloads["vars"]["ou_path"] == "Workloads" and "accounts" not in workloads
    prod = workloads["children"]["workloads_prod"]
    assert prod["vars"]["ou_path"] == "Workloads/Prod"
    assert prod["accounts"] == {
        "prod-main-eu": {
            "account_id": org["Prod Main (EU)"],
            "role_arn": f"arn:aws:iam::{org['Prod Main (EU)']}:role/OrganizationAccountAccessRole",
        },
        "prod-us": {
            "account_id": org["prod-us"],
            "role_arn": f"arn:aws:iam::{org['prod-us']}:role/OrganizationAccountAccessRole",
        },
    }
    assert list(workloads["children"]["workloads_dev"]["accounts"]) == ["dev"]
    assert org["Legacy"] not in out  # closed (SUSPENDED): left out

    # It is an inventory remediator reads, and its groups select by OU.
    path = write(workdir, "org.yml", out)
    loaded = load_inventory(path)
    assert sorted(loaded.select("workloads")) == ["dev", "prod-main-eu", "prod-us"]
    assert loaded.select("workloads_prod") == ["prod-main-eu", "prod-us"]
    assert len(loaded.accounts) == 5


def test_one_ou_and_another_role(aws, org):
    code, inventory, out = from_org(aws, "--ou", "Workloads/Prod", "--role-name", "remediator")
    assert code == 0, out
    (group,) = inventory["all"]["children"].values()
    assert {a["role_arn"] for a in group["accounts"].values()} == {
        f"arn:aws:iam::{org['Prod Main (EU)']}:role/remediator",
        f"arn:aws:iam::{org['prod-us']}:role/remediator",
    }
    code, inventory, out = from_org(aws, "--ou", "Root/Workloads")  # a leading Root/ is allowed
    assert code == 0 and sorted(inventory["all"]["children"]["workloads"]["children"]) == [
        "workloads_dev",
        "workloads_prod",
    ]


def test_unknown_ou_and_bad_role_name_are_errors(aws, org):
    code, _, out = from_org(aws, "--ou", "Workloads/Staging")
    assert code == 1 and "--ou 'Workloads/Staging': no OU at that path" in out and "Workloads/Prod" in out
    code, _, out = from_org(aws, "--ou", "Empty")
    assert code == 1 and "no ACTIVE account in Empty" in out
    code, _, out = from_org(aws, "--role-name", "not a role")
    assert code == 1 and "is not an IAM role name" in out


class Paged:
    """Organizations lists served a page at a time (NextToken), as AWS does for long lists; the
    emulator answers in one page."""

    def __init__(self, operation: str, key: str) -> None:
        self.operation, self.key = operation, key
        self.tokens: list[str | None] = []

    def __call__(self, client: Any) -> None:
        client.meta.events.register(f"before-parameter-build.organizations.{self.operation}", self._before)
        client.meta.events.register(f"after-call.organizations.{self.operation}", self._after)

    def _before(self, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context["page"] = params.pop("NextToken", None)
        self.tokens.append(context["page"])

    def _after(self, parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        items = parsed.get(self.key, [])
        start = int(context.get("page") or 0)
        parsed[self.key] = items[start : start + 1]
        if start + 1 < len(items):
            parsed["NextToken"] = str(start + 1)
        else:
            parsed.pop("NextToken", None)


def test_every_page_is_read(aws, org, client_hooks):
    accounts = Paged("ListAccountsForParent", "Accounts")
    units = Paged("ListOrganizationalUnitsForParent", "OrganizationalUnits")
    client_hooks += [accounts, units]
    code, inventory, out = from_org(aws)
    assert code == 0, out
    assert "5 account(s)" in out and "1" in accounts.tokens and "1" in units.tokens
    assert sorted(inventory["all"]["children"]["workloads"]["children"]["workloads_prod"]["accounts"]) == [
        "prod-main-eu",
        "prod-us",
    ]
