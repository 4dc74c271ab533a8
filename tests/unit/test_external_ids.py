"""Plan files and journals never hold an external id: a reference to the inventory, resolved again."""

from __future__ import annotations

import json

import pytest

from remediator.errors import ConfigError
from remediator.externalids import needing, resolver
from remediator.model import Account

ROLE = "arn:aws:iam::111111111111:role/remediator"
SECRET = "s3cr3t-shared-with-the-owner"


def inventory_account(**changes: object) -> Account:
    return Account(**{"name": "prod", "account_id": "111111111111", "role_arn": ROLE, "external_id": SECRET, **changes})


def test_the_connection_keeps_a_reference_and_never_the_value() -> None:
    written = inventory_account().connection()
    assert SECRET not in json.dumps(written)
    assert written["external_id"] == {"inventory_account": "prod"}
    read = Account.from_connection(json.loads(json.dumps(written)))
    assert read.external_id is None and read.external_id_from == "prod"
    assert read.connection() == written  # written again (a rollback's journal) it stays a reference
    assert needing([read]) == [read]


def test_an_older_file_with_the_value_in_clear_still_reads() -> None:
    read = Account.from_connection({"name": "prod", "role_arn": ROLE, "external_id": SECRET})
    assert read.external_id == SECRET and needing([read]) == []


@pytest.mark.parametrize("reference", [{"inventory_account": ""}, {"inventory_account": 3}, {"other": "prod"}])
def test_a_malformed_reference_is_refused(reference: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        Account.from_connection({"name": "prod", "external_id": reference})


def test_the_inventory_gives_the_value_back() -> None:
    read = Account.from_connection(inventory_account().connection())
    resolve = resolver([read], lambda: [inventory_account()], "plan.json")
    assert resolve(read).external_id == SECRET


def test_without_the_inventory_the_error_says_to_give_it() -> None:
    read = Account.from_connection(inventory_account().connection())
    with pytest.raises(ConfigError, match="-i INVENTORY"):
        resolver([read], None, "plan.json")


@pytest.mark.parametrize(
    "holder",
    [
        inventory_account(account_id="222222222222"),  # an edited plan pointing at another account's secret
        inventory_account(role_arn="arn:aws:iam::111111111111:role/other"),
        inventory_account(external_id=None),
        inventory_account(name="dev"),
    ],
)
def test_the_value_goes_only_to_the_account_the_inventory_describes(holder: Account) -> None:
    read = Account.from_connection(inventory_account().connection())
    with pytest.raises(ConfigError):
        resolver([read], lambda: [holder], "plan.json")


def test_accounts_without_an_external_id_need_no_inventory() -> None:
    plain = Account.from_connection(Account("dev", account_id="222222222222").connection())
    resolve = resolver([plain], None, "plan.json")
    assert resolve(plain) is plain
