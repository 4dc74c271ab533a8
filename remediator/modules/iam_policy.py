"""iam_policy: one customer managed policy — its document, its attachments, or its deletion.

The policy is found by name in the account's bulk authorization details (names are unique in an
account, whatever the path). A changed document becomes a new default version; AWS keeps at most five
versions, so when five exist the oldest non-default one is deleted first. Attachments are one change
per entity, so each has its own undo. `state: absent` detaches the policy from every entity and
deletes its non-default versions before DeletePolicy, which AWS refuses (DeleteConflict) otherwise.

AWS cannot change a policy's description or path after creation: a difference is reported as a
finding, never "fixed" by deleting and recreating the policy.

`current` is a `policies.PolicyFacts` (read by `policies.read_policy`; a plan case gives its JSON form).
"""

from __future__ import annotations

from typing import Any

from remediator import awsrules, changecheck, policydoc
from remediator.aws.context import ReadContext
from remediator.changes import ChangeBuilder
from remediator.errors import ArgError, TaskFailed
from remediator.model import ApiCall, Change
from remediator.policies import (
    Attachment,
    EntityNames,
    PolicyFacts,
    check_document,
    document_text,
    read_policy,
)
from remediator.policies import ManagedPolicy as PolicyFact
from remediator.registry import Document, Module, PlanResult, register

MAX_VERSIONS = 5

# attach_to key → (singular, API noun, name parameter)
KINDS: dict[str, tuple[str, str, str]] = {
    "users": ("user", "user", "UserName"),
    "groups": ("group", "group", "GroupName"),
    "roles": ("role", "role", "RoleName"),
}

_NAMES = {"type": "array", "items": {"type": "string", "minLength": 1, "maxLength": 128}, "uniqueItems": True}


def attachment_resource(name: str, kind: str, entity: str) -> str:
    return f"{name}/attachment/{kind}/{entity}"


def attach_call(kind: str, entity: str, arn: str, attach: bool) -> ApiCall:
    _, noun, param = KINDS[kind]
    verb = "attach" if attach else "detach"
    return ApiCall("iam", f"{verb}_{noun}_policy", {param: entity, "PolicyArn": arn})


@register
class ManagedPolicy(Module):
    name = "iam_policy"
    summary = (
        "One customer managed policy: its document (a new default version, within AWS's five-version limit),"
        " its attachments to users, groups and roles, or its deletion."
    )
    args_schema = {
        "properties": {
            "name": {"type": "string", "minLength": 1, "maxLength": 128, "description": "the policy's name"},
            "path": {"type": "string", "minLength": 1, "maxLength": 512, "description": "default '/'; set at creation"},
            "description": {
                "type": "string",
                "maxLength": 1000,
                "description": "set at creation only: AWS cannot change it later (a difference is reported)",
            },
            "document": {
                "type": ["object", "string"],
                "description": "the policy document, a mapping or JSON text; required to create; compared by meaning",
            },
            "attach_to": {
                "type": "object",
                "additionalProperties": False,
                "properties": {"users": _NAMES, "groups": _NAMES, "roles": _NAMES},
                "description": "names of the users, groups and roles the policy is attached to",
            },
            "exclusive_attachments": {
                "type": "boolean",
                "description": "detach the policy from every user, group and role attach_to does not list",
            },
            "state": {"enum": ["present", "absent"], "description": "absent detaches and deletes the policy"},
        },
        "required": ["name"],
    }
    permissions = {
        "read": ["iam:GetAccountAuthorizationDetails", "sts:GetCallerIdentity"],
        "write": [
            "iam:CreatePolicy",
            "iam:CreatePolicyVersion",
            "iam:DeletePolicyVersion",
            "iam:SetDefaultPolicyVersion",
            "iam:DeletePolicy",
            "iam:AttachUserPolicy",
            "iam:DetachUserPolicy",
            "iam:AttachGroupPolicy",
            "iam:DetachGroupPolicy",
            "iam:AttachRolePolicy",
            "iam:DetachRolePolicy",
        ],
    }
    example = """\
- name: Operators may start and stop instances
  iam_policy:
    name: ec2-lifecycle
    description: EC2 start and stop
    document:
      Version: "2012-10-17"
      Statement:
        - Effect: Allow
          Action: [ec2:StartInstances, ec2:StopInstances]
          Resource: "*"
    attach_to: {groups: [operators]}
    # document: "{{ template('policies/source-ip-restricted.json.j2', ...) }}" renders a condition-scoped one
"""

    def documents(self, args: dict[str, Any]) -> list[Document]:
        return [Document("document", args["document"], "identity", "managed")] if "document" in args else []

    def validate(self, args: dict[str, Any]) -> None:
        problem = awsrules.check_name("policy", args.get("name"))
        if problem:
            raise ArgError("name", problem)
        if "path" in args:
            problem = awsrules.check_path(args["path"], policy=True)
            if problem:
                raise ArgError("path", problem)
        if "description" in args:
            problem = awsrules.check_description(args["description"], kind="policy")
            if problem:
                raise ArgError("description", problem)
        for kind, entities in (args.get("attach_to") or {}).items():
            for entity in entities or []:
                problem = awsrules.check_name(KINDS[kind][0], entity) if kind in KINDS else None
                if problem:
                    raise ArgError(f"attach_to.{kind}", problem)
        if args.get("state") == "absent":
            others = sorted(k for k in args if k not in ("name", "path", "state"))
            if others:
                raise ArgError(others[0], "state: absent detaches and deletes the policy; it takes only name and path")
            return
        if "document" in args:
            check_document("document", args["document"])
        if args.get("exclusive_attachments") and "attach_to" not in args:
            raise ArgError(
                "exclusive_attachments",
                "exclusive_attachments needs attach_to (attach_to: {} detaches the policy from every entity)",
            )

    def read(self, ctx: ReadContext, args: dict[str, Any]) -> PolicyFacts:
        return read_policy(
            ctx,
            args["name"],
            path=args.get("path", "/"),
            absent=args.get("state") == "absent",
            attach_to=args.get("attach_to"),
        )

    def load_current(self, data: dict[str, Any]) -> PolicyFacts:
        return PolicyFacts.from_json(data)

    def resource_state(self, current: PolicyFacts, resource: str) -> dict[str, Any] | None:
        parts = resource.split("/")
        if len(parts) == 4 and parts[1] == "attachment":
            _, _, kind, entity = parts
            attachment = current.attachment(kind, entity)
            return None if attachment is None else attachment.to_json()
        return None if current.policy is None else current.policy.state()

    def check_change(self, args: dict[str, Any], change: Change) -> str | None:
        """A plan file's change is about the task's policy and touches nothing else (its calls name it, or
        what the change's resource and before-image name), and writes only documents its args or before-image
        give: an edited call cannot reach another entity or widen a policy."""
        return changecheck.entity_problem(change, args, "PolicyArn")

    def plan(self, args: dict[str, Any], current: PolicyFacts, scope: str) -> PlanResult:
        name = args["name"]
        build = ChangeBuilder(scope, self.name)
        if args.get("state") == "absent":
            return self._plan_absent(name, current, build)

        policy = current.policy
        arn = current.arn
        result = PlanResult()
        notes: list[str] = []

        if policy is None:
            if "document" not in args:
                raise TaskFailed(f"policy {name!r} does not exist: give a document to create it")
            params: dict[str, Any] = {
                "PolicyName": name,
                "Path": args.get("path", "/"),
                "PolicyDocument": document_text(args["document"]),
            }
            if args.get("description"):
                params["Description"] = args["description"]
            after = {
                "Arn": arn,
                "Path": params["Path"],
                "Description": args.get("description", ""),
                "Document": policydoc.parse(args["document"]),
            }
            result.changes.append(
                build.create(
                    name,
                    after=after,
                    calls=(ApiCall("iam", "create_policy", params),),
                    undo=(ApiCall("iam", "delete_policy", {"PolicyArn": arn}),),
                    summary=f"create policy {name} at path {params['Path']}",
                    reason="no customer managed policy of that name",
                    creates=f"policy:{arn}",
                )
            )
        else:
            self._findings(args, policy, build, name, result)
            change = self._document_change(args, policy, build, name)
            if change is not None:
                result.changes.append(change)
            elif "document" in args:
                notes.append(f"the default version {policy.default_version_id} has an equivalent document")

        attached = current.attached if policy is not None else EntityNames.none()
        result.changes.extend(self._attachment_changes(args, current, attached, arn, build, notes))
        if not result.changes:
            what = "; ".join(notes) if notes else "nothing the task names differs"
            result.noop_reason = f"policy {name} is as the task wants: {what}"
        return result

    def _findings(
        self, args: dict[str, Any], policy: PolicyFact, build: ChangeBuilder, name: str, result: PlanResult
    ) -> None:
        if "description" in args and args["description"] != policy.description:
            result.findings.append(
                build.finding(
                    name,
                    "low",
                    f"policy {name} has the description {policy.description!r}, not"
                    f" {args['description']!r}: AWS cannot change a policy's description after creation"
                    " (recreate the policy to change it)",
                )
            )
        if "path" in args and args["path"] != policy.path:
            result.findings.append(
                build.finding(
                    name,
                    "low",
                    f"policy {name} is at path {policy.path}, not {args['path']}: AWS cannot move a policy"
                    " (recreate it to change the path)",
                )
            )

    def _document_change(
        self, args: dict[str, Any], policy: PolicyFact, build: ChangeBuilder, name: str
    ) -> Change | None:
        if "document" not in args:
            return None
        default = policy.default_version
        if default is not None and policydoc.equivalent(args["document"], default.document):
            return None
        old_default = policy.default_version_id
        calls: list[ApiCall] = []
        summary = f"policy {name}: new default version replacing {old_default}"
        reason = "the default version's document differs in meaning from the task's"
        if len(policy.versions) >= MAX_VERSIONS:
            oldest = policy.oldest_non_default()
            if oldest is None:  # cannot happen on AWS (one default among five); refuse rather than guess
                raise TaskFailed(f"policy {name} has {MAX_VERSIONS} versions and none is non-default")
            calls.append(
                ApiCall("iam", "delete_policy_version", {"PolicyArn": policy.arn, "VersionId": oldest.version_id})
            )
            summary += f"; first delete the oldest non-default version {oldest.version_id} (five-version limit)"
            reason += f"; version {oldest.version_id} is deleted for good (the undo restores {old_default} as default)"
        calls.append(
            ApiCall(
                "iam",
                "create_policy_version",
                {"PolicyArn": policy.arn, "PolicyDocument": document_text(args["document"]), "SetAsDefault": True},
            )
        )
        return build.update(
            name,
            before=policy.state_image("DefaultVersionId", "Document", "VersionIds"),
            after={"Document": policydoc.parse(args["document"])},
            calls=tuple(calls),
            undo=(ApiCall("iam", "set_default_policy_version", {"PolicyArn": policy.arn, "VersionId": old_default}),),
            summary=summary,
            reason=reason,
        )

    def _attachment_changes(
        self,
        args: dict[str, Any],
        current: PolicyFacts,
        attached: EntityNames,
        arn: str,
        build: ChangeBuilder,
        notes: list[str],
    ) -> list[Change]:
        if "attach_to" not in args:
            return []
        name = args["name"]
        named = args["attach_to"] or {}
        exclusive = bool(args.get("exclusive_attachments"))
        changes: list[Change] = []
        missing = [
            f"{KINDS[kind][0]} {entity}"
            for kind in KINDS
            for entity in named.get(kind) or []
            if entity not in attached.of(kind) and entity not in current.entities.of(kind)
        ]
        if missing:
            raise TaskFailed(f"cannot attach policy {name}: no such {', '.join(missing)}")
        for kind, (singular, _, _) in KINDS.items():
            live = attached.of(kind)
            for entity in named.get(kind) or []:
                if entity in live:
                    continue
                resource = attachment_resource(name, kind, entity)
                changes.append(
                    build.create(
                        resource,
                        after=Attachment(arn, kind, entity).to_json(),
                        calls=(attach_call(kind, entity, arn, True),),
                        undo=(attach_call(kind, entity, arn, False),),
                        summary=f"attach policy {name} to {singular} {entity}",
                        reason=f"attach_to names {singular} {entity}",
                    )
                )
            if exclusive:
                for entity in live:
                    if entity in (named.get(kind) or []):
                        continue
                    changes.append(self._detach(build, name, arn, kind, entity, "exclusive_attachments: not listed"))
        if not changes:
            notes.append("attached to every entity named" + (" and no other" if exclusive else ""))
        return changes

    def _detach(self, build: ChangeBuilder, name: str, arn: str, kind: str, entity: str, reason: str) -> Change:
        resource = attachment_resource(name, kind, entity)
        return build.delete(
            resource,
            before=Attachment(arn, kind, entity).to_json(),
            calls=(attach_call(kind, entity, arn, False),),
            undo=(attach_call(kind, entity, arn, True),),
            summary=f"detach policy {name} from {KINDS[kind][0]} {entity}",
            reason=reason,
        )

    def _plan_absent(self, name: str, current: PolicyFacts, build: ChangeBuilder) -> PlanResult:
        policy = current.policy
        if policy is None:
            return PlanResult(noop_reason=f"no customer managed policy {name}, as the task wants")
        arn = policy.arn
        changes = [
            self._detach(build, name, arn, kind, entity, "state: absent: a policy is detached before it is deleted")
            for kind in KINDS
            for entity in current.attached.of(kind)
        ]
        old_versions = policy.non_default_version_ids()
        calls = [ApiCall("iam", "delete_policy_version", {"PolicyArn": arn, "VersionId": v}) for v in old_versions]
        calls.append(ApiCall("iam", "delete_policy", {"PolicyArn": arn}))
        summary = f"delete policy {name}"
        if old_versions:
            summary += f" after its non-default versions {', '.join(old_versions)}"
        changes.append(
            build.delete(
                name,
                before=policy.state(),
                calls=tuple(calls),
                undo=None,
                summary=summary,
                reason="state: absent; no undo: a deleted policy and its versions cannot be restored"
                " (recreating it gives a new policy id and version history)",
            )
        )
        return PlanResult(changes)
