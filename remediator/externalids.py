"""External ids come back from the inventory, never from a plan file or a journal.

An external id is a secret the account's owner shares with whoever may assume its role (the confused
deputy defence), so plan files and journals keep only a reference to the inventory account that holds it
(`Account.connection`). `apply` and `rollback` take the inventory again (`-i`) to put it back, and only
into an account that the inventory describes the same way (same account id and role): an edited plan
cannot borrow another account's external id.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable

from remediator.errors import ConfigError
from remediator.model import Account


def needing(accounts: Iterable[Account]) -> list[Account]:
    """The accounts whose role is assumed with an external id that the file does not hold."""
    return [a for a in accounts if a.external_id_from and not a.external_id]


def resolver(
    accounts: Iterable[Account], inventory_accounts: Callable[[], list[Account]] | None, source: str
) -> Callable[[Account], Account]:
    """A function giving each account of a plan or journal (`source`, for messages) its external id from
    the inventory's accounts, all checked now (before any AWS call). `inventory_accounts` loads and renders
    the inventory (None: no `-i` was given, an error if any account needs one)."""
    wanted = needing(accounts)
    if not wanted:
        return lambda account: account
    if inventory_accounts is None:
        names = ", ".join(sorted({a.name for a in wanted}))
        raise ConfigError(
            f"account(s) {names} assume their role with an external id, which {source} does not keep: give the"
            " inventory that holds it with -i INVENTORY",
            file=source,
        )
    by_name = {a.name: a for a in inventory_accounts()}
    found: dict[tuple[str, str | None, str | None], str] = {}
    for account in wanted:
        holder = by_name.get(account.external_id_from or "")
        if holder is None or not holder.external_id:
            raise ConfigError(
                f"account {account.name!r}: the inventory has no account {account.external_id_from!r} with an"
                " external_id",
                file=source,
            )
        if (holder.account_id, holder.role_arn) != (account.account_id, account.role_arn):
            raise ConfigError(
                f"account {account.name!r}: the inventory's account {holder.name!r} is"
                f" {holder.account_id or 'without account_id'} with role {holder.role_arn}, not"
                f" {account.account_id or 'without account_id'} with role {account.role_arn} as {source} says;"
                " its external id is not used",
                file=source,
            )
        found[_key(account)] = holder.external_id

    def resolve(account: Account) -> Account:
        secret = found.get(_key(account)) if account.external_id_from and not account.external_id else None
        return dataclasses.replace(account, external_id=secret) if secret else account

    return resolve


def _key(account: Account) -> tuple[str, str | None, str | None]:
    return (account.external_id_from or "", account.account_id, account.role_arn)
