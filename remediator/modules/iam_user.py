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
"""

from __future__ import annotations

from typing import Any

from remediator import awsrules
from remediator.aws.context import ReadContext
from remediator.aws.reads import authorization_details
from remediator.changes import ChangeBuilder
from remediator.errors import ArgError, TaskFailed
from remediator.identity import run_identity
from remediator.model import ApiCall, Change, Finding
from remediator.modules.iam_role import tag_values
from remediator.registry import Module, PlanResult, literal, register
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

GROUP_PART, TAGS_PART, CONSOLE_PART = "group", "tags", "console"
# task option → field of the user that the `<name>` change manages
USER_FIELDS = {"path": "Path", "permissions_boundary": "PermissionsBoundary"}
_GROUP = {"type": "string", "minLength": 1, "maxLength": 128}


def same_name(a: str | None, b: str | None) -> bool:
    """IAM names are compared without regard to case (`Alice` and `alice` are one user)."""
    return a is not None and b is not None and a.casefold() == b.casefold()


def distinct(names: list[str]) -> list[str]:
    """Names in order, each once without regard to case (the first spelling wins)."""
    seen: dict[str, str] = {}
    for name in names:
        seen.setdefault(name.casefold(), name)
    return list(seen.values())


def find_user(users: list[User], name: str) -> User | None:
    exact = next((u for u in users if u.name == name), None)
    return exact or next((u for u in users if same_name(u.name, name)), None)


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


def _tag_list(tags: dict[str, str]) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in sorted(tags.items())]


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
            "permissions_boundary": {"type": "string", "description": 'a policy ARN; "" removes the boundary'},
            "tags": {
                "type": "object",
                "additionalProperties": {"type": ["string", "number", "boolean"]},
                "description": "tags to set; others are left alone unless purge_tags",
            },
            "purge_tags": {"type": "boolean", "description": "remove tags not listed (only when tags is given)"},
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
        if args.get("state") == "absent":
            others = sorted(k for k in args if k not in ("name", "state"))
            if others:
                raise ArgError(others[0], "state: absent deletes the user and takes no other user fields")
        problem = awsrules.check_name("user", args.get("name"))
        if problem:
            raise ArgError("name", problem)
        if "path" in args:
            problem = awsrules.check_path(args["path"])
            if problem:
                raise ArgError("path", problem)
        for group in args.get("groups") or []:
            problem = awsrules.check_name("group", group)
            if problem:
                raise ArgError("groups", problem)
        if "tags" in args:
            problem = awsrules.check_tags(tag_values(args))
            if problem:
                raise ArgError("tags", problem)
        boundary = args.get("permissions_boundary")
        if boundary:
            problem = awsrules.check_policy_arn(boundary)
            if problem:
                raise ArgError("permissions_boundary", f"give the boundary policy's ARN: {problem}")

    # ---- reading ----------------------------------------------------------------------------------

    def read(self, ctx: ReadContext, args: dict[str, Any]) -> dict[str, Any]:
        own = run_identity(ctx).user_name
        details = authorization_details(ctx)["UserDetailList"]
        named = [from_detail(d, None) for d in details if same_name(d["UserName"], args["name"])]
        user = find_user(named, args["name"])
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
            found = next((g for g in existing if g == wanted), None) or next(
                (g for g in existing if same_name(g, wanted)), None
            )
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
            tags = self._tags(args, user, build)
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
            params["Tags"] = _tag_list(tags)
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
            arn = fields["PermissionsBoundary"]
            if arn:
                calls.append(
                    ApiCall("iam", "put_user_permissions_boundary", {"UserName": name, "PermissionsBoundary": arn})
                )
            else:
                calls.append(ApiCall("iam", "delete_user_permissions_boundary", {"UserName": name}))
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
        changes = []
        for group in wanted:
            if any(same_name(group, g) for g in live):
                continue
            spelled = next(g for g in known if same_name(group, g))  # as AWS spells it
            params = {"GroupName": spelled, "UserName": name}
            changes.append(
                build.create(
                    f"{name}/{GROUP_PART}/{spelled}",
                    after={"GroupName": spelled},
                    calls=(ApiCall("iam", "add_user_to_group", params),),
                    undo=(ApiCall("iam", "remove_user_from_group", params),),
                    summary=f"add user {name} to group {spelled}",
                    reason="the task lists it",
                )
            )
        if args.get("purge_groups"):
            for group in sorted(g for g in live if not any(same_name(g, w) for w in wanted)):
                params = {"GroupName": group, "UserName": name}
                changes.append(
                    build.delete(
                        f"{name}/{GROUP_PART}/{group}",
                        before={"GroupName": group},
                        calls=(ApiCall("iam", "remove_user_from_group", params),),
                        undo=(ApiCall("iam", "add_user_to_group", params),),
                        summary=f"remove user {name} from group {group}",
                        reason="not listed, and purge_groups is on",
                    )
                )
        return changes

    def _tags(self, args: dict[str, Any], user: User, build: ChangeBuilder) -> Change | None:
        name, live = user.name, dict(user.tags)
        wanted = tag_values(args)
        to_set = {k: v for k, v in wanted.items() if live.get(k) != v}
        to_remove = sorted(set(live) - set(wanted)) if args.get("purge_tags") and "tags" in args else []
        if not to_set and not to_remove:
            return None
        count = len((set(live) - set(to_remove)) | set(wanted))
        if count > awsrules.MAX_TAGS:
            raise TaskFailed(
                f"user {name} would have {count} tags ({len(live)} now, the task adds {len(set(to_set) - set(live))}):"
                f" AWS allows at most {awsrules.MAX_TAGS} (purge_tags removes the ones the task does not list)"
            )
        before = {k: live.get(k) for k in [*to_set, *to_remove]}
        after = {**to_set, **{k: None for k in to_remove}}
        calls, undo = [], []
        if to_set:
            calls.append(ApiCall("iam", "tag_user", {"UserName": name, "Tags": _tag_list(to_set)}))
        if to_remove:
            calls.append(ApiCall("iam", "untag_user", {"UserName": name, "TagKeys": to_remove}))
        added = sorted(k for k in to_set if k not in live)
        restore = {k: v for k, v in before.items() if v is not None}
        if added:
            undo.append(ApiCall("iam", "untag_user", {"UserName": name, "TagKeys": added}))
        if restore:
            undo.append(ApiCall("iam", "tag_user", {"UserName": name, "Tags": _tag_list(restore)}))
        parts = [f"{k} {before[k] if before[k] is not None else '(none)'} → {v}" for k, v in to_set.items()]
        parts += [f"remove {k}" for k in to_remove]
        return build.update(
            f"{name}/{TAGS_PART}",
            before=before,
            after=after,
            calls=tuple(calls),
            undo=tuple(undo),
            summary=f"user {name} tags: {', '.join(parts)}",
            reason="tags differ from the task",
        )

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
