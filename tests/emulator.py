"""What tests do to the emulator that the AWS API cannot: backdate entities, freeze last-use dates.

One place for these, so every test ages users, keys and roles the same way. They act on moto's
in-process backend (the emulator runs in the test process).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

ACCOUNT = "123456789012"


def backend() -> Any:
    from moto.iam.models import iam_backends

    return iam_backends[ACCOUNT]["global"]


def days_ago(n: int) -> datetime:
    return datetime.now(UTC) - timedelta(days=n)


def age_user(name: str, created: int, signed_in: int | None = None) -> None:
    user = backend().users[name]
    user.create_date = days_ago(created)
    user.password_last_used = None if signed_in is None else days_ago(signed_in)


def age_key(key_id: str, created: int, used: int | None = None, service: str = "s3") -> None:
    """Backdate a key's creation and last use (days ago; None: never used)."""
    from moto.iam.models import AccessKeyLastUsed

    for user in backend().users.values():
        for key in user.access_keys:
            if key.access_key_id == key_id:
                key.create_date = days_ago(created)
                key.last_used = None if used is None else AccessKeyLastUsed(days_ago(used), service, "us-east-1")
                return
    raise AssertionError(f"no key {key_id}")


def age_role(name: str, created: int, used: int | None = None) -> None:
    role = next(r for r in backend().roles.values() if r.name == name)
    role.create_date = days_ago(created)
    role.last_used = None if used is None else days_ago(used)
    if used is not None:
        role.last_used_region = "us-east-1"


def keep_key_dates(monkeypatch: Any) -> None:
    """The emulator marks the signing key as used on every request; AWS's last-used dates lag by hours.
    Keep backdated dates, so a test's signing key can match a rule and only a guard keeps it."""
    import moto.iam.models

    monkeypatch.setattr(moto.iam.models, "mark_account_as_visited", lambda *args, **kwargs: None)


def sign_as(monkeypatch: Any, key: dict[str, str]) -> None:
    """Make the CLI (and any new boto3 session) sign with this access key."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key["AccessKeyId"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", key["SecretAccessKey"])
