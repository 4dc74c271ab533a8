"""Customer managed policies: the `ManagedPolicy` fact, the one reader of what `iam_policy` needs, and the
document helpers managed and inline policies share.

Everything comes from the shared GetAccountAuthorizationDetails read (its `Policies` list and the entity
lists' `AttachedManagedPolicies`). A plan case gives `current` in `PolicyFacts`' JSON form:

    {"arn": ..., "policy": {"Arn", "Path", "Description", "DefaultVersionId", "Versions": [...]} or null,
     "attached": {"users": [...], "groups": [...], "roles": [...]},     entities the policy is attached to
     "entities": {"users": [...], "groups": [...], "roles": [...]}}     of those attach_to names, the ones
                                                                         that exist (or an earlier task creates)

`PolicyFacts.from_json` refuses unknown or missing keys at every level.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from remediator import policydoc
from remediator.aws.context import ReadContext
from remediator.aws.reads import authorization_details
from remediator.errors import ArgError
from remediator.facts import Fact, key
from remediator.timeutil import iso

# attach_to key → (singular, the entity's list in authorization details, the entity's name key)
ENTITY_LISTS: dict[str, tuple[str, str, str]] = {
    "users": ("user", "UserDetailList", "UserName"),
    "groups": ("group", "GroupDetailList", "GroupName"),
    "roles": ("role", "RoleDetailList", "RoleName"),
}


def document_text(document: Any) -> str:
    """The JSON AWS is sent: compact, in the order the user wrote it."""
    return json.dumps(policydoc.parse(document), separators=(",", ":"))


def check_document(field: str, document: Any) -> None:
    """ArgError unless document is a JSON object (or JSON text of one) with a Statement."""
    try:
        parsed = policydoc.parse(document)
    except (ValueError, TypeError) as exc:
        raise ArgError(field, f"not a policy document: {exc}")
    if "Statement" not in parsed:
        raise ArgError(field, "a policy document needs a Statement")


def version_number(version_id: str) -> int:
    digits = version_id.lstrip("vV")
    return int(digits) if digits.isascii() and digits.isdigit() else 0  # "v²".isdigit() is True; int() refuses it


@dataclass(frozen=True)
class PolicyVersion(Fact):
    """One version of a managed policy."""

    version_id: str = field(metadata=key("VersionId"))
    is_default: bool = field(metadata=key("IsDefaultVersion"))
    create_date: str | None = field(metadata=key("CreateDate"))  # ISO
    document: dict[str, Any] | None = field(metadata=key("Document"))  # parsed

    @property
    def age(self) -> tuple[str, int]:
        """Oldest first: by creation date, then by version number (AWS numbers need not follow dates)."""
        return (str(self.create_date or ""), version_number(self.version_id))


@dataclass(frozen=True)
class ManagedPolicy(Fact):
    """One customer managed policy as remediator reads it."""

    arn: str = field(metadata=key("Arn"))
    path: str = field(metadata=key("Path"))
    description: str = field(metadata=key("Description"))  # "" when none
    default_version_id: str | None = field(metadata=key("DefaultVersionId"))
    versions: tuple[PolicyVersion, ...] = field(metadata=key("Versions", of=PolicyVersion))  # as AWS lists them

    @property
    def default_version(self) -> PolicyVersion | None:
        return next((v for v in self.versions if v.is_default), None)

    def oldest_non_default(self) -> PolicyVersion | None:
        """The version AWS's five-version limit makes us delete: the oldest one that is not the default."""
        candidates = [v for v in self.versions if not v.is_default]
        return min(candidates, key=lambda v: v.age) if candidates else None

    def non_default_version_ids(self) -> list[str]:
        """Non-default version ids, oldest first."""
        return [v.version_id for v in sorted(self.versions, key=lambda v: v.age) if not v.is_default]

    def state(self) -> dict[str, Any]:
        """The live fields a change about the policy itself is checked against before it is applied."""
        default = self.default_version
        return {
            **self.image("Arn", "Path", "Description", "DefaultVersionId"),
            "Document": default.value("Document") if default else None,
            "VersionIds": sorted((v.version_id for v in self.versions), key=version_number),
        }

    def state_image(self, *json_keys: str) -> dict[str, Any]:
        """A before-image of some of `state()`'s fields. An unknown name is a bug."""
        state = self.state()
        unknown = [k for k in json_keys if k not in state]
        if unknown:
            raise KeyError(f"{type(self).__name__} has no state field {unknown}")
        return {k: state[k] for k in json_keys}


@dataclass(frozen=True)
class EntityNames(Fact):
    """Names of users, groups and roles (sorted), under the attach_to keys."""

    users: tuple[str, ...] = field(metadata=key("users"))
    groups: tuple[str, ...] = field(metadata=key("groups"))
    roles: tuple[str, ...] = field(metadata=key("roles"))

    @classmethod
    def none(cls) -> EntityNames:
        return cls(users=(), groups=(), roles=())

    def of(self, kind: str) -> tuple[str, ...]:
        """The names of one kind (an attach_to key); none for a kind that is not one."""
        return getattr(self, kind) if kind in ENTITY_LISTS else ()


@dataclass(frozen=True)
class Attachment(Fact):
    """The policy attached to one entity: the live state (and before/after-image) of an attachment."""

    policy_arn: str = field(metadata=key("PolicyArn"))
    kind: str = field(metadata=key("Kind"))  # an attach_to key
    entity: str = field(metadata=key("Entity"))


@dataclass(frozen=True)
class PolicyFacts(Fact):
    """What `iam_policy` reads about one policy name: the policy (None when it does not exist), its ARN
    (the one it would be created with when it does not), and the entities it is or may be attached to."""

    arn: str = field(metadata=key("arn"))  # "" for a missing policy that state: absent need not name
    policy: ManagedPolicy | None = field(metadata=key("policy", of=ManagedPolicy))
    attached: EntityNames = field(metadata=key("attached", of=EntityNames))
    entities: EntityNames = field(metadata=key("entities", of=EntityNames))

    def attachment(self, kind: str, entity: str) -> Attachment | None:
        """The live attachment to one entity, None when the policy is not attached to it."""
        return Attachment(self.arn, kind, entity) if entity in self.attached.of(kind) else None


def policy_from_detail(detail: dict[str, Any]) -> ManagedPolicy:
    """One policy from its entry in the authorization details' `Policies` list."""
    return ManagedPolicy(
        arn=detail["Arn"],
        path=detail.get("Path", "/"),
        description=detail.get("Description", ""),
        default_version_id=detail.get("DefaultVersionId"),
        versions=tuple(
            PolicyVersion(
                version_id=v["VersionId"],
                is_default=bool(v.get("IsDefaultVersion")),
                create_date=iso(v.get("CreateDate")),
                document=policydoc.parse(v["Document"]) if v.get("Document") is not None else None,
            )
            for v in detail.get("PolicyVersionList", [])
        ),
    )


def read_policy(
    ctx: ReadContext,
    name: str,
    *,
    path: str = "/",
    absent: bool = False,
    attach_to: dict[str, list[str] | None] | None = None,
) -> PolicyFacts:
    """The customer managed policy called `name` (names are unique in an account, whatever the path), the
    entities it is attached to, and which of the `attach_to` names exist or an earlier task creates.

    A missing policy gets the ARN it would be created with (at `path`), or "" when `absent` (nothing to
    delete, nothing to name)."""
    details = authorization_details(ctx)
    found = next((p for p in details["Policies"] if p.get("PolicyName") == name), None)
    policy = None if found is None else policy_from_detail(found)
    if policy is not None:
        arn = policy.arn
    elif absent:
        arn = ""
    else:
        identity = ctx.session.identity()
        partition = str(identity.get("Arn", "arn:aws:")).split(":")[1] or "aws"
        arn = f"arn:{partition}:iam::{identity['Account']}:policy{path}{name}"
    named = attach_to or {}
    attached: dict[str, tuple[str, ...]] = {}
    entities: dict[str, tuple[str, ...]] = {}
    for kind, (singular, list_key, name_key) in ENTITY_LISTS.items():
        live = details[list_key]
        attached[kind] = tuple(
            sorted(
                e[name_key]
                for e in live
                if policy is not None and any(a.get("PolicyArn") == arn for a in e.get("AttachedManagedPolicies", []))
            )
        )
        wanted = set(named.get(kind) or [])
        planned = {n for n in wanted if ctx.will_exist(singular, n)}
        entities[kind] = tuple(sorted({e[name_key] for e in live if e[name_key] in wanted} | planned))
    return PolicyFacts(arn=arn, policy=policy, attached=EntityNames(**attached), entities=EntityNames(**entities))
