"""iam_user: one IAM user, managing only the fields a task names. Users get their permissions from groups,
so no option attaches a policy to a user.

Each resource gets its own change, so a plan shows (and a journal undoes) exactly what moves:

    <scope>/iam_user/<name>                 the user itself: create, delete, path, permissions boundary
    <scope>/iam_user/<name>/group/<group>   one group membership
    <scope>/iam_user/<name>/tags            the tags the task names (and, with purge_tags, the rest)
    <scope>/iam_user/<name>/console         the console password (console_access: false deletes it)

The user is read from the shared authorization details (`users.from_detail`; no credential report, which
only a sweep's last-use rules need). Per-user calls are made only for the named user, and only when the
task needs them: GetLoginProfile when it says `console_access`, and for `state: absent` the live keys
(`users.confirm`) and the dependents (`users.read_dependents`) that `users.delete_user_calls` removes
before the user, in AWS's order, as the `iam_users` sweep does. Neither a deletion nor a removed console
password can be undone, and neither is ever planned for the user the run signs as: the task fails instead.
The tags change is `tagging`'s (shared with iam_role), the membership changes `memberships`' (shared with
iam_group).
"""

from __future__ import annotations

from typing import Any

from remediator import awsrules, boundaries, changecheck, entityargs, iamnames, tagging
from remediator.aws.context import ReadContext
from remediator.aws.reads import authorization_details
from remediator.changes import ChangeBuilder
from remediator.errors import ArgError, TaskFailed
from remediator.iamnames import distinct, same_name
from remediator.identity import run_identity
from remediator.memberships import GROUPS, membership_changes
from remediator.model import ApiCall, Change, Finding
from remediator.registry import Module, PlanResult, literal, register
from remediator.tagging import tag_values
from remediator.users import (
    DELETE_WRITES,
    User,
    confirm,
    delete_user_calls,
    dependents_text,
    from_detail,
    read_console,
    read_dependents,
)

GROUP_PART, TAGS_PART, CONSOLE_PART = GROUPS.part, tagging.PART, "console"
# task option → field of the user that the `<name>` change manages
USER_FIELDS = {"path": "Path", "permissions_boundary": "PermissionsBoundary"}
_GROUP = {"type": "string", "minLength": 1, "maxLength": 128}


def boundary_of(ctx: ReadContext, user: User | None) -> str:
    """The user's permissions boundary ARN ("" for none), from the same authorization details as the user."""
    if user is None:
        return ""
    detail = next((d for d in authorization_details(ctx)["UserDetailList"] if d["UserName"] == user.name), {})
    return (detail.get("PermissionsBoundary") or {}).get("PermissionsBoundaryArn", "")


def deletion_image(user: User) -> dict[str, Any]:
    """Everything a deletion removes: a key, password, device or link added after the plan makes it stale
    (its DeleteUser would meet DeleteConflict)."""
    assert user.dependents is not None, "asked only of users whose dependents were read"
    return {
        "Keys": [k.key_id for k in user.keys],
        "LoginProfile": bool(user.console),
        "Groups": sorted(user.groups),
        "InlinePolicies": sorted(user.inline_policies),
        "ManagedPolicies": sorted(user.managed_policies),
        **user.dependents.to_json(),
    }


def user_fields(user: User, boundary: str) -> dict[str, Any]:
    """The user's own fields that `<name>` changes compare: name, path and boundary."""
    return {**user.image("UserName", "Path"), "PermissionsBoundary": boundary}


def user_state(user: User, boundary: str) -> dict[str, Any]:
    """The live state of the user itself, for staleness: its fields and tags (what a create's `after` holds,
    which rollback compares), and what a deletion removes when the dependents were read."""
    state = {**user_fields(user, boundary), "Tags": dict(user.tags)}
    if user.dependents is not None:
        state.update(deletion_image(user))
    return state


def _fmt(value: Any) -> str:
    return "none" if value in ("", None) else str(value)


@register
class IamUser(Module):
    name = "iam_user"
    summary = (
        "One IAM user: path, group memberships, permissions boundary, tags and console password; fields left"
        " out are left alone. Permissions come from groups, never from policies on the user."
    )
    args_schema = {
        "properties": {
            "name": {"type": "string", "minLength": 1, "maxLength": 64, "description": "the user's name"},
            "path": {
                "type": "string",
                "minLength": 1,
                "maxLength": 512,
                "description": "path (default / at creation): '/' or '/…/' in printable ASCII; changing it"
                " changes the user's ARN",
            },
            "groups": {
                "type": "array",
                "items": _GROUP,
                "description": "groups the user is in; each must exist or be created by an earlier task",
            },
            "purge_groups": {
                "type": "boolean",
                "description": "remove the user from groups not listed (only when groups is given)",
            },
            **boundaries.OPTIONS,
            **tagging.OPTIONS,
            "console_access": {
                "type": "boolean",
                "description": "false deletes the console password (it cannot be restored); true only checks,"
                " a user without one is a finding (a password is never created)",
            },
            "state": {
                "enum": ["present", "absent"],
                "description": "absent deletes the user with its keys, password, devices, groups and policies",
            },
        },
        "required": ["name"],
    }
    permissions = {
        "read": [
            "iam:GetAccountAuthorizationDetails",
            "iam:GenerateCredentialReport",
            "iam:GetCredentialReport",
            "iam:GetLoginProfile",
            "iam:GetUser",
            "iam:ListAccessKeys",
            "iam:GetAccessKeyLastUsed",
            "iam:ListSigningCertificates",
            "iam:ListSSHPublicKeys",
            "iam:ListServiceSpecificCredentials",
            "iam:ListMFADevices",
            "sts:GetCallerIdentity",
        ],
        "write": [
            "iam:CreateUser",
            "iam:UpdateUser",
            "iam:PutUserPermissionsBoundary",
            "iam:DeleteUserPermissionsBoundary",
            "iam:AddUserToGroup",
            "iam:TagUser",
            "iam:UntagUser",
            *DELETE_WRITES,  # RemoveUserFromGroup and DeleteLoginProfile among them
        ],
    }
    example = """\
- name: Alice, a developer; her permissions come from her groups
  iam_user:
    name: alice
    path: /people/
    groups: [developers, readers]
    purge_groups: true
    permissions_boundary: arn:aws:iam::111111111111:policy/developer-boundary
    tags: {team: platform}
    console_access: true         # only checks: a user without a console password is a finding
- name: The CI user signs in with keys only
  iam_user: {name: ci-bot, console_access: false}
- name: Bob has left
  iam_user: {name: bob, state: absent}
"""

    def write_permissions(self, args: dict[str, Any]) -> list[str]:
        state = literal(args, "state", "present")
        if state == "absent":
            return list(DELETE_WRITES)
        if state != "present":
            return super().write_permissions(args)
        writes = ["iam:CreateUser"]
        if "path" in args:
            writes.append("iam:UpdateUser")
        if "permissions_boundary" in args:
            writes += ["iam:PutUserPermissionsBoundary", "iam:DeleteUserPermissionsBoundary"]
        if "groups" in args:
            writes.append("iam:AddUserToGroup")
            if "purge_groups" in args:
                writes.append("iam:RemoveUserFromGroup")
        if "tags" in args:
            writes.append("iam:TagUser")
            if "purge_tags" in args:
                writes.append("iam:UntagUser")
        if "console_access" in args and literal(args, "console_access") is not True:
            writes.append("iam:DeleteLoginProfile")
        return writes

    # ---- validation -------------------------------------------------------------------------------

    def validate(self, args: dict[str, Any]) -> None:
        entityargs.check_entity(args, "user", absent_takes=("name", "state"))
        for group in args.get("groups") or []:
            problem = awsrules.check_name("group", group)
            if problem:
                raise ArgError("groups", problem)
        tagging.check(args)
        boundaries.check(args)

    # ---- reading ----------------------------------------------------------------------------------

    def read(self, ctx: ReadContext, args: dict[str, Any]) -> dict[str, Any]:
        own = run_identity(ctx).user_name
        details = authorization_details(ctx)["UserDetailList"]
        named = [from_detail(d, None) for d in details if same_name(d["UserName"], args["name"])]
        user = iamnames.find(named, args["name"])
        boundary = boundary_of(ctx, user)
        if user is not None and not same_name(user.name, own) and args.get("state") == "absent":
            user = read_dependents(ctx, confirm(ctx, user))
        elif user is not None and "console_access" in args:
            user = read_console(ctx, user)
        groups = self._groups_known(ctx, args)
        return {"own_user": own, "user": user, "permissions_boundary": boundary, "groups": groups}

    @staticmethod
    def _groups_known(ctx: ReadContext, args: dict[str, Any]) -> list[str]:
        """The groups the task names that exist (as AWS spells them) or that an earlier task creates."""
        existing = [g["GroupName"] for g in authorization_details(ctx)["GroupDetailList"]]
        known = []
        for wanted in args.get("groups") or []:
            found = iamnames.find(existing, wanted, key=str)
            if found is None and ctx.will_exist("group", wanted):
                found = wanted
            if found is not None and found not in known:
                known.append(found)
        return known

    def load_current(self, data: dict[str, Any]) -> dict[str, Any]:
        user = data.get("user")
        return {**data, "user": None if user is None else User.from_json(user)}

    def resource_state(self, current: dict[str, Any], resource: str) -> dict[str, Any] | None:
        user_name, _, rest = resource.partition("/")
        user = current.get("user")
        if user is None or not same_name(user.name, user_name):
            return None
        if not rest:
            return user_state(user, current.get("permissions_boundary", ""))
        part, _, item = rest.partition("/")
        if part == GROUP_PART:
            group = next((g for g in user.groups if same_name(g, item)), None)
            return None if group is None else {"GroupName": group}
        if part == TAGS_PART:
            return dict(user.tags)
        if part == CONSOLE_PART:
            return {"LoginProfile": bool(user.console)}
        return None

    # ---- planning ---------------------------------------------------------------------------------

    def check_change(self, args: dict[str, Any], change: Change) -> str | None:
        """A plan file's change is about the task's user and touches nothing else (its calls name it, or
        what the change's resource and before-image name), and writes only documents its args or before-image
        give, and settings and tags as its args say: an edited call cannot reach another entity or widen a
        policy."""
        return changecheck.entity_problem(change, args, "UserName") or changecheck.settings_problem(
            change, args, {"path": ("Path", "NewPath"), "permissions_boundary": "PermissionsBoundary"}
        )

    def plan(self, args: dict[str, Any], current: dict[str, Any], scope: str) -> PlanResult:
        user: User | None = current.get("user")
        name = user.name if user else args["name"]
        build = ChangeBuilder(scope, self.name)
        own = current.get("own_user")

        if args.get("state") == "absent":
            if user is None:
                return PlanResult(noop_reason=f"user {args['name']} does not exist, as the task wants")
            return PlanResult([self._delete(user, current.get("permissions_boundary", ""), own, build)])

        changes: list[Change] = []
        findings: list[Finding] = []
        if user is None:
            changes.append(self._create(args, name, build))
        else:
            update = self._update(args, user, current.get("permissions_boundary", ""), build)
            if update:
                changes.append(update)
        changes += self._groups(args, name, build, user.groups if user else (), current.get("groups") or [])
        if user is not None:
            tags = tagging.tags_change(args, "user", name, user.tags, build)
            if tags:
                changes.append(tags)
        console, finding = self._console(args, name, user, own, build)
        changes += console
        findings += finding
        if not changes:
            return PlanResult(findings=findings, noop_reason=f"user {name} already has every field the task names")
        return PlanResult(changes, findings)

    def _delete(self, user: User, boundary: str, own: str | None, build: ChangeBuilder) -> Change:
        name = user.name
        if same_name(name, own):
            raise TaskFailed(
                f"user {name} is the user this run signs as: state: absent would delete the run's own credentials;"
                " refused (delete it with other credentials)"
            )
        if user.dependents is None or not user.live:
            raise TaskFailed(f"user {name}: its keys and dependents were not read; cannot plan its deletion")
        return build.delete(
            name,
            before={**user_fields(user, boundary), **deletion_image(user)},
            calls=delete_user_calls(user),
            undo=None,
            summary=f"delete user {name} with {dependents_text(user)} (cannot be undone: a new user gets a new"
            " id, new keys and no password)",
            reason="state: absent",
        )

    def _create(self, args: dict[str, Any], name: str, build: ChangeBuilder) -> Change:
        params: dict[str, Any] = {"UserName": name, "Path": args.get("path", "/")}
        after: dict[str, Any] = {"UserName": name, "Path": params["Path"]}
        if args.get("permissions_boundary"):
            params["PermissionsBoundary"] = after["PermissionsBoundary"] = args["permissions_boundary"]
        tags = tag_values(args)
        if tags:
            params["Tags"] = tagging.tag_list(tags)
            after["Tags"] = tags
        return build.create(
            name,
            after=after,
            calls=(ApiCall("iam", "create_user", params),),
            undo=(ApiCall("iam", "delete_user", {"UserName": name}),),
            summary=f"create user {name}" + (f" at {params['Path']}" if params["Path"] != "/" else ""),
            reason="the user does not exist",
            creates=f"user:{name}",
        )

    def _update(self, args: dict[str, Any], user: User, boundary: str, build: ChangeBuilder) -> Change | None:
        live = {"Path": user.path, "PermissionsBoundary": boundary}
        before: dict[str, Any] = {}
        after: dict[str, Any] = {}
        for option, field in USER_FIELDS.items():
            if option in args and args[option] != live[field]:
                before[field], after[field] = live[field], args[option]
        if not after:
            return None
        summary = ", ".join(f"{f} {_fmt(before[f])} → {_fmt(after[f])}" for f in after)
        moved = " (its ARN changes with the path)" if "Path" in after else ""
        return build.update(
            user.name,
            before=before,
            after=after,
            calls=self._user_calls(user.name, after),
            undo=self._user_calls(user.name, before),
            summary=f"user {user.name}: {summary}{moved}",
            reason="fields differ from the task",
        )

    @staticmethod
    def _user_calls(name: str, fields: dict[str, Any]) -> tuple[ApiCall, ...]:
        """Only the fields compared: an edit made to another field between plan and apply survives."""
        calls = []
        if "Path" in fields:
            calls.append(ApiCall("iam", "update_user", {"UserName": name, "NewPath": fields["Path"]}))
        if "PermissionsBoundary" in fields:
            calls.append(boundaries.boundary_call("user", name, fields["PermissionsBoundary"]))
        return tuple(calls)

    def _groups(
        self, args: dict[str, Any], name: str, build: ChangeBuilder, live: tuple[str, ...], known: list[str]
    ) -> list[Change]:
        if "groups" not in args:
            return []
        wanted = distinct(args.get("groups") or [])
        missing = [w for w in wanted if not any(same_name(w, g) for g in (*live, *known))]
        if missing:
            names = ", ".join(repr(m) for m in missing)
            raise TaskFailed(
                f"user {name}: group {names} does not exist and no earlier task creates it"
                if len(missing) == 1
                else f"user {name}: groups {names} do not exist and no earlier task creates them"
            )
        # as AWS spells them (a group the user is already in is left alone, whatever its spelling here)
        spelled = [next((g for g in known if same_name(w, g)), w) for w in wanted]
        return membership_changes(args, GROUPS, name, build, spelled, live)

    def _console(
        self, args: dict[str, Any], name: str, user: User | None, own: str | None, build: ChangeBuilder
    ) -> tuple[list[Change], list[Finding]]:
        """console_access: false deletes the login profile; true only checks (a password is never created)."""
        if "console_access" not in args:
            return [], []
        has_password = user is not None and user.console
        if args["console_access"]:
            if has_password:
                return [], []
            state = "will be created without one" if user is None else "has none"
            message = (
                f"user {name} {state}: console_access: true only checks, a console password is never created"
                " (set one with CreateLoginProfile, or let the user do it)"
            )
            return [], [build.finding(f"{name}/{CONSOLE_PART}", "low", message)]
        if not has_password:
            return [], []
        if same_name(name, own):
            raise TaskFailed(
                f"user {name} is the user this run signs as: console_access: false would delete its own console"
                " password; refused (remove it with other credentials)"
            )
        change = build.delete(
            f"{name}/{CONSOLE_PART}",
            before={"LoginProfile": True},
            after={"LoginProfile": False},
            calls=(ApiCall("iam", "delete_login_profile", {"UserName": name}),),
            undo=None,
            summary=f"remove console access of user {name}: delete its login profile (cannot be restored: the"
            " password is gone)",
            reason="console_access: false",
        )
        return [change], []
