"""iam_group: one group, where permissions live, managing only the fields a task names.

Each resource gets its own change, so a plan shows (and a journal undoes) exactly what moves:

    <scope>/iam_group/<name>                   the group itself: create, path, delete
    <scope>/iam_group/<name>/managed/<policy>  one managed policy attachment
    <scope>/iam_group/<name>/inline/<policy>   one inline policy
    <scope>/iam_group/<name>/member/<user>     one user's membership

Everything is read from the shared GetAccountAuthorizationDetails read (`groups.read_groups`). Inline
documents are compared by meaning. Nothing is detached, deleted or removed unless the matching purge flag
says so, and a purge flag acts only when the task gives its list. The policy changes are
`entitypolicies`' (shared with iam_role), the membership changes `memberships`' (shared with iam_user).

A member must exist, or be created by an earlier task of the same run; a managed policy given by name
must be a customer managed policy of the account, or one an earlier task creates. Anything else fails the
task: a typo in a name must not pass as "nothing to do".

A group's path can be changed in place (UpdateGroup NewPath): its ARN changes with it, its id does not.
`state: absent` empties the group in the order AWS requires, then deletes it; the undo recreates it with
the same name, path, policies and members (so the same ARN; a new group id, which nothing refers to:
a group cannot be a principal).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from remediator import awsrules, changecheck, entityargs, entitypolicies
from remediator.aws.context import ReadContext
from remediator.aws.reads import authorization_details
from remediator.changes import ChangeBuilder
from remediator.entitypolicies import GROUP
from remediator.errors import ArgError, TaskFailed
from remediator.facts import Fact, key
from remediator.groups import Group as GroupFact
from remediator.groups import find_group, read_groups
from remediator.iamnames import folded
from remediator.memberships import MEMBERS, add_call, membership_changes
from remediator.model import ApiCall, Change
from remediator.registry import Document, Module, PlanResult, literal, register

WRITES = {
    "create": "iam:CreateGroup",
    "path": "iam:UpdateGroup",
    "attach": "iam:AttachGroupPolicy",
    "detach": "iam:DetachGroupPolicy",
    "put": "iam:PutGroupPolicy",
    "delete_inline": "iam:DeleteGroupPolicy",
    "add": "iam:AddUserToGroup",
    "remove": "iam:RemoveUserFromGroup",
    "delete": "iam:DeleteGroup",
}


@dataclass(frozen=True)
class GroupCurrent(Fact):
    """What `iam_group` reads: the group (None when it does not exist), and what its task's names resolve
    to: the users that exist (as AWS spells them), the ones earlier tasks create, and the customer managed
    policies (name → ARN, earlier tasks' included)."""

    group: GroupFact | None = field(metadata=key("group", of=GroupFact))
    users: tuple[str, ...] = field(default=(), metadata=key("users"))
    planned_users: tuple[str, ...] = field(default=(), metadata=key("planned_users"))
    policies: dict[str, str] = field(default_factory=dict, metadata=key("policies"))


def group_state(group: GroupFact) -> dict[str, Any]:
    """The live fields of the group itself, as `<name>` changes record them in `before`."""
    return group.to_json()


def _count(number: int, noun: str) -> str:
    plural = noun[:-1] + "ies" if noun.endswith("y") else noun + "s"
    return f"{number} {noun if number == 1 else plural}"


@register
class Group(Module):
    name = "iam_group"
    summary = "One IAM group: path, managed and inline policies, members; fields left out are left alone."
    args_schema = {
        "properties": {
            "name": {"type": "string", "minLength": 1, "maxLength": 128, "description": "the group's name"},
            "path": {
                "type": "string",
                "minLength": 1,
                "maxLength": 512,
                "description": "path (default / at creation): '/' or '/…/' in printable ASCII; changing it"
                " changes the group's ARN",
            },
            **entitypolicies.OPTIONS,
            "members": {
                "type": "array",
                "items": {"type": "string", "minLength": 1},
                "description": "user names to add (each must exist, or be created by an earlier task)",
            },
            "purge_members": {
                "type": "boolean",
                "description": "remove users not listed, so membership is exactly members (only when members is given)",
            },
            "state": {
                "enum": ["present", "absent"],
                "description": "absent removes members and policies, then deletes the group",
            },
        },
        "required": ["name"],
    }
    permissions = {
        "read": ["iam:GetAccountAuthorizationDetails"],
        "write": list(WRITES.values()),
    }
    example = """\
- name: Operators get their permissions through one group
  iam_group:
    name: operators
    path: /teams/
    managed_policies: [ec2-lifecycle-from-office, "arn:aws:iam::aws:policy/ReadOnlyAccess"]
    purge_managed_policies: true
    inline_policies:
      no-iam: {Version: "2012-10-17", Statement: [{Effect: Deny, Action: "iam:*", Resource: "*"}]}
    members: [alice, bob]
    purge_members: true
"""

    # ---- permissions and validation ---------------------------------------------------------------

    def write_permissions(self, args: dict[str, Any]) -> list[str]:
        """Only the writes these options can lead to; a templated state grants them all."""
        state = literal(args, "state", "present")
        if state == "absent":
            return [WRITES[k] for k in ("remove", "detach", "delete_inline", "delete")]
        if state != "present":
            return super().write_permissions(args)
        wanted = ["create"]
        lists = (
            ("path", "path", None),
            ("managed_policies", "attach", ("purge_managed_policies", "detach")),
            ("inline_policies", "put", ("purge_inline_policies", "delete_inline")),
            ("members", "add", ("purge_members", "remove")),
        )
        for option, write, purge in lists:
            if option not in args:
                continue
            wanted.append(write)
            if purge is not None and literal(args, purge[0], False) is not False:
                wanted.append(purge[1])
        return [WRITES[k] for k in wanted]

    def documents(self, args: dict[str, Any]) -> list[Document]:
        return entitypolicies.documents(args, GROUP)

    def validate(self, args: dict[str, Any]) -> None:
        entityargs.check_entity(args, "group")
        self._check_aws_rules(args)
        entitypolicies.check_documents(args)
        entitypolicies.check_size(args, GROUP)

    @staticmethod
    def _check_aws_rules(args: dict[str, Any]) -> None:
        """AWS's rules for policy and member names (the emulator checks none of them)."""
        entitypolicies.check_names(args)
        for member in args.get("members") or []:
            problem = awsrules.check_name("user", member)
            if problem:
                raise ArgError("members", problem)

    # ---- reading ----------------------------------------------------------------------------------

    def read(self, ctx: ReadContext, args: dict[str, Any]) -> GroupCurrent:
        group = find_group(read_groups(ctx), args["name"])
        if args.get("state") == "absent":
            return GroupCurrent(group=group)
        details = authorization_details(ctx)
        members = list(args.get("members") or [])
        wanted_users = folded(members)
        users = sorted(u["UserName"] for u in details["UserDetailList"] if u["UserName"].casefold() in wanted_users)
        planned = sorted({m for m in members if m.casefold() not in folded(users) and ctx.will_exist("user", m)})
        policies = entitypolicies.read_policy_arns(ctx, args)
        return GroupCurrent(group=group, users=tuple(users), planned_users=tuple(planned), policies=policies)

    def load_current(self, data: dict[str, Any]) -> GroupCurrent:
        return GroupCurrent.from_json(data)

    def resource_state(self, current: GroupCurrent, resource: str) -> dict[str, Any] | None:
        group_name, _, rest = resource.partition("/")
        group = find_group([current.group] if current.group else [], group_name)
        if group is None:
            return None
        if not rest:
            return group_state(group)
        kind, _, name = rest.partition("/")
        if kind == "member":
            member = group.has_member(name)
            return None if member is None else {"UserName": member}
        return entitypolicies.policy_state(group.managed_policies, group.inline_policies, kind, name)

    # ---- planning ---------------------------------------------------------------------------------

    def check_change(self, args: dict[str, Any], change: Change) -> str | None:
        """A plan file's change is about the task's group and touches nothing else (its calls name it, or
        what the change's resource and before-image name), and writes only documents its args or before-image
        give, and settings and tags as its args say: an edited call cannot reach another entity or widen a
        policy."""
        return changecheck.entity_problem(change, args, "GroupName") or changecheck.settings_problem(
            change, args, {"path": ("Path", "NewPath")}
        )

    def plan(self, args: dict[str, Any], current: GroupCurrent, scope: str) -> PlanResult:
        group = current.group
        name = group.name if group else args["name"]
        build = ChangeBuilder(scope, self.name)

        if args.get("state") == "absent":
            if group is None:
                return PlanResult(noop_reason=f"group {args['name']} does not exist, as the task wants")
            return PlanResult([self._delete(group, build)])

        managed = entitypolicies.resolve_managed(args, current.policies)
        members = self._resolve_members(args, current)
        changes: list[Change] = []
        if group is None:
            changes.append(self._create(args, name, build))
            live_managed: dict[str, str] = {}
            live_inline: dict[str, Any] = {}
            live_members: tuple[str, ...] = ()
        else:
            path = self._path(args, group, build)
            if path:
                changes.append(path)
            live_managed, live_inline, live_members = group.managed_policies, group.inline_policies, group.members

        changes += entitypolicies.policy_changes(args, GROUP, name, build, managed, live_managed, live_inline)
        changes += membership_changes(args, MEMBERS, name, build, members, live_members, current.planned_users)
        if not changes:
            return PlanResult(noop_reason=f"group {name} already has every field the task names")
        return PlanResult(changes)

    @staticmethod
    def _resolve_members(args: dict[str, Any], current: GroupCurrent) -> list[str]:
        """The task's members as AWS spells them; a user that neither exists nor is created by an earlier
        task fails the task."""
        known = {u.casefold(): u for u in (*current.planned_users, *current.users)}
        missing = [m for m in args.get("members") or [] if m.casefold() not in known]
        if missing:
            names = ", ".join(repr(m) for m in missing)
            raise TaskFailed(
                f"group {args['name']}: no such user {names}: a member must exist, or be created by an earlier"
                " task of the run"
            )
        return list(dict.fromkeys(known[m.casefold()] for m in args.get("members") or []))

    def _create(self, args: dict[str, Any], name: str, build: ChangeBuilder) -> Change:
        path = args.get("path", "/")
        return build.create(
            name,
            after={"GroupName": name, "Path": path},
            calls=(ApiCall("iam", "create_group", {"GroupName": name, "Path": path}),),
            undo=(ApiCall("iam", "delete_group", {"GroupName": name}),),
            summary=f"create group {name}" + (f" at {path}" if path != "/" else ""),
            reason="the group does not exist",
            creates=f"group:{name}",
        )

    @staticmethod
    def _path(args: dict[str, Any], group: GroupFact, build: ChangeBuilder) -> Change | None:
        """AWS moves a group to another path in place (UpdateGroup NewPath): same id, members and
        policies; the ARN, which holds the path, changes."""
        if "path" not in args or args["path"] == group.path:
            return None
        name, old, new = group.name, group.path, args["path"]
        return build.update(
            name,
            before={"Path": old},
            after={"Path": new},
            calls=(ApiCall("iam", "update_group", {"GroupName": name, "NewPath": new}),),
            undo=(ApiCall("iam", "update_group", {"GroupName": name, "NewPath": old}),),
            summary=f"group {name}: path {old} → {new} (its ARN changes with the path)",
            reason="the path differs from the task",
        )

    @staticmethod
    def _delete(group: GroupFact, build: ChangeBuilder) -> Change:
        name = group.name
        steps = [
            f"removing {_count(len(group.members), 'member')}" if group.members else "",
            f"detaching {_count(len(group.managed_policies), 'managed policy')}" if group.managed_policies else "",
            f"deleting {_count(len(group.inline_policies), 'inline policy')}" if group.inline_policies else "",
        ]
        emptying = [step for step in steps if step]
        after = ", ".join(emptying[:-1]) + (" and " if len(emptying) > 1 else "") + (emptying[-1] if emptying else "")
        return build.delete(
            name,
            before=group_state(group),
            calls=group.delete_calls(),
            undo=recreate_calls(group),
            summary=f"delete group {name}"
            + (f" after {after}" if emptying else "")
            + "; undo recreates it as it was, under a new group id",
            reason="state: absent",
        )


def recreate_calls(group: GroupFact) -> tuple[ApiCall, ...]:
    """A deleted group made again as it was: same name and path (so the same ARN), then its inline and
    managed policies, then its members. AWS gives it a new id."""
    name = group.name
    calls = [ApiCall("iam", "create_group", {"GroupName": name, "Path": group.path})]
    calls += [GROUP.put_call(name, p, group.inline_policies[p]) for p in sorted(group.inline_policies)]
    calls += [GROUP.attach_call(name, a) for a in sorted(group.managed_policies)]
    calls += [add_call(name, u) for u in group.members]
    return tuple(calls)
