"""iam_role: one role, managing only the fields a task names.

Each resource gets its own change, so a plan shows (and a journal undoes) exactly what moves:

    <scope>/iam_role/<name>                   the role itself: create, delete, description, session
                                              length, trust policy, permissions boundary
    <scope>/iam_role/<name>/managed/<policy>  one managed policy attachment
    <scope>/iam_role/<name>/inline/<policy>   one inline policy
    <scope>/iam_role/<name>/tags              the tags the task names (and, with purge_tags, the rest)

Documents (trust and inline) are compared by meaning: one equal in meaning to the live one writes nothing.
Nothing is detached, deleted or untagged unless the matching purge flag says so.

Lowering MaxSessionDuration refuses callers that ask for longer sessions: before a lower cap is planned,
`read` looks up the account's AssumeRole events of the last 90 days (`events.callers`: one LookupEvents
query per region, shared by every task of the account) and `plan` names each caller above the new cap.
The task then fails unless it says `allow_caller_impact: true`; `check_callers: false` skips the look-up.
"""

from __future__ import annotations

import json
from typing import Any

from remediator import awsrules, policydoc, policylint
from remediator.aws.context import ReadContext
from remediator.aws.reads import authorization_details
from remediator.changes import ChangeBuilder
from remediator.errors import ArgError, TaskFailed
from remediator.events import callers
from remediator.model import ApiCall, Change, Finding
from remediator.registry import Document, Module, PlanResult, register
from remediator.roles import Role as RoleFact
from remediator.roles import aws_managed_reason, delete_role_calls, find_role, is_aws_managed_path, read_roles

MIN_SESSION, MAX_SESSION = 3600, 43200
INLINE_LIMIT = policylint.SIZE_LIMITS["role_inline"]  # the total of a role's inline policies
DOCUMENT = {"type": ["object", "string"], "description": "a policy document: a mapping or a JSON string"}
# task option → field of the role the `<name>` change manages
ROLE_FIELDS = {
    "description": "Description",
    "max_session_duration": "MaxSessionDuration",
    "trust_policy": "AssumeRolePolicyDocument",
    "permissions_boundary": "PermissionsBoundary",
}


def dumps(document: Any) -> str:
    """A document as compact JSON for a write, with the Version the comparison assumes when it is left out."""
    parsed = policydoc.parse(document)
    if "Version" not in parsed:
        parsed = {"Version": "2012-10-17", **parsed}
    return json.dumps(parsed, separators=(",", ":"), sort_keys=True)


def stored(document: Any) -> dict[str, Any]:
    """A task's document as AWS will hold it once written (with the Version `dumps` adds when it is left
    out): what a change's `after` records, so that it matches what a re-read returns and rollback does not
    see the change as moved."""
    return json.loads(dumps(document))


def policy_name(arn: str) -> str:
    return arn.rsplit("/", 1)[-1]


def role_state(role: RoleFact) -> dict[str, Any]:
    """The live fields of the role itself, as `<name>` changes record them in `before`."""
    return {**role.image("Description", "MaxSessionDuration", "AssumeRolePolicyDocument"), **role.deletion_image()}


def role_resource_state(role: RoleFact) -> dict[str, Any]:
    """What staleness compares for `<name>`: the role's fields and its tags. A create's `after` holds the
    tags it set, so rolling the create back deletes the role only while its tags are exactly those: a tag
    changed, added or removed since is someone's work the delete would destroy, and the create is stale.
    (Only the keys a change records are compared: a delete's `before`, `role_state`, has no tags.)"""
    return {**role_state(role), "Tags": dict(role.tags)}


def _fmt(field: str, value: Any) -> str:
    if field == "AssumeRolePolicyDocument":
        return "…"
    if value in ("", None):
        return "none"
    return repr(value) if isinstance(value, str) and field == "Description" else str(value)


@register
class Role(Module):
    name = "iam_role"
    summary = "One IAM role: trust, session length, policies, boundary and tags; fields left out are left alone."
    args_schema = {
        "properties": {
            "name": {"type": "string", "minLength": 1, "maxLength": 64, "description": "the role's name"},
            "path": {
                "type": "string",
                "minLength": 1,
                "maxLength": 512,
                "description": "path, set at creation (default /): '/' or '/…/' in printable ASCII",
            },
            "description": {"type": "string", "maxLength": 1000},
            "trust_policy": {**DOCUMENT, "description": "who may assume the role; required to create it"},
            "max_session_duration": {
                "type": "integer",
                "minimum": MIN_SESSION,
                "maximum": MAX_SESSION,
                "description": "seconds, 3600–43200",
            },
            "managed_policies": {
                "type": "array",
                "items": {"type": "string", "minLength": 1},
                "description": "ARNs, or names of customer managed policies (AWS managed ones by ARN)",
            },
            "purge_managed_policies": {
                "type": "boolean",
                "description": "detach managed policies not listed (only when managed_policies is given)",
            },
            "inline_policies": {
                "type": "object",
                "additionalProperties": DOCUMENT,
                "description": "policy name → document",
            },
            "purge_inline_policies": {
                "type": "boolean",
                "description": "delete inline policies not listed (only when inline_policies is given)",
            },
            "permissions_boundary": {"type": "string", "description": 'a policy ARN; "" removes the boundary'},
            "tags": {
                "type": "object",
                "additionalProperties": {"type": ["string", "number", "boolean"]},
                "description": "tags to set; others are left alone unless purge_tags",
            },
            "purge_tags": {"type": "boolean", "description": "remove tags not listed (only when tags is given)"},
            "state": {"enum": ["present", "absent"], "description": "absent deletes the role and its links"},
            "allow_caller_impact": {
                "type": "boolean",
                "description": "lower max_session_duration even when callers asked for longer sessions in the"
                " last 90 days (they are named in the change); without it the task fails",
            },
            "check_callers": {
                "type": "boolean",
                "description": "look up AssumeRole callers (CloudTrail LookupEvents, last 90 days) before"
                " lowering max_session_duration (default true); false skips the look-up",
            },
        },
        "required": ["name"],
    }
    permissions = {
        "read": ["iam:ListRoles", "iam:GetAccountAuthorizationDetails", "cloudtrail:LookupEvents"],
        "write": [
            "iam:CreateRole",
            "iam:UpdateRole",
            "iam:UpdateAssumeRolePolicy",
            "iam:PutRolePermissionsBoundary",
            "iam:DeleteRolePermissionsBoundary",
            "iam:AttachRolePolicy",
            "iam:DetachRolePolicy",
            "iam:PutRolePolicy",
            "iam:DeleteRolePolicy",
            "iam:TagRole",
            "iam:UntagRole",
            "iam:RemoveRoleFromInstanceProfile",
            "iam:DeleteRole",
        ],
    }
    example = """\
- name: Deploy role for CI, one hour sessions
  iam_role:
    name: ci-deploy
    description: assumed by the CI runners
    trust_policy:
      Version: "2012-10-17"
      Statement:
        - Effect: Allow
          Principal: {AWS: "arn:aws:iam::111111111111:root"}
          Action: sts:AssumeRole
    max_session_duration: 3600
    managed_policies: [deploy-artifacts, "arn:aws:iam::aws:policy/ReadOnlyAccess"]
    inline_policies:
      no-iam: {Version: "2012-10-17", Statement: [{Effect: Deny, Action: "iam:*", Resource: "*"}]}
    tags: {team: platform}
"""

    # ---- validation -------------------------------------------------------------------------------

    def documents(self, args: dict[str, Any]) -> list[Document]:
        found = [Document("trust_policy", args["trust_policy"], "trust", "trust")] if "trust_policy" in args else []
        for name, document in (args.get("inline_policies") or {}).items():
            found.append(Document(f"inline_policies.{name}", document, "identity", "role_inline"))
        return found

    def validate(self, args: dict[str, Any]) -> None:
        if args.get("state") == "absent":
            others = sorted(k for k in args if k not in ("name", "state", "path"))
            if others:
                raise ArgError(others[0], "state: absent deletes the role and takes no other role fields")
        self._check_aws_rules(args)
        if is_aws_managed_path(str(args.get("path", ""))):
            raise ArgError(
                "path",
                "service-linked (/aws-service-role/) and IAM Identity Center (/aws-reserved/) roles are managed"
                " by AWS, not by tasks",
            )
        duration = args.get("max_session_duration")
        if duration is not None and not (MIN_SESSION <= duration <= MAX_SESSION):
            raise ArgError("max_session_duration", f"{duration} is out of range: must be between 3600 and 43200")
        for field, document in [("trust_policy", args.get("trust_policy"))] + [
            (f"inline_policies.{n}", d) for n, d in (args.get("inline_policies") or {}).items()
        ]:
            if document is None:
                continue
            try:
                policydoc.parse(document)
            except ValueError as exc:
                raise ArgError(field, f"not a policy document: {exc}") from None
        boundary = args.get("permissions_boundary")
        if boundary:
            problem = awsrules.check_policy_arn(boundary)
            if problem:
                raise ArgError("permissions_boundary", f"give the boundary policy's ARN: {problem}")
        inline = args.get("inline_policies") or {}
        total = policylint.total_size(inline.values())
        if total > INLINE_LIMIT:
            raise ArgError(
                "inline_policies",
                f"the task's inline policies together are {total:,} characters without whitespace, over AWS's"
                f" limit of {INLINE_LIMIT:,} for all of a role's inline policies",
            )

    @staticmethod
    def _check_aws_rules(args: dict[str, Any]) -> None:
        """AWS's rules for names, path, description and tags (the emulator checks none of them)."""
        problem = awsrules.check_name("role", args.get("name"))
        if problem:
            raise ArgError("name", problem)
        if "path" in args:
            problem = awsrules.check_path(args["path"])
            if problem:
                raise ArgError("path", problem)
        if "description" in args:
            problem = awsrules.check_description(args["description"])
            if problem:
                raise ArgError("description", problem)
        if "tags" in args:
            problem = awsrules.check_tags(tag_values(args))
            if problem:
                raise ArgError("tags", problem)
        for policy in args.get("inline_policies") or {}:
            problem = awsrules.check_name("inline_policy", policy)
            if problem:
                raise ArgError(f"inline_policies.{policy}", problem)
        for entry in args.get("managed_policies") or []:
            if not isinstance(entry, str):
                continue  # the schema reports it
            if entry.startswith("arn:"):
                problem = awsrules.check_policy_arn(entry)
            else:
                problem = awsrules.check_name("policy", entry)
            if problem:
                raise ArgError("managed_policies", problem)

    # ---- reading ----------------------------------------------------------------------------------

    def read(self, ctx: ReadContext, args: dict[str, Any]) -> dict[str, Any]:
        role = find_role(read_roles(ctx), args["name"])
        wanted = {p.casefold() for p in args.get("managed_policies") or [] if not p.startswith("arn:")}
        policies = {}
        if wanted:
            for policy in authorization_details(ctx)["Policies"]:
                if policy["PolicyName"].casefold() in wanted:
                    policies[policy["PolicyName"]] = policy["Arn"]
            for planned_name, arn in ctx.planned_policies().items():
                if planned_name.casefold() in wanted:
                    policies.setdefault(planned_name, arn)
        current: dict[str, Any] = {"role": role, "policies": policies}
        if role is not None and lowers_session(args, role) and args.get("check_callers") is not False:
            current.update(callers.current_callers(ctx, [role.arn], int(args["max_session_duration"])))
        return current

    def load_current(self, data: dict[str, Any]) -> dict[str, Any]:
        role = data.get("role")
        loaded = {**data, "role": None if role is None else RoleFact.from_json(role)}
        if "callers" in data:
            loaded["callers"] = [callers.AssumeRoleCall.from_json(c) for c in data["callers"]]
        return loaded

    def resource_state(self, current: dict[str, Any], resource: str) -> dict[str, Any] | None:
        role_name, _, rest = resource.partition("/")
        role = find_role([current["role"]] if current.get("role") else [], role_name)
        if role is None:
            return None
        if not rest:
            return role_resource_state(role)
        kind, _, name = rest.partition("/")
        if kind == "tags":
            return dict(role.tags)
        if kind == "inline":
            document = role.inline_policies.get(name)
            return None if document is None else {"PolicyDocument": document}
        if kind == "managed":
            arn = next((a for a, n in role.managed_policies.items() if n == name or a == name), None)
            return None if arn is None else {"PolicyArn": arn}
        return None

    # ---- planning ---------------------------------------------------------------------------------

    def plan(self, args: dict[str, Any], current: dict[str, Any], scope: str) -> PlanResult:
        role = current.get("role")
        name = role.name if role else args["name"]
        build = ChangeBuilder(scope, self.name)

        if role is not None and role.aws_managed:
            raise TaskFailed(f"role {name} is {aws_managed_reason(role)}; refused")

        if args.get("state") == "absent":
            if role is None:
                return PlanResult(noop_reason=f"role {args['name']} does not exist, as the task wants")
            change = build.delete(
                name,
                before=role_state(role),
                calls=role.delete_calls(),
                undo=None,
                summary=f"delete role {name} (cannot be undone: a new role gets a new id)",
                reason="state: absent",
            )
            return PlanResult([change])

        managed = self._resolve_managed(args, current.get("policies") or {})
        changes: list[Change] = []
        findings: list[Finding] = []
        if role is None:
            changes.append(self._create(args, name, build))
            live_managed: dict[str, str] = {}
            live_inline: dict[str, Any] = {}
        else:
            update = self._update(args, role, build, self._caller_impact(args, role, current))
            if update:
                changes.append(update)
            if "path" in args and args["path"] != role.path:
                findings.append(
                    build.finding(
                        name,
                        "medium",
                        f"role {name} has path {role.path}, the task wants {args['path']}: a path cannot be"
                        " changed, only set when the role is created",
                    )
                )
            live_managed, live_inline = role.managed_policies, role.inline_policies

        self._check_inline_total(args, name, live_inline)
        changes += self._managed(args, name, build, managed, live_managed)
        changes += self._inline(args, name, build, live_inline)
        if role is not None:
            tags = self._tags(args, role, build)
            if tags:
                changes.append(tags)
        if not changes:
            return PlanResult(findings=findings, noop_reason=f"role {name} already has every field the task names")
        return PlanResult(changes, findings)

    def _resolve_managed(self, args: dict[str, Any], policies: dict[str, str]) -> list[str]:
        arns = []
        for entry in args.get("managed_policies") or []:
            if entry.startswith("arn:"):
                arns.append(entry)
                continue
            arn = policies.get(entry) or next(
                (a for n, a in policies.items() if n.casefold() == entry.casefold()), None
            )
            if arn is None:
                raise TaskFailed(
                    f"managed policy {entry!r} not found among the account's customer managed policies"
                    " (give AWS managed policies by ARN)"
                )
            arns.append(arn)
        return list(dict.fromkeys(arns))

    @staticmethod
    def _check_inline_total(args: dict[str, Any], name: str, live: dict[str, Any]) -> None:
        """AWS limits the total size of a role's inline policies: the live ones the task keeps (neither
        replaced nor purged) plus the task's own must fit, or the first PutRolePolicy over it fails."""
        if "inline_policies" not in args:
            return
        wanted = args.get("inline_policies") or {}
        kept = [] if args.get("purge_inline_policies") else [d for p, d in live.items() if p not in wanted]
        total = policylint.total_size([*kept, *wanted.values()])
        if total > INLINE_LIMIT:
            raise TaskFailed(
                f"role {name}'s inline policies would total {total:,} characters without whitespace"
                f" ({len(kept)} kept, {len(wanted)} from the task), over AWS's limit of {INLINE_LIMIT:,}:"
                " shorten them, or purge the ones no longer needed (purge_inline_policies)"
            )

    def _create(self, args: dict[str, Any], name: str, build: ChangeBuilder) -> Change:
        if args.get("trust_policy") is None:
            raise TaskFailed(f"role {name} does not exist: trust_policy is required to create it")
        trust = stored(args["trust_policy"])
        params: dict[str, Any] = {
            "RoleName": name,
            "Path": args.get("path", "/"),
            "AssumeRolePolicyDocument": dumps(trust),
        }
        after: dict[str, Any] = {"RoleName": name, "Path": params["Path"], "AssumeRolePolicyDocument": trust}
        if "description" in args:
            params["Description"] = after["Description"] = args["description"]
        if "max_session_duration" in args:
            params["MaxSessionDuration"] = after["MaxSessionDuration"] = int(args["max_session_duration"])
        if args.get("permissions_boundary"):
            params["PermissionsBoundary"] = after["PermissionsBoundary"] = args["permissions_boundary"]
        tags = tag_values(args)
        if tags:
            params["Tags"] = [{"Key": k, "Value": v} for k, v in sorted(tags.items())]
            after["Tags"] = tags
        return build.create(
            name,
            after=after,
            calls=(ApiCall("iam", "create_role", params),),
            undo=delete_role_calls(name, boundary=params.get("PermissionsBoundary", "")),
            summary=f"create role {name}" + (f" at {params['Path']}" if params["Path"] != "/" else ""),
            reason="the role does not exist",
            creates=f"role:{name}",
        )

    @staticmethod
    def _caller_impact(args: dict[str, Any], role: RoleFact, current: dict[str, Any]) -> str:
        """The callers a lower MaxSessionDuration refuses, for the change's reason ("" when none); fails the
        task when there are any and it does not say allow_caller_impact: true. No `callers` in `current`:
        no look-up was made (nothing lowered, or check_callers: false)."""
        if not lowers_session(args, role) or args.get("check_callers") is False:
            return ""
        if current.get("callers_error"):
            raise TaskFailed(current["callers_error"])
        cap = int(args["max_session_duration"])
        impacts = callers.impacted(current.get("callers") or [], role.arn, cap)
        if not impacts:
            return ""
        named = "; ".join(i.describe() for i in impacts)
        if not args.get("allow_caller_impact"):
            raise TaskFailed(
                f"role {role.name}: lowering MaxSessionDuration {role.max_session_duration} → {cap} would refuse"
                f" callers that asked for longer sessions in the last {callers.WINDOW_DAYS} days: {named}."
                " Set allow_caller_impact: true to lower it anyway, or check_callers: false to skip the look-up"
            )
        return f"callers that asked for longer sessions: {named} (allow_caller_impact: true)"

    def _update(self, args: dict[str, Any], role: RoleFact, build: ChangeBuilder, impact: str = "") -> Change | None:
        name = role.name
        before: dict[str, Any] = {}
        after: dict[str, Any] = {}
        for option, field in ROLE_FIELDS.items():
            if option not in args:
                continue
            live, wanted = role.value(field), args[option]
            if field == "AssumeRolePolicyDocument":
                wanted = stored(wanted)
                if policydoc.equivalent(live, wanted):
                    continue
            elif field == "MaxSessionDuration":
                wanted = int(wanted)
            if live != wanted:
                before[field], after[field] = live, wanted
        if not after:
            return None
        # Only the fields compared: an edit made to another field between plan and apply survives.
        calls = self._role_calls(name, after)
        undo = self._role_calls(name, before)
        summary = ", ".join(
            "trust policy changed"
            if f == "AssumeRolePolicyDocument"
            else f"{f} {_fmt(f, before[f])} → {_fmt(f, after[f])}"
            for f in after
        )
        return build.update(
            name,
            before=before,
            after=after,
            calls=calls,
            undo=undo,
            summary=f"role {name}: {summary}" + (" (callers asked for longer sessions)" if impact else ""),
            reason="fields differ from the task" + (f"; {impact}" if impact else ""),
        )

    @staticmethod
    def _role_calls(name: str, fields: dict[str, Any]) -> tuple[ApiCall, ...]:
        calls = []
        update = {k: fields[k] for k in ("Description", "MaxSessionDuration") if k in fields}
        if update:
            calls.append(ApiCall("iam", "update_role", {"RoleName": name, **update}))
        if "AssumeRolePolicyDocument" in fields:
            document = dumps(fields["AssumeRolePolicyDocument"])
            calls.append(ApiCall("iam", "update_assume_role_policy", {"RoleName": name, "PolicyDocument": document}))
        if "PermissionsBoundary" in fields:
            arn = fields["PermissionsBoundary"]
            if arn:
                calls.append(
                    ApiCall("iam", "put_role_permissions_boundary", {"RoleName": name, "PermissionsBoundary": arn})
                )
            else:
                calls.append(ApiCall("iam", "delete_role_permissions_boundary", {"RoleName": name}))
        return tuple(calls)

    def _managed(
        self, args: dict[str, Any], name: str, build: ChangeBuilder, wanted: list[str], live: dict[str, str]
    ) -> list[Change]:
        changes = []
        for arn in wanted:
            if arn in live:
                continue
            resource = f"{name}/managed/{policy_name(arn)}"
            changes.append(
                build.create(
                    resource,
                    after={"PolicyArn": arn},
                    calls=(ApiCall("iam", "attach_role_policy", {"RoleName": name, "PolicyArn": arn}),),
                    undo=(ApiCall("iam", "detach_role_policy", {"RoleName": name, "PolicyArn": arn}),),
                    summary=f"attach {arn} to role {name}",
                    reason="the task lists it",
                )
            )
        if args.get("purge_managed_policies") and "managed_policies" in args:
            for arn in sorted(set(live) - set(wanted)):
                resource = f"{name}/managed/{live[arn]}"
                changes.append(
                    build.delete(
                        resource,
                        before={"PolicyArn": arn},
                        calls=(ApiCall("iam", "detach_role_policy", {"RoleName": name, "PolicyArn": arn}),),
                        undo=(ApiCall("iam", "attach_role_policy", {"RoleName": name, "PolicyArn": arn}),),
                        summary=f"detach {arn} from role {name}",
                        reason="not listed, and purge_managed_policies is on",
                    )
                )
        return changes

    def _inline(self, args: dict[str, Any], name: str, build: ChangeBuilder, live: dict[str, Any]) -> list[Change]:
        changes = []
        wanted = {k: stored(v) for k, v in (args.get("inline_policies") or {}).items()}

        def put(policy: str, document: Any) -> ApiCall:
            params = {"RoleName": name, "PolicyName": policy, "PolicyDocument": dumps(document)}
            return ApiCall("iam", "put_role_policy", params)

        def delete(policy: str) -> ApiCall:
            return ApiCall("iam", "delete_role_policy", {"RoleName": name, "PolicyName": policy})

        for policy, document in wanted.items():
            old = live.get(policy)
            if old is not None and policydoc.equivalent(old, document):
                continue
            resource = f"{name}/inline/{policy}"
            changes.append(
                build.change(
                    "create" if old is None else "update",
                    resource,
                    before=None if old is None else {"PolicyDocument": old},
                    after={"PolicyDocument": document},
                    calls=(put(policy, document),),
                    undo=(delete(policy),) if old is None else (put(policy, old),),
                    summary=f"{'add' if old is None else 'update'} inline policy {policy} of role {name}",
                    reason="the task's document differs" if old is not None else "the task lists it",
                )
            )
        if args.get("purge_inline_policies") and "inline_policies" in args:
            for policy in sorted(set(live) - set(wanted)):
                resource = f"{name}/inline/{policy}"
                changes.append(
                    build.delete(
                        resource,
                        before={"PolicyDocument": live[policy]},
                        calls=(delete(policy),),
                        undo=(put(policy, live[policy]),),
                        summary=f"delete inline policy {policy} of role {name}",
                        reason="not listed, and purge_inline_policies is on",
                    )
                )
        return changes

    def _tags(self, args: dict[str, Any], role: RoleFact, build: ChangeBuilder) -> Change | None:
        name, live = role.name, role.tags
        wanted = tag_values(args)
        to_set = {k: v for k, v in wanted.items() if live.get(k) != v}
        to_remove = sorted(set(live) - set(wanted)) if args.get("purge_tags") and "tags" in args else []
        if not to_set and not to_remove:
            return None
        count = len((set(live) - set(to_remove)) | set(wanted))
        if count > awsrules.MAX_TAGS:
            raise TaskFailed(
                f"role {name} would have {count} tags ({len(live)} now, the task adds {len(set(to_set) - set(live))}):"
                f" AWS allows at most {awsrules.MAX_TAGS} (purge_tags removes the ones the task does not list)"
            )
        before = {k: live.get(k) for k in [*to_set, *to_remove]}
        after = {**to_set, **{k: None for k in to_remove}}
        calls, undo = [], []
        if to_set:
            calls.append(ApiCall("iam", "tag_role", {"RoleName": name, "Tags": _tag_list(to_set)}))
        if to_remove:
            calls.append(ApiCall("iam", "untag_role", {"RoleName": name, "TagKeys": to_remove}))
        added = sorted(k for k in to_set if k not in live)
        restore = {k: v for k, v in before.items() if v is not None}
        if added:
            undo.append(ApiCall("iam", "untag_role", {"RoleName": name, "TagKeys": added}))
        if restore:
            undo.append(ApiCall("iam", "tag_role", {"RoleName": name, "Tags": _tag_list(restore)}))
        parts = [f"{k} {before[k] if before[k] is not None else '(none)'} → {v}" for k, v in to_set.items()]
        parts += [f"remove {k}" for k in to_remove]
        resource = f"{name}/tags"
        return build.update(
            resource,
            before=before,
            after=after,
            calls=tuple(calls),
            undo=tuple(undo),
            summary=f"role {name} tags: {', '.join(parts)}",
            reason="tags differ from the task",
        )


def lowers_session(args: dict[str, Any], role: RoleFact) -> bool:
    """Whether the task lowers the (existing, task-managed) role's MaxSessionDuration."""
    wanted = args.get("max_session_duration")
    return (
        args.get("state") != "absent"
        and not role.aws_managed
        and isinstance(wanted, int | str)
        and str(wanted).isdigit()
        and int(wanted) < role.max_session_duration
    )


def tag_values(args: dict[str, Any]) -> dict[str, str]:
    """The task's tags as AWS stores them: strings (YAML's true is 'true')."""
    return {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in (args.get("tags") or {}).items()}


def _tag_list(tags: dict[str, str]) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in sorted(tags.items())]
