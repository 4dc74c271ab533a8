"""iam_inline_policy: one inline policy embedded in one role, user or group.

Read from the account's bulk authorization details (each entity's inline policy list). A document is
put when the policy is missing or differs in meaning; the undo puts the old document back, or deletes
the policy when there was none. A missing role, user or group fails the task: a typo in its name must
not pass as "nothing to do".

AWS limits the total size of an entity's inline policies (role 10,240, user 2,048, group 5,120 characters
without whitespace), so `current` also holds the entity's other inline policies (`others`, from the same
authorization details): a put that would take the total over the limit fails the task at plan time.
"""

from __future__ import annotations

from typing import Any

from remediator import awsrules, changecheck, policydoc, policylint
from remediator.aws.context import ReadContext
from remediator.aws.reads import authorization_details
from remediator.changes import ChangeBuilder
from remediator.errors import ArgError, TaskFailed
from remediator.model import ApiCall, Change
from remediator.policies import check_document, document_text
from remediator.registry import Document, Module, PlanResult, register

# option → (entity list in authorization details, entity name key, inline list key, API noun, name parameter)
KINDS: dict[str, tuple[str, str, str, str, str]] = {
    "role": ("RoleDetailList", "RoleName", "RolePolicyList", "role", "RoleName"),
    "user": ("UserDetailList", "UserName", "UserPolicyList", "user", "UserName"),
    "group": ("GroupDetailList", "GroupName", "GroupPolicyList", "group", "GroupName"),
}
_ENTITY = {"type": "string", "minLength": 1, "maxLength": 128}


def _parsed(document: Any) -> Any:
    try:
        return policydoc.parse(document)
    except (ValueError, TypeError):
        return document  # counted as its text


def _is_document(value: Any) -> bool:
    """A policy document as `read` gives it: parsed, and one IAM would take."""
    if not isinstance(value, dict):
        return False
    try:
        policydoc.normalize(value)
    except (ValueError, TypeError, AttributeError):
        return False
    return True


def _meaning(document: Any) -> Any:
    """A document (or its JSON text) as IAM reads it: two that mean the same compare equal."""
    return policydoc.normalize(document)


def target(args: dict[str, Any]) -> tuple[str, str]:
    """(kind, entity name) the task is about."""
    kind = next(k for k in KINDS if k in args)
    return kind, args[kind]


def put_call(kind: str, entity: str, policy_name: str, document: Any) -> ApiCall:
    noun, param = KINDS[kind][3], KINDS[kind][4]
    return ApiCall(
        "iam",
        f"put_{noun}_policy",
        {param: entity, "PolicyName": policy_name, "PolicyDocument": document_text(document)},
    )


def delete_call(kind: str, entity: str, policy_name: str) -> ApiCall:
    noun, param = KINDS[kind][3], KINDS[kind][4]
    return ApiCall("iam", f"delete_{noun}_policy", {param: entity, "PolicyName": policy_name})


@register
class InlinePolicy(Module):
    name = "iam_inline_policy"
    summary = "One inline policy on a role, user or group: put when missing or different in meaning, or deleted."
    args_schema = {
        "properties": {
            "role": {**_ENTITY, "description": "the role the policy is embedded in (give one of role, user, group)"},
            "user": {**_ENTITY, "description": "the user the policy is embedded in"},
            "group": {**_ENTITY, "description": "the group the policy is embedded in"},
            "policy_name": {"type": "string", "minLength": 1, "maxLength": 128},
            "document": {
                "type": ["object", "string"],
                "description": "the policy document, a mapping or JSON text; compared by meaning",
            },
            "state": {"enum": ["present", "absent"], "description": "absent deletes the inline policy"},
        },
        "required": ["policy_name"],
    }
    permissions = {
        "read": ["iam:GetAccountAuthorizationDetails"],
        "write": [
            "iam:PutRolePolicy",
            "iam:DeleteRolePolicy",
            "iam:PutUserPolicy",
            "iam:DeleteUserPolicy",
            "iam:PutGroupPolicy",
            "iam:DeleteGroupPolicy",
        ],
    }
    example = """\
- name: The deploy role may read its artifacts bucket
  iam_inline_policy:
    role: deploy
    policy_name: artifacts-read
    document:
      Version: "2012-10-17"
      Statement:
        - Effect: Allow
          Action: [s3:GetObject, s3:ListBucket]
          Resource: [arn:aws:s3:::artifacts, arn:aws:s3:::artifacts/*]
"""

    def documents(self, args: dict[str, Any]) -> list[Document]:
        kind = next((k for k in KINDS if k in args), "role")
        return [Document("document", args["document"], "identity", f"{kind}_inline")] if "document" in args else []

    def validate(self, args: dict[str, Any]) -> None:
        given = [k for k in KINDS if k in args]
        if len(given) != 1:
            field = given[1] if len(given) > 1 else None
            raise ArgError(
                field, "give exactly one of role, user, group" + (f" (not {', '.join(given)})" if given else "")
            )
        kind = given[0]
        problem = awsrules.check_name(kind, args[kind])
        if problem:
            raise ArgError(kind, problem)
        problem = awsrules.check_name("inline_policy", args.get("policy_name"))
        if problem:
            raise ArgError("policy_name", problem)
        if args.get("state") == "absent":
            if "document" in args:
                raise ArgError("document", "state: absent deletes the inline policy; it takes no document")
            return
        if "document" not in args:
            raise ArgError("document", "a document is required (or state: absent to delete the policy)")
        check_document("document", args["document"])

    def read(self, ctx: ReadContext, args: dict[str, Any]) -> dict[str, Any]:
        kind, entity = target(args)
        list_key, name_key, inline_key, _, _ = KINDS[kind]
        found = next((e for e in authorization_details(ctx)[list_key] if e.get(name_key) == entity), None)
        if found is None:
            return {"exists": ctx.will_exist(kind, entity), "document": None, "others": {}}
        policy = next((p for p in found.get(inline_key, []) if p.get("PolicyName") == args["policy_name"]), None)
        document = policydoc.parse(policy["PolicyDocument"]) if policy is not None else None
        others = {
            p["PolicyName"]: _parsed(p.get("PolicyDocument"))
            for p in found.get(inline_key, [])
            if p.get("PolicyName") != args["policy_name"]
        }
        return {"exists": True, "document": document, "others": others}

    def resource_state(self, current: dict[str, Any], resource: str) -> dict[str, Any] | None:
        if current["document"] is None:
            return None
        return {"Document": current["document"]}

    def check_change(self, args: dict[str, Any], change: Change) -> str | None:
        """The change is what these args plan from its before-image (the live document, or none): the
        document a put sends, and the after-image, mean what the args' document means; the undo puts the
        before-image's document back (or deletes the policy it created); every call names the args'
        entity and policy name. Documents are compared by meaning, as planning compares them."""
        before = change.before
        if before is not None:
            problem = changecheck.shape_problem(before, {"Document": _is_document}, "before")
            if problem:
                return problem
        current = {"exists": True, "document": None if before is None else before["Document"], "others": {}}
        try:
            planned = self.plan(args, current, changecheck.scope_of(change, self.name)).changes
        except (TaskFailed, ValueError) as exc:  # ValueError: the args' document is not one IAM takes
            return f"the task's args refuse it: {exc}"
        if not planned:
            return "the before-image already has what the task's args want: they plan no change"
        return changecheck.difference(
            planned[0],
            change,
            keys=(*changecheck.KEYS, "summary"),
            texts={"PolicyDocument": _meaning},
            images={"Document": _meaning},
        )

    def plan(self, args: dict[str, Any], current: dict[str, Any], scope: str) -> PlanResult:
        kind, entity = target(args)
        policy_name = args["policy_name"]
        if not current["exists"]:
            raise TaskFailed(f"{kind} {entity} does not exist: cannot manage its inline policy {policy_name}")
        resource = f"{kind}/{entity}/{policy_name}"
        build = ChangeBuilder(scope, self.name)
        live = current["document"]
        label = f"inline policy {policy_name} of {kind} {entity}"

        if args.get("state") == "absent":
            if live is None:
                return PlanResult(noop_reason=f"{kind} {entity} has no inline policy {policy_name}, as the task wants")
            change = build.delete(
                resource,
                before={"Document": live},
                calls=(delete_call(kind, entity, policy_name),),
                undo=(put_call(kind, entity, policy_name, live),),
                summary=f"delete {label}",
                reason="state: absent",
            )
            return PlanResult([change])

        wanted = policydoc.parse(args["document"])
        if live is not None and policydoc.equivalent(wanted, live):
            return PlanResult(noop_reason=f"{label} has an equivalent document")
        others = current.get("others") or {}
        total = policylint.total_size([wanted, *others.values()])
        limit = policylint.SIZE_LIMITS[f"{kind}_inline"]
        if total > limit:
            raise TaskFailed(
                f"{label}: {kind} {entity}'s inline policies would total {total:,} characters without whitespace"
                f" (this one and {len(others)} other(s)), over AWS's limit of {limit:,} for a {kind}'s inline"
                " policies together"
            )
        change = build.change(
            "create" if live is None else "update",
            resource,
            before=None if live is None else {"Document": live},
            after={"Document": wanted},
            calls=(put_call(kind, entity, policy_name, wanted),),
            undo=(delete_call(kind, entity, policy_name),)
            if live is None
            else (put_call(kind, entity, policy_name, live),),
            summary=f"put {label}" + (" (new)" if live is None else " (document differs in meaning)"),
            reason=f"{kind} {entity} has no inline policy {policy_name}"
            if live is None
            else "the live document differs in meaning from the task's",
        )
        return PlanResult([change])
