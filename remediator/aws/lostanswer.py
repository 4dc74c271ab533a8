"""How a write settles an attempt whose answer was lost (a 5xx, or a connection dropped after the request
went out): whether the write is already in place, read back from AWS (see `retry.LostAnswer`).

A create answered EntityAlreadyExists on its repeat is done only when the entity is the one asked for
(path, documents by meaning, settings, tags); a delete answered NoSuchEntity is done; CreatePolicyVersion
with SetAsDefault reads the default version before it repeats; a write that a repeat would duplicate and
that cannot be read back as ours fails at once (UNREPEATABLE).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from remediator import policydoc
from remediator.aws import retry
from remediator.aws.retry import LostAnswer
from remediator.errors import AwsError

if TYPE_CHECKING:
    from remediator.aws.session import Client

GONE_CODES = frozenset({"NoSuchEntity", "TrailNotFoundException"})
# Writes that a repeat would duplicate and that cannot be read back as ours: a lost answer fails them at once.
UNREPEATABLE = frozenset(
    {
        "CreateAccessKey",
        "CreateLoginProfile",
        "CreatePolicyVersion",  # without SetAsDefault (with it, the default version tells)
        "CreateServiceSpecificCredential",
        "CreateVirtualMFADevice",
        "UploadSSHPublicKey",
        "UploadServerCertificate",
        "UploadSigningCertificate",
    }
)


def lost_answer(client: Client, api_name: str, params: dict[str, Any]) -> LostAnswer:
    """How one write settles an attempt whose answer was lost (see `retry.LostAnswer`)."""
    created = _CREATED.get(api_name)
    if created is not None:
        codes = frozenset({"TrailAlreadyExistsException" if api_name == "CreateTrail" else "EntityAlreadyExists"})
        return LostAnswer(probe=lambda: created(client, params), found_codes=codes)
    if api_name == "CreatePolicyVersion" and params.get("SetAsDefault"):
        return LostAnswer(probe=lambda: _default_version_is(client, params), probe_first=True)
    if api_name == "CreateBucket":  # us-east-1 answers 200 to its owner; other regions BucketAlreadyOwnedByYou
        return LostAnswer(probe=dict, found_codes=frozenset({"BucketAlreadyOwnedByYou"}))
    if api_name.startswith(("Delete", "Detach", "Remove")) or api_name == "DeactivateMFADevice":
        return LostAnswer(probe=dict, found_codes=GONE_CODES)  # gone is what the write wanted
    if api_name in UNREPEATABLE:
        return LostAnswer(blind=True)
    return retry.REPEATABLE


def _read(client: Client, operation: str, **params: Any) -> dict[str, Any] | None:
    """A read of an entity AWS just said exists (it may not be visible everywhere yet); None if it is not."""
    try:
        return client.call_propagating(operation, retry.NOT_YET_VISIBLE, **params)
    except AwsError as exc:
        if exc.code == "NoSuchEntity":
            return None
        raise


def _same(operation: str, what: str, differences: list[str]) -> None:
    """An entity found after a lost answer is ours only if it is what the create asked for."""
    if differences:
        raise AwsError(
            operation,
            "EntityAlreadyExists",
            f"{what} exists but differs from the one this run asked for ({'; '.join(differences)}): the answer to"
            " the create was lost, and the entity found is not taken for ours; left as it is",
        )


def _differs(label: str, live: Any, wanted: Any) -> list[str]:
    return [] if live == wanted else [f"{label} {live!r}, asked for {wanted!r}"]


def _tags_missing(live: list[dict[str, str]] | None, wanted: list[dict[str, str]] | None) -> list[str]:
    have = {t["Key"]: t["Value"] for t in live or []}
    missing = [t["Key"] for t in wanted or [] if have.get(t["Key"]) != t["Value"]]
    return [f"tags {', '.join(missing)} not as asked"] if missing else []


def _document_differs(label: str, live: Any, wanted: Any) -> list[str]:
    try:
        return [] if policydoc.equivalent(live, wanted) else [f"{label} differs"]
    except ValueError:
        return [f"{label} unreadable"]


def _given(params: dict[str, Any], live: dict[str, Any], pairs: dict[str, Any]) -> list[str]:
    """Differences in the optional fields the create named (`pairs`: parameter → the live value)."""
    return [d for param, value in pairs.items() if param in params for d in _differs(param, value, params[param])]


def _role_created(client: Client, params: dict[str, Any]) -> dict[str, Any] | None:
    name = params["RoleName"]
    answer = _read(client, "get_role", RoleName=name)
    if answer is None:
        return None
    role = answer["Role"]
    boundary = (role.get("PermissionsBoundary") or {}).get("PermissionsBoundaryArn")
    found = _differs("path", role.get("Path"), params.get("Path", "/"))
    found += _document_differs("trust policy", role.get("AssumeRolePolicyDocument"), params["AssumeRolePolicyDocument"])
    found += _given(params, role, {"Description": role.get("Description", ""), "PermissionsBoundary": boundary,
                                   "MaxSessionDuration": role.get("MaxSessionDuration")})  # fmt: skip
    found += _tags_missing(role.get("Tags"), params.get("Tags"))
    _same("create_role", f"role {name}", found)
    return {"Role": role}


def _user_created(client: Client, params: dict[str, Any]) -> dict[str, Any] | None:
    name = params["UserName"]
    answer = _read(client, "get_user", UserName=name)
    if answer is None:
        return None
    user = answer["User"]
    boundary = (user.get("PermissionsBoundary") or {}).get("PermissionsBoundaryArn")
    found = _differs("path", user.get("Path"), params.get("Path", "/"))
    found += _given(params, user, {"PermissionsBoundary": boundary})
    found += _tags_missing(user.get("Tags"), params.get("Tags"))
    _same("create_user", f"user {name}", found)
    return {"User": user}


def _group_created(client: Client, params: dict[str, Any]) -> dict[str, Any] | None:
    name = params["GroupName"]
    answer = _read(client, "get_group", GroupName=name)
    if answer is None:
        return None
    group = answer["Group"]
    _same("create_group", f"group {name}", _differs("path", group.get("Path"), params.get("Path", "/")))
    return {"Group": group}


def _instance_profile_created(client: Client, params: dict[str, Any]) -> dict[str, Any] | None:
    name = params["InstanceProfileName"]
    answer = _read(client, "get_instance_profile", InstanceProfileName=name)
    if answer is None:
        return None
    profile = answer["InstanceProfile"]
    path = _differs("path", profile.get("Path"), params.get("Path", "/"))
    _same("create_instance_profile", f"instance profile {name}", path)
    return {"InstanceProfile": profile}


def _policy_created(client: Client, params: dict[str, Any]) -> dict[str, Any] | None:
    name, path = params["PolicyName"], params.get("Path", "/")
    assert client.owner is not None
    identity = client.owner.identity()
    partition = str(identity.get("Arn", "arn:aws")).split(":")[1] or "aws"
    arn = f"arn:{partition}:iam::{identity['Account']}:policy{path}{name}"
    answer = _read(client, "get_policy", PolicyArn=arn)
    if answer is None:
        return None  # not at that path: the existing one is elsewhere, and so not ours
    policy = answer["Policy"]
    version = _read(client, "get_policy_version", PolicyArn=arn, VersionId=policy["DefaultVersionId"])
    document = (version or {}).get("PolicyVersion", {}).get("Document")
    found = _given(params, policy, {"Description": policy.get("Description", "")})
    found += _document_differs("document", document, params["PolicyDocument"])
    found += _tags_missing(policy.get("Tags"), params.get("Tags"))
    _same("create_policy", f"policy {name}", found)
    return {"Policy": policy}


# CreateTrail's parameters and the fields GetTrail answers them with.
TRAIL_FIELDS = {
    "S3BucketName": "S3BucketName",
    "S3KeyPrefix": "S3KeyPrefix",
    "IsMultiRegionTrail": "IsMultiRegionTrail",
    "IncludeGlobalServiceEvents": "IncludeGlobalServiceEvents",
    "EnableLogFileValidation": "LogFileValidationEnabled",
}


def _trail_created(client: Client, params: dict[str, Any]) -> dict[str, Any] | None:
    name = params["Name"]
    try:
        trail = client.call("get_trail", Name=name)["Trail"]
    except AwsError as exc:
        if exc.code == "TrailNotFoundException":
            return None
        raise
    found = _given(params, trail, {param: trail.get(field) for param, field in TRAIL_FIELDS.items()})
    if params.get("KmsKeyId") and not str(trail.get("KmsKeyId") or "").endswith(str(params["KmsKeyId"]).split("/")[-1]):
        found.append("KmsKeyId differs")
    _same("create_trail", f"trail {name}", found)
    return dict(trail)


def _default_version_is(client: Client, params: dict[str, Any]) -> dict[str, Any] | None:
    """CreatePolicyVersion(SetAsDefault) whose answer was lost: in place when the default version now holds the
    document asked for (the plan was made, and checked just before writing, because it did not). A repeat would
    otherwise add a second version with the same document."""
    arn = params["PolicyArn"]
    policy = client.call("get_policy", PolicyArn=arn)["Policy"]
    version = client.call("get_policy_version", PolicyArn=arn, VersionId=policy["DefaultVersionId"])["PolicyVersion"]
    if _document_differs("document", version.get("Document"), params["PolicyDocument"]):
        return None
    return {"PolicyVersion": {k: v for k, v in version.items() if k != "Document"}}


_CREATED: dict[str, Callable[[Client, dict[str, Any]], dict[str, Any] | None]] = {
    "CreateRole": _role_created,
    "CreateUser": _user_created,
    "CreateGroup": _group_created,
    "CreatePolicy": _policy_created,
    "CreateInstanceProfile": _instance_profile_created,
    "CreateTrail": _trail_created,
}
