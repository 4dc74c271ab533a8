"""iam_role: one role, managing only the fields a task names.

Each resource gets its own change, so a plan shows (and a journal undoes) exactly what moves:

    <scope>/iam_role/<name>                   the role itself: create, delete, description, session
                                              length, trust policy, permissions boundary
    <scope>/iam_role/<name>/managed/<policy>  one managed policy attachment
    <scope>/iam_role/<name>/inline/<policy>   one inline policy
    <scope>/iam_role/<name>/tags              the tags the task names (and, with purge_tags, the rest)

Documents (trust and inline) are compared by meaning: one equal in meaning to the live one writes nothing.
Nothing is detached, deleted or untagged unless the matching purge flag says so. The policy changes are
`entitypolicies`' (shared with iam_group), the tags change `tagging`'s (shared with iam_user).

Lowering MaxSessionDuration refuses callers that ask for longer sessions: before a lower cap is planned,
`read` looks up the account's AssumeRole events of the last 90 days (`events.callers`: one LookupEvents
query per region, shared by every task of the account) and `plan` names each caller above the new cap.
The task then fails unless it says `allow_caller_impact: true`; `check_callers: false` skips the look-up.
"""

from __future__ import annotations

from typing import Any

from remediator import awsrules, boundaries, changecheck, entityargs, entitypolicies, policydoc, tagging
from remediator.aws.context import ReadContext
from remediator.changes import ChangeBuilder
from remediator.entitypolicies import DOCUMENT, ROLE, dumps, stored
from remediator.errors import ArgError, TaskFailed
from remediator.events import callers
from remediator.model import ApiCall, Change, Finding
from remediator.registry import Document, Module, PlanResult, register
from remediator.roles import Role as RoleFact
from remediator.roles import aws_managed_reason, delete_role_calls, find_role, is_aws_managed_path, read_roles
from remediator.tagging import tag_values

MIN_SESSION, MAX_SESSION = 3600, 43200
# task option → the call parameters that write it (what `check_change` holds a plan file's calls to)
CHECKED_SETTINGS = {
    "description": "Description",
    "max_session_duration": "MaxSessionDuration",
    "path": "Path",
    "permissions_boundary": "PermissionsBoundary",
}
# task option → field of the role the `<name>` change manages
ROLE_FIELDS = {
    "description": "Description",
    "max_session_duration": "MaxSessionDuration",
    "trust_policy": "AssumeRolePolicyDocument",
    "permissions_boundary": "PermissionsBoundary",
}


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
            **entitypolicies.OPTIONS,
            **boundaries.OPTIONS,
            **tagging.OPTIONS,
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
        return found + entitypolicies.documents(args, ROLE)

    def validate(self, args: dict[str, Any]) -> None:
        entityargs.check_entity(args, "role")
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
        if args.get("trust_policy") is not None:
            try:
                policydoc.parse(args["trust_policy"])
            except ValueError as exc:
                raise ArgError("trust_policy", f"not a policy document: {exc}") from None
        entitypolicies.check_documents(args)
        boundaries.check(args)
        entitypolicies.check_size(args, ROLE)

    @staticmethod
    def _check_aws_rules(args: dict[str, Any]) -> None:
        """AWS's rules for the description, tags and policy names (the emulator checks none of them)."""
        if "description" in args:
            problem = awsrules.check_description(args["description"])
            if problem:
                raise ArgError("description", problem)
        tagging.check(args)
        entitypolicies.check_names(args)

    # ---- reading ----------------------------------------------------------------------------------

    def read(self, ctx: ReadContext, args: dict[str, Any]) -> dict[str, Any]:
        role = find_role(read_roles(ctx), args["name"])
        current: dict[str, Any] = {"role": role, "policies": entitypolicies.read_policy_arns(ctx, args)}
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
        if kind == tagging.PART:
            return dict(role.tags)
        return entitypolicies.policy_state(role.managed_policies, role.inline_policies, kind, name)

    # ---- planning ---------------------------------------------------------------------------------

    def check_change(self, args: dict[str, Any], change: Change) -> str | None:
        """A plan file's change is about the task's role and touches nothing else (its calls name it, or
        what the change's resource and before-image name), and writes only documents its args or before-image
        give: an edited call cannot reach another entity or widen a policy. The role's own settings and tags a
        call writes are the args' (a longer session or another boundary than the task asks for is refused)."""
        return changecheck.entity_problem(change, args, "RoleName") or changecheck.settings_problem(
            change, args, CHECKED_SETTINGS
        )

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

        managed = entitypolicies.resolve_managed(args, current.get("policies") or {})
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

        changes += entitypolicies.policy_changes(args, ROLE, name, build, managed, live_managed, live_inline)
        if role is not None:
            tags = tagging.tags_change(args, "role", name, role.tags, build)
            if tags:
                changes.append(tags)
        if not changes:
            return PlanResult(findings=findings, noop_reason=f"role {name} already has every field the task names")
        return PlanResult(changes, findings)

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
            params["Tags"] = tagging.tag_list(tags)
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
            calls.append(boundaries.boundary_call("role", name, fields["PermissionsBoundary"]))
        return tuple(calls)


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
