"""What tests do to the emulator that the AWS API cannot: backdate entities, freeze last-use dates, pin the clock.

One place for these, so every test ages users, keys and roles the same way. They act on moto's
in-process backend (the emulator runs in the test process). Also the roles several test files build
through the API (`make_role`, `populated_role`), and the users' data and reads (`PASSWORD`, `SSH_KEY`,
`self_signed_certificate`, `has_login_profile`, `user_names`), so no test file imports another.

Dates: `days_ago(n)` counts back from `now()`, the real moment unless `pin_clock` fixed it (the
`pinned_clock` fixture in tests/conftest.py does). Pinned, the product (which reads the time through
`remediator.timeutil.now()`) and the test count from the same instant, so a test that backdates an
entity by N days and asserts "N days ago" cannot straddle midnight UTC.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3

ACCOUNT = "123456789012"
# The instant `pinned_clock` fixes: noon, far from a date change. It is before the real date, so what the
# emulator stamps with its own clock (entities a test does not backdate) looks newer than it, never stale.
PINNED = datetime(2026, 6, 1, 12, 0, 0, tzinfo=UTC)

TRUST = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}],
}
PASSWORD = "Sup3r-Secret-Passw0rd!"
SSH_KEY = (
    "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC3FaUtr0r1z2s8wGj7Yd8k4rVmJ6nb8C5ZQm3Xu1o8b0lQ9P2K8s0v7YxQhZ7a3ZyW"
    "x4hM0ZRk0oTqF0vY3m7Q6aXv8z5oKkUuV0Q5dBd8V5+zR8ABsr0x4vKz1ZQv2Z8S0L8jQy3xQH9yZ0q3XyA5K2h7S1nQ1v7a9O3e old"
)
DENY = {"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "iam:*", "Resource": "*"}]}

_pinned: datetime | None = None


def backend() -> Any:
    from moto.iam.models import iam_backends

    return iam_backends[ACCOUNT]["global"]


# --- the clock ---------------------------------------------------------------------------------------


def now() -> datetime:
    """The tests' "now": the pinned instant while `pin_clock` is in force, else the real moment (UTC)."""
    return _pinned or datetime.now(UTC)


def days_ago(n: int) -> datetime:
    return now() - timedelta(days=n)


def today() -> str:
    """The date remediator writes on what it changes today (tags), as ISO text."""
    return now().date().isoformat()


def pin_clock(monkeypatch: Any, instant: datetime = PINNED) -> datetime:
    """Fix the product's clock (`remediator.timeutil.now`) and this module's `now()` to `instant`, until the
    test ends (monkeypatch undoes both). The emulator's own clock is not pinned: what it stamps itself
    (entities not backdated here, the credential report) keeps the real time."""
    from remediator import timeutil

    monkeypatch.setattr(timeutil, "now", lambda: instant)
    monkeypatch.setattr(sys.modules[__name__], "_pinned", instant)
    return instant


# --- backdating on moto's in-process backend ------------------------------------------------------------


def age_user(name: str, created: int, signed_in: int | None = None) -> None:
    user = backend().users[name]
    user.create_date = days_ago(created)
    user.password_last_used = None if signed_in is None else days_ago(signed_in)


def sign_in(name: str, days: int) -> None:
    """Set a user's last console sign-in to `days` ago, leaving its creation date alone."""
    backend().users[name].password_last_used = days_ago(days)


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


# --- roles, through the API ----------------------------------------------------------------------------


def make_role(iam: Any, name: str, **extra: Any) -> None:
    """A role trusted by EC2; `extra` goes to CreateRole (MaxSessionDuration, Tags…)."""
    iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(TRUST), **extra)


def populated_role(iam: Any, name: str, policy_arn: str) -> None:
    """A role with everything AWS wants removed before DeleteRole: a permissions boundary, an attached and
    an inline policy, an instance profile."""
    make_role(iam, name, PermissionsBoundary=policy_arn)
    iam.attach_role_policy(RoleName=name, PolicyArn=policy_arn)
    iam.put_role_policy(RoleName=name, PolicyName="inline", PolicyDocument=json.dumps(DENY))
    iam.create_instance_profile(InstanceProfileName=f"{name}-profile")
    iam.add_role_to_instance_profile(InstanceProfileName=f"{name}-profile", RoleName=name)


def role_names(iam: Any) -> list[str]:
    return sorted(r["RoleName"] for r in iam.list_roles()["Roles"])


# --- users, through the API ----------------------------------------------------------------------------


def user_names(iam: Any) -> list[str]:
    return sorted(u["UserName"] for u in iam.list_users()["Users"])


def has_login_profile(iam: Any, name: str) -> bool:
    try:
        iam.get_login_profile(UserName=name)
    except iam.exceptions.NoSuchEntityException:
        return False
    return True


def self_signed_certificate(name: str = "old") -> str:
    """A PEM certificate for UploadSigningCertificate, valid now by the real clock (never a pinned one)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(datetime.now(UTC) - timedelta(days=1))
        .not_valid_after(datetime.now(UTC) + timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def iam_in(url: str, account_id: str) -> Any:
    """An IAM client of another emulated account (moto answers for the account whose role was assumed)."""
    creds = boto3.client("sts", endpoint_url=url, region_name="us-east-1").assume_role(
        RoleArn=f"arn:aws:iam::{account_id}:role/setup", RoleSessionName="setup"
    )["Credentials"]
    return boto3.client(
        "iam",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
    )
