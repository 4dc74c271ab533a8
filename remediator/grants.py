"""Granted actions: what the identity policies of a user or role allow, action by action. Pure.

`iam_unused_permissions` compares what a principal holds with what it used; this is the "holds" half.
Per user and role, the actions its identity policies allow (inline, attached managed, and for a user those
of its groups), judged as IAM judges actions, leaving resources and conditions aside:

- wildcards are expanded against the action catalogue (`events.actions.expand`), so each granted action
  can be judged on its own; an action the catalogue does not know is kept as written (callers report it
  as unknown, never as unused);
- `NotAction` in an Allow grants the complement: every catalogue action the list does not match;
- an Allow with a `Condition` still grants its actions (a condition narrows, it does not remove);
- an explicit Deny removes an action only when nothing can make it not apply: no `Condition`, and every
  resource (`Resource` holds `"*"`, no `NotResource`). A Deny on some resources leaves the action held on
  the others, and a conditional one may not apply at all;
- a permissions boundary, when one is set, keeps only what the boundary itself allows (its Allows, minus
  its own unconditional denies, the same way).

A managed policy whose document is not at hand (not in the documents given) makes the grant incomplete:
`Grant.missing` names it, and callers judge nothing unused for that principal.

The input is `Entity` facts: one reader (`entities`) builds them from GetAccountAuthorizationDetails, and
plan cases give their JSON form.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from remediator import policydoc
from remediator.events import actions
from remediator.facts import Fact, key
from remediator.roles import is_aws_managed_path
from remediator.timeutil import iso

AWS_MANAGED_POLICY = re.compile(r"^arn:aws[a-z-]*:iam::aws:policy/")

# kind → (list key of the authorization details, name key, inline list key)
_LISTS = {
    "user": ("UserDetailList", "UserName", "UserPolicyList"),
    "role": ("RoleDetailList", "RoleName", "RolePolicyList"),
    "group": ("GroupDetailList", "GroupName", "GroupPolicyList"),
}


@dataclass(frozen=True)
class Entity(Fact):
    """A user, role or group with the policies attached to it (groups have no groups or boundary)."""

    kind: str = field(metadata=key("Kind"))  # user | role | group
    name: str = field(metadata=key("Name"))
    arn: str = field(metadata=key("Arn"))
    path: str = field(default="/", metadata=key("Path"))
    create_date: str | None = field(default=None, metadata=key("CreateDate"))  # ISO
    inline_policies: dict[str, Any] = field(default_factory=dict, metadata=key("InlinePolicies"))  # name → doc
    managed_policies: tuple[str, ...] = field(default=(), metadata=key("ManagedPolicies"))  # ARNs
    groups: tuple[str, ...] = field(default=(), metadata=key("Groups"))  # a user's group names
    permissions_boundary: str = field(default="", metadata=key("PermissionsBoundary"))  # ARN, "" for none

    @property
    def aws_managed(self) -> bool:
        """A service-linked or IAM Identity Center role: AWS's own, never judged."""
        return self.kind == "role" and is_aws_managed_path(self.path)


@dataclass(frozen=True)
class Grant:
    """What one principal holds: catalogue actions in the catalogue's spelling, others as written."""

    actions: frozenset[str]
    missing: tuple[str, ...] = ()  # policies (ARNs, or inline names) that could not be read: incomplete


def is_aws_managed_policy(arn: str) -> bool:
    return bool(AWS_MANAGED_POLICY.match(arn))


# --- the reader: authorization details → facts --------------------------------------------------------


def entities(details: Mapping[str, Any]) -> tuple[list[Entity], list[Entity]]:
    """(users and roles, groups) of GetAccountAuthorizationDetails, as facts, in the details' order."""
    principals: list[Entity] = []
    groups: list[Entity] = []
    for kind, (list_key, name_key, inline_key) in _LISTS.items():
        for item in details.get(list_key, []):
            boundary = (item.get("PermissionsBoundary") or {}).get("PermissionsBoundaryArn", "")
            entity = Entity(
                kind=kind,
                name=item[name_key],
                arn=item.get("Arn", ""),
                path=item.get("Path") or "/",
                create_date=iso(item.get("CreateDate")),
                inline_policies={p["PolicyName"]: p.get("PolicyDocument") for p in item.get(inline_key, [])},
                managed_policies=tuple(p["PolicyArn"] for p in item.get("AttachedManagedPolicies", [])),
                groups=tuple(item.get("GroupList", [])) if kind == "user" else (),
                permissions_boundary="" if kind == "group" else boundary,
            )
            (groups if kind == "group" else principals).append(entity)
    return principals, groups


def customer_documents(details: Mapping[str, Any]) -> dict[str, Any]:
    """Customer managed policy ARN → its default version's document, from the authorization details."""
    found: dict[str, Any] = {}
    for policy in details.get("Policies", []):
        for version in policy.get("PolicyVersionList", []):
            if version.get("IsDefaultVersion"):
                found[policy["Arn"]] = version.get("Document")
    return found


def policies_of(entity: Entity, groups: Mapping[str, Entity]) -> list[str]:
    """Every managed policy that reaches the entity or bounds it: its own, its groups', its boundary."""
    arns = list(entity.managed_policies)
    for name in entity.groups:
        group = groups.get(name)
        if group is not None:
            arns += group.managed_policies
    if entity.permissions_boundary:
        arns.append(entity.permissions_boundary)
    return list(dict.fromkeys(arns))


# --- action sets ----------------------------------------------------------------------------------------


@functools.cache
def _expand(pattern: str) -> frozenset[str]:
    return frozenset(actions.expand(pattern))


def catalogue() -> frozenset[str]:
    """Every catalogue action, in the catalogue's spelling (the spelling granted actions have)."""
    return _expand("*")


@functools.cache
def data_event_actions() -> frozenset[str]:
    """`events.actions.DATA_EVENT_ACTIONS` in the catalogue's spelling, to compare with granted actions."""
    return frozenset(actions.canonical_action(a) or a for a in actions.DATA_EVENT_ACTIONS)


@functools.cache
def _glob(pattern: str) -> re.Pattern[str]:
    body = "".join(".*" if ch == "*" else "." if ch == "?" else re.escape(ch) for ch in pattern)
    return re.compile(body, re.IGNORECASE)


@dataclass(frozen=True)
class _Patterns:
    """The actions a statement's `Action` (or `NotAction`) list matches."""

    patterns: tuple[str, ...]

    @functools.cached_property
    def catalogue(self) -> frozenset[str]:
        return frozenset().union(*(_expand(p) for p in self.patterns))

    @functools.cached_property
    def outside(self) -> frozenset[str]:
        """Patterns that match no catalogue action (a new service, a typo): kept as written."""
        return frozenset(p for p in self.patterns if not _expand(p))

    def select(self, candidates: frozenset[str] | set[str]) -> set[str]:
        """The candidates the patterns match: catalogue actions by set, the others (kept as written) by glob."""
        outside = candidates - _expand("*")
        return set(candidates & self.catalogue) | {
            a for a in outside if any(_glob(p).fullmatch(a) for p in self.patterns)
        }


def _patterns(value: Any) -> _Patterns:
    return _Patterns(tuple(str(p).strip() for p in policydoc.as_list(value) if str(p).strip()))


@dataclass(frozen=True)
class _Rule:
    """One statement's actions: `Action` (negated=False) or `NotAction` (negated=True)."""

    patterns: _Patterns
    negated: bool

    def allows(self) -> frozenset[str]:
        if self.negated:
            return _expand("*") - self.patterns.catalogue
        return self.patterns.catalogue | self.patterns.outside

    def select(self, candidates: frozenset[str] | set[str]) -> set[str]:
        """The candidates this rule applies to."""
        matched = self.patterns.select(candidates)
        return set(candidates) - matched if self.negated else matched


def _rule(statement: Mapping[str, Any]) -> _Rule | None:
    if "Action" in statement:
        return _Rule(_patterns(statement["Action"]), False)
    if "NotAction" in statement:
        return _Rule(_patterns(statement["NotAction"]), True)
    return None


def _removes_everywhere(statement: Mapping[str, Any]) -> bool:
    """A Deny nothing can make inapplicable: no Condition, on every resource."""
    return (
        statement.get("Effect") == "Deny"
        and not statement.get("Condition")
        and "NotResource" not in statement
        and "*" in policydoc.as_list(statement.get("Resource"))
    )


@dataclass
class _Verdict:
    """What a set of documents allows and which rules of theirs deny outright."""

    allowed: set[str] = field(default_factory=set)
    allow_rules: list[_Rule] = field(default_factory=list)
    denies: list[_Rule] = field(default_factory=list)

    def add(self, document: Any) -> None:
        for statement in policydoc.statements(document):
            rule = _rule(statement)
            if rule is None:
                continue
            if statement.get("Effect") == "Allow":
                self.allowed |= rule.allows()
                self.allow_rules.append(rule)
            elif _removes_everywhere(statement):
                self.denies.append(rule)

    def not_denied(self, candidates: set[str]) -> set[str]:
        """The candidates no unconditional deny removes."""
        return candidates - set().union(*(rule.select(candidates) for rule in self.denies))

    def permits(self, candidates: set[str]) -> set[str]:
        """The candidates some statement allows and none denies (for a boundary: what it lets through)."""
        return self.not_denied(set().union(*(rule.select(candidates) for rule in self.allow_rules)))


def _documents(entity: Entity, groups: Mapping[str, Entity], documents: Mapping[str, Any]) -> Iterator[tuple[str, Any]]:
    """(label, document) of every identity policy reaching the entity; document None when not at hand."""
    members = [entity] + [groups[name] for name in entity.groups if name in groups]
    for holder in members:
        where = "" if holder is entity else f"group {holder.name}: "
        for name, document in holder.inline_policies.items():
            yield f"{where}inline {name}", document
        for arn in holder.managed_policies:
            yield arn, documents.get(arn)


def granted(entity: Entity, groups: Iterable[Entity] | Mapping[str, Entity], documents: Mapping[str, Any]) -> Grant:
    """The actions the entity's identity policies allow, within its permissions boundary.

    `groups` are the account's groups (only the user's own count); `documents` maps managed policy ARNs to
    their default version's document (customer and AWS managed alike).
    """
    by_name = groups if isinstance(groups, Mapping) else {g.name: g for g in groups}
    verdict = _Verdict()
    missing: list[str] = []
    for label, document in _documents(entity, by_name, documents):
        if document is None:
            missing.append(label)
            continue
        try:
            verdict.add(document)
        except ValueError:
            missing.append(label)  # a document that cannot be read grants nothing we can prove
    held = verdict.not_denied(verdict.allowed)

    if entity.permissions_boundary:
        bound = _boundary(documents.get(entity.permissions_boundary))
        if bound is None:
            missing.append(entity.permissions_boundary)  # unbounded as far as we can tell: incomplete
        else:
            held = bound.permits(held)
    return Grant(frozenset(held), tuple(dict.fromkeys(missing)))


def _boundary(document: Any) -> _Verdict | None:
    if document is None:
        return None
    bound = _Verdict()
    try:
        bound.add(document)
    except ValueError:
        return None
    return bound
