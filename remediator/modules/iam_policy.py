"""iam_policy: one customer managed policy — its document, its attachments, or its deletion.

The policy is found by name in the account's bulk authorization details (names are unique in an
account, whatever the path). A changed document becomes a new default version; AWS keeps at most five
versions, so when five exist the oldest non-default one is deleted first. Attachments are one change
per entity, so each has its own undo. `state: absent` detaches the policy from every entity and
deletes its non-default versions before DeletePolicy, which AWS refuses (DeleteConflict) otherwise.

AWS cannot change a policy's description or path after creation: a difference is reported as a
finding, never "fixed" by deleting and recreating the policy.
"""

from __future__ import annotations

import json
from typing import Any

from remediator import awsrules, policydoc
from remediator.aws.context import ReadContext
from remediator.aws.reads import authorization_details
from remediator.changes import ChangeBuilder
from remediator.errors import ArgError, TaskFailed
from remediator.model import ApiCall, Change
from remediator.registry import Document, Module, PlanResult, register
from remediator.timeutil import iso

MAX_VERSIONS = 5

# attach_to key → (singular, the entity's list in authorization details, API noun, name parameter)
KINDS: dict[str, tuple[str, str, str, str]] = {
    "users": ("user", "UserDetailList", "user", "UserName"),
    "groups": ("group", "GroupDetailList", "group", "GroupName"),
    "roles": ("role", "RoleDetailList", "role", "RoleName"),
}
_ENTITY_NAME_KEY = {"users": "UserName", "groups": "GroupName", "roles": "RoleName"}

_NAMES = {"type": "array", "items": {"type": "string", "minLength": 1, "maxLength": 128}, "uniqueItems": True}


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


def _version_number(version_id: str) -> int:
    digits = version_id.lstrip("vV")
    return int(digits) if digits.isascii() and digits.isdigit() else 0  # "v²".isdigit() is True; int() refuses it


def oldest_non_default(versions: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The version AWS's five-version limit makes us delete: the oldest one that is not the default."""
    candidates = [v for v in versions if not v.get("IsDefaultVersion")]
    if not candidates:
        return None
    return min(candidates, key=lambda v: (str(v.get("CreateDate") or ""), _version_number(v["VersionId"])))


def non_default_versions(versions: list[dict[str, Any]]) -> list[str]:
    """Non-default version ids, oldest first."""
    ordered = sorted(versions, key=lambda v: (str(v.get("CreateDate") or ""), _version_number(v["VersionId"])))
    return [v["VersionId"] for v in ordered if not v.get("IsDefaultVersion")]


def default_version(policy: dict[str, Any]) -> dict[str, Any] | None:
    return next((v for v in policy["Versions"] if v.get("IsDefaultVersion")), None)


def policy_state(policy: dict[str, Any] | None) -> dict[str, Any] | None:
    """The live fields a change about the policy itself is checked against before it is applied."""
    if policy is None:
        return None
    default = default_version(policy)
    return {
        "Arn": policy["Arn"],
        "Path": policy["Path"],
        "Description": policy.get("Description", ""),
        "DefaultVersionId": policy["DefaultVersionId"],
        "Document": default["Document"] if default else None,
        "VersionIds": sorted((v["VersionId"] for v in policy["Versions"]), key=_version_number),
    }


def attachment_resource(name: str, kind: str, entity: str) -> str:
    return f"{name}/attachment/{kind}/{entity}"


def attach_call(kind: str, entity: str, arn: str, attach: bool) -> ApiCall:
    _, _, noun, param = KINDS[kind]
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

    def read(self, ctx: ReadContext, args: dict[str, Any]) -> dict[str, Any]:
        details = authorization_details(ctx)
        name = args["name"]
        found = next((p for p in details["Policies"] if p.get("PolicyName") == name), None)
        policy = None
        if found is not None:
            policy = {
                "Arn": found["Arn"],
                "Path": found.get("Path", "/"),
                "Description": found.get("Description", ""),
                "DefaultVersionId": found.get("DefaultVersionId"),
                "Versions": [
                    {
                        "VersionId": v["VersionId"],
                        "IsDefaultVersion": bool(v.get("IsDefaultVersion")),
                        "CreateDate": iso(v.get("CreateDate")),
                        "Document": policydoc.parse(v["Document"]) if v.get("Document") is not None else None,
                    }
                    for v in found.get("PolicyVersionList", [])
                ],
            }
            arn = found["Arn"]
        elif args.get("state") == "absent":
            arn = ""  # nothing to delete, nothing to name
        else:
            identity = ctx.session.identity()
            partition = str(identity.get("Arn", "arn:aws:")).split(":")[1] or "aws"
            arn = f"arn:{partition}:iam::{identity['Account']}:policy{args.get('path', '/')}{name}"
        attached: dict[str, list[str]] = {}
        entities: dict[str, list[str]] = {}
        named = args.get("attach_to") or {}
        for kind, (_, list_key, _, _) in KINDS.items():
            key = _ENTITY_NAME_KEY[kind]
            live = details[list_key]
            attached[kind] = sorted(
                e[key]
                for e in live
                if policy is not None and any(a.get("PolicyArn") == arn for a in e.get("AttachedManagedPolicies", []))
            )
            wanted = set(named.get(kind) or [])
            planned = {n for n in wanted if ctx.will_exist(KINDS[kind][0], n)}
            entities[kind] = sorted({e[key] for e in live if e[key] in wanted} | planned)
        return {"arn": arn, "policy": policy, "attached": attached, "entities": entities}

    def resource_state(self, current: dict[str, Any], resource: str) -> dict[str, Any] | None:
        parts = resource.split("/")
        if len(parts) == 4 and parts[1] == "attachment":
            _, _, kind, entity = parts
            if entity in current["attached"].get(kind, []):
                return attachment_after(current["arn"], kind, entity)
            return None
        return policy_state(current["policy"])

    def plan(self, args: dict[str, Any], current: dict[str, Any], scope: str) -> PlanResult:
        name = args["name"]
        build = ChangeBuilder(scope, self.name)
        if args.get("state") == "absent":
            return self._plan_absent(name, current, build)

        policy = current["policy"]
        arn = current["arn"]
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
                notes.append(f"the default version {policy['DefaultVersionId']} has an equivalent document")

        attached = current["attached"] if policy is not None else {k: [] for k in KINDS}
        result.changes.extend(self._attachment_changes(args, current, attached, arn, build, notes))
        if not result.changes:
            what = "; ".join(notes) if notes else "nothing the task names differs"
            result.noop_reason = f"policy {name} is as the task wants: {what}"
        return result

    def _findings(
        self, args: dict[str, Any], policy: dict[str, Any], build: ChangeBuilder, name: str, result: PlanResult
    ) -> None:
        if "description" in args and args["description"] != policy.get("Description", ""):
            result.findings.append(
                build.finding(
                    name,
                    "low",
                    f"policy {name} has the description {policy.get('Description', '')!r}, not"
                    f" {args['description']!r}: AWS cannot change a policy's description after creation"
                    " (recreate the policy to change it)",
                )
            )
        if "path" in args and args["path"] != policy["Path"]:
            result.findings.append(
                build.finding(
                    name,
                    "low",
                    f"policy {name} is at path {policy['Path']}, not {args['path']}: AWS cannot move a policy"
                    " (recreate it to change the path)",
                )
            )

    def _document_change(
        self, args: dict[str, Any], policy: dict[str, Any], build: ChangeBuilder, name: str
    ) -> Change | None:
        if "document" not in args:
            return None
        default = default_version(policy)
        if default is not None and policydoc.equivalent(args["document"], default["Document"]):
            return None
        old_default = policy["DefaultVersionId"]
        calls: list[ApiCall] = []
        summary = f"policy {name}: new default version replacing {old_default}"
        reason = "the default version's document differs in meaning from the task's"
        if len(policy["Versions"]) >= MAX_VERSIONS:
            oldest = oldest_non_default(policy["Versions"])
            if oldest is None:  # cannot happen on AWS (one default among five); refuse rather than guess
                raise TaskFailed(f"policy {name} has {MAX_VERSIONS} versions and none is non-default")
            calls.append(
                ApiCall("iam", "delete_policy_version", {"PolicyArn": policy["Arn"], "VersionId": oldest["VersionId"]})
            )
            summary += f"; first delete the oldest non-default version {oldest['VersionId']} (five-version limit)"
            reason += (
                f"; version {oldest['VersionId']} is deleted for good (the undo restores {old_default} as default)"
            )
        calls.append(
            ApiCall(
                "iam",
                "create_policy_version",
                {"PolicyArn": policy["Arn"], "PolicyDocument": document_text(args["document"]), "SetAsDefault": True},
            )
        )
        before = policy_state(policy)
        assert before is not None
        return build.update(
            name,
            before={k: before[k] for k in ("DefaultVersionId", "Document", "VersionIds")},
            after={"Document": policydoc.parse(args["document"])},
            calls=tuple(calls),
            undo=(
                ApiCall("iam", "set_default_policy_version", {"PolicyArn": policy["Arn"], "VersionId": old_default}),
            ),
            summary=summary,
            reason=reason,
        )

    def _attachment_changes(
        self,
        args: dict[str, Any],
        current: dict[str, Any],
        attached: dict[str, list[str]],
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
            if entity not in attached.get(kind, []) and entity not in current["entities"].get(kind, [])
        ]
        if missing:
            raise TaskFailed(f"cannot attach policy {name}: no such {', '.join(missing)}")
        for kind, (singular, _, _, _) in KINDS.items():
            live = attached.get(kind, [])
            for entity in named.get(kind) or []:
                if entity in live:
                    continue
                resource = attachment_resource(name, kind, entity)
                changes.append(
                    build.create(
                        resource,
                        after=attachment_after(arn, kind, entity),
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
            before=attachment_after(arn, kind, entity),
            calls=(attach_call(kind, entity, arn, False),),
            undo=(attach_call(kind, entity, arn, True),),
            summary=f"detach policy {name} from {KINDS[kind][0]} {entity}",
            reason=reason,
        )

    def _plan_absent(self, name: str, current: dict[str, Any], build: ChangeBuilder) -> PlanResult:
        policy = current["policy"]
        if policy is None:
            return PlanResult(noop_reason=f"no customer managed policy {name}, as the task wants")
        arn = policy["Arn"]
        changes = [
            self._detach(build, name, arn, kind, entity, "state: absent: a policy is detached before it is deleted")
            for kind in KINDS
            for entity in current["attached"].get(kind, [])
        ]
        old_versions = non_default_versions(policy["Versions"])
        calls = [ApiCall("iam", "delete_policy_version", {"PolicyArn": arn, "VersionId": v}) for v in old_versions]
        calls.append(ApiCall("iam", "delete_policy", {"PolicyArn": arn}))
        summary = f"delete policy {name}"
        if old_versions:
            summary += f" after its non-default versions {', '.join(old_versions)}"
        before = policy_state(policy)
        assert before is not None
        changes.append(
            build.delete(
                name,
                before=before,
                calls=tuple(calls),
                undo=None,
                summary=summary,
                reason="state: absent; no undo: a deleted policy and its versions cannot be restored"
                " (recreating it gives a new policy id and version history)",
            )
        )
        return PlanResult(changes)


def attachment_after(arn: str, kind: str, entity: str) -> dict[str, Any]:
    return {"PolicyArn": arn, "Kind": kind, "Entity": entity}
