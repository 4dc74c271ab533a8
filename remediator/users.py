"""Users: the `User` fact, its one reader, and how to delete a user (shared by `iam_users` and `iam_user`).

The reader follows the credential report's rule: the report (up to four hours old) and the shared
GetAccountAuthorizationDetails read give every user (`read_users`); live per-user reads then confirm the
candidates the module picks (`confirm`: ListAccessKeys, GetAccessKeyLastUsed per key, GetUser), and only
users about to be deleted get the dependents' list calls (`read_dependents`). Each step returns a new
`User` (`dataclasses.replace`): facts are frozen.

A plan case gives users in `User`'s JSON form (the AWS-like keys below); `User.from_json` refuses
anything else, at every level:

    UserName, Arn, Path, CreateDate (ISO), Tags {key: value}, Groups [names], InlinePolicies [names],
    ManagedPolicies [ARNs], QuarantinePolicy (the deny-all inline policy is there), Console (has a
    password), MfaActive, PasswordLastUsed (ISO or None),
    Keys [{AccessKeyId (None when only the report was read), Status, CreateDate, LastUsedDate,
           LastUsedService}],
    Live (confirmed with live reads),
    Dependents (None, or {SigningCertificates, SSHPublicKeys, ServiceSpecificCredentials, MFADevices})

Deleting a user takes its dependents first, in the order AWS requires (`delete_user_calls`), so the sweep
and the one-user module delete the same way; both plan it only for a user whose keys were confirmed and
whose dependents were read.

A user's keys are `ReportedKey`s, not `keys.AccessKey`: a key known only from the credential report has
no AccessKeyId (AccessKey's is a str), and AccessKey's JSON form carries LastUsedRegion and LastUsedSource,
which a user's keys do not have.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from remediator import policydoc
from remediator.aws.context import ReadContext
from remediator.aws.reads import authorization_details, login_profile_exists
from remediator.credreport import UserRow, credential_report, rows_by_user
from remediator.facts import Fact, key
from remediator.keys import QUARANTINE_POLICY, QUARANTINE_TAG, delete_key_call, last_used, list_keys
from remediator.model import ApiCall
from remediator.timeutil import iso

DEPENDENT_LISTS = ("SigningCertificates", "SSHPublicKeys", "ServiceSpecificCredentials", "MFADevices")
# What deleting a user can call (`delete_user_calls`).
DELETE_WRITES = (
    "iam:DeleteLoginProfile",
    "iam:DeleteAccessKey",
    "iam:DeleteSigningCertificate",
    "iam:DeleteSSHPublicKey",
    "iam:DeleteServiceSpecificCredential",
    "iam:DeactivateMFADevice",
    "iam:DeleteVirtualMFADevice",
    "iam:RemoveUserFromGroup",
    "iam:DeleteUserPolicy",
    "iam:DetachUserPolicy",
    "iam:DeleteUser",
)


@dataclass(frozen=True)
class ReportedKey(Fact):
    """One of a user's access keys: from the credential report (no id), or from live reads once confirmed."""

    key_id: str | None = field(metadata=key("AccessKeyId"))  # None when only the report was read
    status: str = field(metadata=key("Status"))  # Active | Inactive
    create_date: str | None = field(metadata=key("CreateDate"))  # ISO (the report: last rotated)
    last_used_date: str | None = field(metadata=key("LastUsedDate"))  # ISO, None: never used
    last_used_service: str | None = field(metadata=key("LastUsedService"))

    @property
    def active(self) -> bool:
        return self.status == "Active"


@dataclass(frozen=True)
class Dependents(Fact):
    """What a deletion removes besides the login profile, keys, groups and policies (ids, sorted)."""

    signing_certificates: tuple[str, ...] = field(metadata=key("SigningCertificates"))
    ssh_public_keys: tuple[str, ...] = field(metadata=key("SSHPublicKeys"))
    service_specific_credentials: tuple[str, ...] = field(metadata=key("ServiceSpecificCredentials"))
    mfa_devices: tuple[str, ...] = field(metadata=key("MFADevices"))  # serial numbers (ARNs for virtual ones)


@dataclass(frozen=True)
class User(Fact):
    """One IAM user as the iam_users sweep reads it."""

    name: str = field(metadata=key("UserName"))
    arn: str = field(metadata=key("Arn"))
    path: str = field(metadata=key("Path"))
    create_date: str | None = field(metadata=key("CreateDate"))  # ISO
    tags: dict[str, str] = field(metadata=key("Tags"))
    groups: tuple[str, ...] = field(metadata=key("Groups"))  # names
    inline_policies: tuple[str, ...] = field(metadata=key("InlinePolicies"))  # names
    managed_policies: tuple[str, ...] = field(metadata=key("ManagedPolicies"))  # ARNs
    quarantine_policy: bool = field(metadata=key("QuarantinePolicy"))  # the deny-all inline policy is there
    console: bool = field(metadata=key("Console"))  # has a password
    mfa_active: bool = field(metadata=key("MfaActive"))
    password_last_used: str | None = field(metadata=key("PasswordLastUsed"))  # ISO, None: never
    keys: tuple[ReportedKey, ...] = field(metadata=key("Keys", of=ReportedKey))
    live: bool = field(metadata=key("Live"))  # keys and PasswordLastUsed confirmed with live reads
    dependents: Dependents | None = field(metadata=key("Dependents", of=Dependents))  # None: not read

    @property
    def quarantined_at(self) -> Any:
        """The value of the quarantine tag (the ISO date `disable` set), or None."""
        return (self.tags or {}).get(QUARANTINE_TAG)


# --- the reader -----------------------------------------------------------------------------------------


def from_detail(detail: dict[str, Any], row: UserRow | None) -> User:
    """A user from its UserDetailList entry and its credential report row (None: not in the report)."""
    inline = {p["PolicyName"]: p.get("PolicyDocument") for p in detail.get("UserPolicyList", [])}
    quarantine_doc = inline.get(QUARANTINE_POLICY)
    try:
        quarantined = quarantine_doc is not None and policydoc.denies_everything(quarantine_doc)
    except ValueError:
        quarantined = False
    keys: tuple[ReportedKey, ...] = ()
    if row is not None:
        keys = tuple(
            ReportedKey(
                key_id=None,
                status="Active" if k.active else "Inactive",
                create_date=iso(k.last_rotated),
                last_used_date=iso(k.last_used),
                last_used_service=k.last_used_service,
            )
            for k in row.keys
        )
    return User(
        name=detail["UserName"],
        arn=detail.get("Arn", ""),
        path=detail.get("Path", "/"),
        create_date=iso(detail.get("CreateDate")),
        tags={t["Key"]: t["Value"] for t in detail.get("Tags") or []},
        groups=tuple(sorted(detail.get("GroupList", []))),
        inline_policies=tuple(sorted(inline)),
        managed_policies=tuple(sorted(p["PolicyArn"] for p in detail.get("AttachedManagedPolicies", []))),
        quarantine_policy=quarantined,
        console=bool(row.password_enabled) if row is not None else False,
        mfa_active=bool(row.mfa_active) if row is not None else False,
        password_last_used=iso(row.password_last_used) if row is not None else None,
        keys=keys,
        live=False,
        dependents=None,
    )


def read_users(ctx: ReadContext) -> list[User]:
    """Every user of the account from the credential report and the authorization details (both shared
    reads), sorted by name; none confirmed live yet."""
    rows = rows_by_user(credential_report(ctx))
    details = sorted(authorization_details(ctx)["UserDetailList"], key=lambda d: d["UserName"].casefold())
    return [from_detail(detail, rows.get(detail["UserName"])) for detail in details]


def confirm(ctx: ReadContext, user: User) -> User:
    """The user with the report's (possibly hours-old) activity replaced by live reads."""
    keys = []
    for entry in list_keys(ctx, user.name):
        used = last_used(ctx, entry["AccessKeyId"])
        keys.append(
            ReportedKey(
                key_id=entry["AccessKeyId"],
                status=entry["Status"],
                create_date=entry["CreateDate"],
                last_used_date=used["LastUsedDate"],
                last_used_service=used["ServiceName"],
            )
        )
    # GetUser's PasswordLastUsed is live (the report's may be hours old) and is kept after a password goes.
    live = ctx.client("iam").call("get_user", UserName=user.name).get("User", {})
    return replace(user, keys=tuple(keys), password_last_used=iso(live.get("PasswordLastUsed")), live=True)


def read_console(ctx: ReadContext, user: User) -> User:
    """The user with Console read live (GetLoginProfile)."""
    return replace(user, console=login_profile_exists(ctx, user.name))


def read_dependents(ctx: ReadContext, user: User) -> User:
    """The user with Console read live and the dependents a deletion removes."""
    name = user.name
    iam = ctx.client("iam")
    console = login_profile_exists(ctx, name)

    def collect(operation: str, key: str, field: str) -> tuple[str, ...]:
        return tuple(sorted(item[field] for page in iam.pages(operation, UserName=name) for item in page.get(key, [])))

    dependents = Dependents(
        signing_certificates=collect("list_signing_certificates", "Certificates", "CertificateId"),
        ssh_public_keys=collect("list_ssh_public_keys", "SSHPublicKeys", "SSHPublicKeyId"),
        service_specific_credentials=collect(
            "list_service_specific_credentials", "ServiceSpecificCredentials", "ServiceSpecificCredentialId"
        ),
        mfa_devices=collect("list_mfa_devices", "MFADevices", "SerialNumber"),
    )
    return replace(user, console=console, dependents=dependents)


# --- deletion -------------------------------------------------------------------------------------------


def is_virtual_mfa(serial: str) -> bool:
    return serial.startswith("arn:") and ":mfa/" in serial


def delete_user_calls(user: User) -> tuple[ApiCall, ...]:
    """Delete a user in the order AWS requires (DeleteConflict otherwise): credentials, devices, groups,
    policies, then the user."""
    name = user.name
    deps = user.dependents
    assert deps is not None, "asked only of users whose dependents were read (read_dependents)"
    calls: list[ApiCall] = []
    if user.console:
        calls.append(ApiCall("iam", "delete_login_profile", {"UserName": name}))
    calls += [delete_key_call(name, k.key_id) for k in user.keys]  # type: ignore[arg-type]  # confirmed: ids known
    calls += [
        ApiCall("iam", "delete_signing_certificate", {"UserName": name, "CertificateId": c})
        for c in deps.signing_certificates
    ]
    calls += [
        ApiCall("iam", "delete_ssh_public_key", {"UserName": name, "SSHPublicKeyId": k}) for k in deps.ssh_public_keys
    ]
    calls += [
        ApiCall("iam", "delete_service_specific_credential", {"UserName": name, "ServiceSpecificCredentialId": c})
        for c in deps.service_specific_credentials
    ]
    for serial in deps.mfa_devices:
        calls.append(ApiCall("iam", "deactivate_mfa_device", {"UserName": name, "SerialNumber": serial}))
        if is_virtual_mfa(serial):
            calls.append(ApiCall("iam", "delete_virtual_mfa_device", {"SerialNumber": serial}))
    calls += [ApiCall("iam", "remove_user_from_group", {"GroupName": g, "UserName": name}) for g in sorted(user.groups)]
    calls += [
        ApiCall("iam", "delete_user_policy", {"UserName": name, "PolicyName": p}) for p in sorted(user.inline_policies)
    ]
    calls += [
        ApiCall("iam", "detach_user_policy", {"UserName": name, "PolicyArn": a}) for a in sorted(user.managed_policies)
    ]
    calls.append(ApiCall("iam", "delete_user", {"UserName": name}))
    return tuple(calls)


def plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def dependents_text(user: User) -> str:
    """What a deletion removes besides the user, for its summary: "login profile, 2 access keys, …"."""
    deps = user.dependents
    assert deps is not None, "asked only of users whose dependents were read (read_dependents)"
    parts = []
    if user.console:
        parts.append("login profile")
    for n, word in (
        (len(user.keys), "access key"),
        (len(deps.signing_certificates), "signing certificate"),
        (len(deps.ssh_public_keys), "SSH key"),
        (len(deps.service_specific_credentials), "service credential"),
        (len(deps.mfa_devices), "MFA device"),
        (len(user.groups), "group membership"),
        (len(user.inline_policies) + len(user.managed_policies), "policy"),
    ):
        if n:
            parts.append(plural(n, word).replace("policys", "policies"))
    return ", ".join(parts) or "no dependents"
