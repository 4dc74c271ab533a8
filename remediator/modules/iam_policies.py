"""iam_policies: check only. Findings for full-admin policies, policies on users, and policy lint.

Reads nothing but the shared GetAccountAuthorizationDetails, so it costs no calls beyond what the other
modules already made. Three rules, each on unless the task turns it off:

- `forbid_full_admin`: customer managed policies (their default version) and inline policies of users,
  groups and roles that allow `*` on `*` without a condition (CIS v3.0 1.16, v5.0 1.15);
- `forbid_user_attachments`: users with managed or inline policies of their own, not through a group
  (CIS v3.0 1.15, v5.0 1.14); one finding per user, naming each policy;
- `lint`: `policylint` on customer managed policies, inline policies (with the per-entity inline size
  totals) and role trust policies.

`include` / `exclude` are globs on the policy name (for trust policies: on the role name).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from remediator import controls, policydoc, policylint, selection
from remediator import userpolicies as user_policies
from remediator.aws.context import ReadContext
from remediator.aws.reads import authorization_details
from remediator.changes import ChangeBuilder
from remediator.errors import ArgError
from remediator.model import Finding
from remediator.registry import Module, PlanResult, register
from remediator.roles import is_aws_managed_role

FULL_ADMIN_CONTROLS = controls.of("full_admin_policy")

# entity kind → (list key, name key, inline list key, inline size limit)
ENTITIES = {
    "user": ("UserDetailList", "UserName", "UserPolicyList", "user_inline"),
    "group": ("GroupDetailList", "GroupName", "GroupPolicyList", "group_inline"),
    "role": ("RoleDetailList", "RoleName", "RolePolicyList", "role_inline"),
}
RULES = ("forbid_full_admin", "forbid_user_attachments", "lint")


@dataclass(frozen=True)
class Document:
    """One policy document of the account, with what the findings say about it."""

    kind: str  # managed | inline | trust
    label: str  # address suffix: policy name, or <entity kind>/<entity>/<policy name>
    name: str  # what include/exclude match
    resource: str  # the policy's ARN, or the entity's for inline and trust policies
    text: str  # how a message names it
    document: Any
    attached_to: tuple[str, ...] = ()


def _wanted(name: str, include: list[str], exclude: list[str]) -> bool:
    return selection.selected([name], include, exclude)


def _default_document(policy: dict[str, Any]) -> Any:
    for version in policy.get("PolicyVersionList", []):
        if version.get("IsDefaultVersion"):
            return version.get("Document")
    return None


def _entities(details: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for kind, (list_key, name_key, _, _) in ENTITIES.items():
        for entity in details.get(list_key, []):
            if kind == "role" and is_aws_managed_role(entity):
                continue  # AWS (or IAM Identity Center) owns these roles and their policies
            yield kind, entity[name_key], entity


def _attachments(details: dict[str, Any]) -> dict[str, list[str]]:
    """Managed policy ARN → the entities it is attached to, as 'user alice'."""
    found: dict[str, list[str]] = {}
    for kind, name, entity in _entities(details):
        for item in entity.get("AttachedManagedPolicies", []):
            found.setdefault(item["PolicyArn"], []).append(f"{kind} {name}")
    return found


def documents(details: dict[str, Any]) -> Iterator[Document]:
    """Every customer managed (default version), inline and trust policy document of the account."""
    attached = _attachments(details)
    for policy in details.get("Policies", []):
        name = policy.get("PolicyName") or policy["Arn"].rsplit("/", 1)[-1]
        yield Document(
            "managed",
            name,
            name,
            policy["Arn"],
            f"customer managed policy {name}",
            _default_document(policy),
            tuple(attached.get(policy["Arn"], ())),
        )
    for kind, entity_name, entity in _entities(details):
        for item in entity.get(ENTITIES[kind][2], []):
            policy_name = item.get("PolicyName", "")
            yield Document(
                "inline",
                f"{kind}/{entity_name}/{policy_name}",
                policy_name,
                entity["Arn"],
                f"inline policy {policy_name} of {kind} {entity_name}",
                item.get("PolicyDocument"),
                (f"{kind} {entity_name}",),
            )
        if kind == "role" and "AssumeRolePolicyDocument" in entity:
            yield Document(
                "trust",
                f"role/{entity_name}/trust-policy",
                entity_name,
                entity["Arn"],
                f"trust policy of role {entity_name}",
                entity["AssumeRolePolicyDocument"],
            )


def _where(doc: Document) -> str:
    if doc.kind != "managed":
        return ""
    if not doc.attached_to:
        return "; not attached to anything"
    return "; attached to " + ", ".join(sorted(doc.attached_to))


def _full_admin(doc: Document) -> bool:
    try:
        return policydoc.allows_full_admin(doc.document)
    except ValueError:
        return False  # the lint reports a document it cannot read


@register
class Policies(Module):
    name = "iam_policies"
    summary = "Check only: full-admin policies, policies attached straight to users, and policy lint findings."
    args_schema = {
        "properties": {
            "forbid_full_admin": {
                "type": "boolean",
                "description": "report customer and inline policies allowing * on * without a condition (default true)",
            },
            "forbid_user_attachments": {
                "type": "boolean",
                "description": "report users with managed or inline policies of their own (default true)",
            },
            "lint": {
                "type": "boolean",
                "description": "report lint issues in customer, inline and trust policies (default true)",
            },
            **selection.options("policy name"),
        },
    }
    permissions = {"read": ["iam:GetAccountAuthorizationDetails"], "write": []}
    example = """\
- name: No full-admin policies, no policies on users (CIS 1.15, 1.16)
  iam_policies:
    forbid_full_admin: true
    forbid_user_attachments: true
    lint: true
    exclude: [break-glass-*]
"""

    def validate(self, args: dict[str, Any]) -> None:
        if all(args.get(rule, True) is False for rule in RULES):
            raise ArgError(None, f"every rule is off: turn on at least one of {', '.join(RULES)}")

    def read(self, ctx: ReadContext, args: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
        return authorization_details(ctx)

    def resource_state(self, current: Any, resource: str) -> dict[str, Any] | None:
        return None  # check only: there are no changes to go stale

    def plan(self, args: dict[str, Any], current: dict[str, Any], scope: str) -> PlanResult:
        include, exclude = list(args.get("include") or []), list(args.get("exclude") or [])
        build = ChangeBuilder(scope, self.name)
        docs = [d for d in documents(current or {}) if _wanted(d.name, include, exclude)]
        findings: list[Finding] = []

        if args.get("forbid_full_admin", True):
            for doc in docs:
                if doc.kind != "trust" and _full_admin(doc):
                    findings.append(
                        Finding(
                            build.address(doc.label),
                            doc.resource,
                            "high",
                            f"{doc.text} allows * on * without a condition{_where(doc)}",
                            FULL_ADMIN_CONTROLS,
                        )
                    )

        if args.get("forbid_user_attachments", True):
            findings += self._user_attachments(current or {}, build, include, exclude)

        if args.get("lint", True):
            findings += self._lint(current or {}, docs, build)

        if findings:
            return PlanResult(findings=findings)
        checked = [r.replace("_", " ") for r in RULES if args.get(r, True)]
        return PlanResult(noop_reason=f"{len(docs)} policy documents checked ({', '.join(checked)}): nothing to report")

    def _user_attachments(
        self, details: dict[str, Any], build: ChangeBuilder, include: list[str], exclude: list[str]
    ) -> list[Finding]:
        findings = []
        for user in details.get("UserDetailList", []):
            policies = user_policies.own_policies(
                [p["PolicyArn"] for p in user.get("AttachedManagedPolicies", [])],
                [p.get("PolicyName", "") for p in user.get("UserPolicyList", [])],
                lambda name: _wanted(name, include, exclude),
            )
            found = user_policies.finding(
                build.address(f"user/{user['UserName']}"), user["Arn"], user["UserName"], policies
            )
            if found:
                findings.append(found)
        return findings

    def _lint(self, details: dict[str, Any], docs: list[Document], build: ChangeBuilder) -> list[Finding]:
        findings = []
        for doc in docs:
            if doc.kind == "managed":
                issues = policylint.lint(doc.document, "identity", limit="managed")
            elif doc.kind == "trust":
                # A live trust policy was accepted under the account's quota (2,048, up to 4,096).
                issues = policylint.lint(doc.document, "trust", limit=4096)
            else:  # sizes of inline policies count per entity, below
                issues = [i for i in policylint.lint(doc.document, "identity") if i.code != "size-limit"]
            if issues:
                findings.append(self._lint_finding(build.address(doc.label), doc.resource, doc.text, issues))
        # AWS limits the total size of an entity's inline policies, not each one.
        for kind, name, entity in _entities(details):
            inline = entity.get(ENTITIES[kind][2], [])
            sizes = []
            for item in inline:
                try:
                    sizes.append(policydoc.size(item.get("PolicyDocument")))
                except ValueError:
                    continue
            limit = ENTITIES[kind][3]
            issue = policylint.size_issue(
                sum(sizes), policylint.SIZE_LIMITS[limit], f"the inline policies of {kind} {name} together"
            )
            if issue:
                findings.append(
                    self._lint_finding(build.address(f"{kind}/{name}/inline-total"), entity["Arn"], "", [issue])
                )
        return findings

    @staticmethod
    def _lint_finding(address: str, resource: str, text: str, issues: list[policylint.LintIssue]) -> Finding:
        severity = "medium" if any(i.severity == "error" for i in issues) else "low"
        details = "; ".join(f"{i.code}: {i.message}" for i in issues)
        return Finding(address, resource, severity, f"{text} fails the policy lint: {details}" if text else details)
