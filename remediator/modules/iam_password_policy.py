"""iam_password_policy: the account password policy, changing only the fields a task names.

UpdateAccountPasswordPolicy resets every field it is not given, so the change always writes the live
policy merged with the task's fields, and its before-image is the whole live policy: a plan made
against one policy is stale against any other.
"""

from __future__ import annotations

import json
from typing import Any

from remediator.toolkit import (
    ApiCall,
    ArgError,
    AwsError,
    Change,
    ChangeBuilder,
    Module,
    PlanResult,
    ReadContext,
    TaskFailed,
    literal,
    register,
)

RESOURCE = "account-password-policy"

# task option → AWS field
FIELDS = {
    "minimum_length": "MinimumPasswordLength",
    "require_symbols": "RequireSymbols",
    "require_numbers": "RequireNumbers",
    "require_uppercase": "RequireUppercaseCharacters",
    "require_lowercase": "RequireLowercaseCharacters",
    "allow_users_to_change": "AllowUsersToChangePassword",
    "max_age_days": "MaxPasswordAge",
    "reuse_prevention": "PasswordReusePrevention",
    "hard_expiry": "HardExpiry",
}
# What AWS applies to a field UpdateAccountPasswordPolicy is not given.
AWS_DEFAULTS: dict[str, Any] = {
    "MinimumPasswordLength": 6,
    "RequireSymbols": False,
    "RequireNumbers": False,
    "RequireUppercaseCharacters": False,
    "RequireLowercaseCharacters": False,
    "AllowUsersToChangePassword": False,
    "MaxPasswordAge": 0,
    "PasswordReusePrevention": 0,
    "HardExpiry": False,
}

# The whole-number fields and the values AWS gives them (0 = off, as `normalize` writes it); the rest are
# true or false.
RANGES = {"MinimumPasswordLength": (6, 128), "MaxPasswordAge": (0, 1095), "PasswordReusePrevention": (0, 24)}

# With no policy set, AWS itself requires 8 characters (and three character classes, which a policy
# cannot express): creating a shorter minimum is a weakening too.
IMPLICIT_POLICY: dict[str, Any] = {**AWS_DEFAULTS, "MinimumPasswordLength": 8}


def normalize(policy: dict[str, Any] | None) -> dict[str, Any] | None:
    """The live policy with every field present; AWS omits MaxPasswordAge, reuse and HardExpiry when off."""
    if policy is None:
        return None
    return {field: policy.get(field, default) or default for field, default in AWS_DEFAULTS.items()}


def update_params(policy: dict[str, Any]) -> dict[str, Any]:
    """UpdateAccountPasswordPolicy parameters for a whole policy (0 means 'off': the field is omitted)."""
    return {k: v for k, v in policy.items() if not (k in ("MaxPasswordAge", "PasswordReusePrevention") and v == 0)}


def image_problem(image: Any) -> str | None:
    """Why `image` is not a policy as `read` returns it (every field, each of its type and range); None if it is."""
    if image is None:
        return None
    if not isinstance(image, dict):
        return "not a password policy"
    missing = [f for f in AWS_DEFAULTS if f not in image]
    if missing:
        return f"{missing[0]} is missing"
    unknown = sorted(str(f) for f in image if f not in AWS_DEFAULTS)
    if unknown:
        return f"{unknown[0][:60]!r} is not a password policy field"
    for field, default in AWS_DEFAULTS.items():
        value = image[field]
        if isinstance(default, bool):
            if not isinstance(value, bool):
                return f"{field} must be true or false"
            continue
        low, high = RANGES[field]
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            return f"{field} must be a whole number from {low} to {high}"
    return None


def weakenings(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """Each field the change would weaken, as 'Field old → new'."""
    found = []
    for field in ("MinimumPasswordLength",):
        if after[field] < before[field]:
            found.append(f"{field} {before[field]} → {after[field]}")
    for field in ("RequireSymbols", "RequireNumbers", "RequireUppercaseCharacters", "RequireLowercaseCharacters"):
        if before[field] and not after[field]:
            found.append(f"{field} true → false")
    old_age, new_age = before["MaxPasswordAge"], after["MaxPasswordAge"]
    if old_age and (new_age == 0 or new_age > old_age):
        found.append(f"MaxPasswordAge {old_age} → {new_age or 'never'}")
    old_reuse, new_reuse = before["PasswordReusePrevention"], after["PasswordReusePrevention"]
    if old_reuse and new_reuse < old_reuse:
        found.append(f"PasswordReusePrevention {old_reuse} → {new_reuse or 'off'}")
    return found


def describe(before: dict[str, Any] | None, after: dict[str, Any] | None) -> str:
    if after is None:
        return "delete the account password policy"
    if before is None:
        named = ", ".join(f"{k} {_fmt(v)}" for k, v in after.items() if v != AWS_DEFAULTS[k])
        return f"create the account password policy: {named or 'AWS defaults'}"
    return ", ".join(f"{k} {_fmt(before[k])} → {_fmt(after[k])}" for k in after if before[k] != after[k])


def _canonical(value: Any) -> str:
    """JSON text that tells true from 1 and 14 from 14.0, as AWS does."""
    return json.dumps(value, sort_keys=True, default=str)


def _fmt(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


@register
class PasswordPolicy(Module):
    name = "iam_password_policy"
    summary = "The account password policy; fields a task leaves out are left as they are."
    args_schema = {
        "properties": {
            "minimum_length": {"type": "integer", "minimum": 6, "maximum": 128, "description": "6–128 characters"},
            "require_symbols": {"type": "boolean"},
            "require_numbers": {"type": "boolean"},
            "require_uppercase": {"type": "boolean"},
            "require_lowercase": {"type": "boolean"},
            "allow_users_to_change": {"type": "boolean", "description": "users may change their own password"},
            "max_age_days": {"type": "integer", "minimum": 0, "maximum": 1095, "description": "0 = never expire"},
            "reuse_prevention": {"type": "integer", "minimum": 0, "maximum": 24, "description": "0 = off"},
            "hard_expiry": {
                "type": "boolean",
                "description": "expired passwords need an administrator reset; refused with fewer than 2 admins",
            },
            "allow_weaken": {"type": "boolean", "description": "permit a change that lowers any field"},
            "state": {"enum": ["present", "absent"], "description": "absent deletes the policy"},
        },
    }
    permissions = {
        "read": ["iam:GetAccountPasswordPolicy", "iam:GetAccountAuthorizationDetails", "iam:GetLoginProfile"],
        "write": ["iam:UpdateAccountPasswordPolicy", "iam:DeleteAccountPasswordPolicy"],
    }
    example = """\
- name: Strong password policy (CIS 1.8, 1.9)
  iam_password_policy:
    minimum_length: 14
    require_symbols: true
    require_numbers: true
    require_uppercase: true
    require_lowercase: true
    allow_users_to_change: true
    reuse_prevention: 24
"""

    def write_permissions(self, args: dict[str, Any]) -> list[str]:
        state = literal(args, "state", "present")
        if state == "present":
            return ["iam:UpdateAccountPasswordPolicy"]
        return ["iam:DeleteAccountPasswordPolicy"] if state == "absent" else super().write_permissions(args)

    def validate(self, args: dict[str, Any]) -> None:
        if args.get("state") == "absent":
            others = sorted(k for k in args if k not in ("state", "allow_weaken"))
            if others:
                raise ArgError(others[0], "state: absent deletes the policy and takes no other policy fields")
            return
        if args.get("hard_expiry") is True and args.get("max_age_days") == 0:
            raise ArgError("hard_expiry", "hard_expiry needs passwords that expire (max_age_days above 0)")
        if not any(k in FIELDS for k in args):
            raise ArgError(None, "name at least one password policy field, or state: absent")

    def read(self, ctx: ReadContext, args: dict[str, Any]) -> dict[str, Any] | None:
        try:
            return normalize(ctx.client("iam").call("get_account_password_policy")["PasswordPolicy"])
        except AwsError as exc:
            if exc.code == "NoSuchEntity":
                return None
            raise

    def resource_state(self, current: dict[str, Any] | None, resource: str) -> dict[str, Any] | None:
        return current

    def check_change(self, args: dict[str, Any], change: Change) -> str | None:
        """The change is exactly what these args plan from its before-image (the whole live policy, so the
        update's parameters are the args' fields applied to it): an edited call, after-image or undo, a
        weakening the args do not allow, is refused before any AWS call."""
        problem = image_problem(change.before)
        if problem:
            return f"before: {problem}"
        scope = change.address.removesuffix(f"/{self.name}/{change.resource}")
        # as `read` returns it, fields in AWS's order (a plan file sorts them): the summary follows it
        current = None if change.before is None else {f: change.before[f] for f in AWS_DEFAULTS}
        try:
            planned = self.plan(args, current, scope).changes
        except TaskFailed as exc:
            return f"the task's args refuse it: {exc}"
        if len(planned) != 1:
            return "the task's args plan no change from its before-image"
        expected, given = planned[0].to_dict(), change.to_dict()
        for key in ("resource", "action", "calls", "undo", "after", "summary", "reason", "creates", *expected):
            if _canonical(expected.get(key)) != _canonical(given.get(key)):
                return f"{key!r} is not what the task's args plan from its before-image"
        return None

    def plan(self, args: dict[str, Any], current: dict[str, Any] | None, scope: str) -> PlanResult:
        changes = ChangeBuilder(scope, self.name)
        restore = (
            (ApiCall("iam", "delete_account_password_policy"),)
            if current is None
            else (ApiCall("iam", "update_account_password_policy", update_params(current)),)
        )
        if args.get("state") == "absent":
            if current is None:
                return PlanResult(noop_reason="no account password policy, as the task wants")
            change = changes.delete(
                RESOURCE,
                before=current,
                calls=(ApiCall("iam", "delete_account_password_policy"),),
                undo=restore,
                summary=describe(current, None),
            )
            return PlanResult([change])
        base = current or dict(IMPLICIT_POLICY)  # unnamed fields keep what AWS enforces today
        after = dict(base)
        for option, field in FIELDS.items():
            if option in args:
                value = args[option]
                after[field] = int(value) if isinstance(value, float) else value  # YAML's 14.0 is AWS's 14
        if after["HardExpiry"] and not after["MaxPasswordAge"]:
            raise TaskFailed("hard_expiry needs passwords that expire: set max_age_days (1–1095)")
        if current is not None and after == current:
            return PlanResult(noop_reason="the password policy already has every field the task names")
        if not args.get("allow_weaken"):
            weaker = weakenings(current or IMPLICIT_POLICY, after)
            if weaker:
                raise TaskFailed(
                    f"would weaken the password policy ({'; '.join(weaker)}); set allow_weaken: true to permit it"
                )
        # The update call resets every field it is not given: it carries the whole policy, and the whole
        # live policy is its before-image, so a plan is stale against any other policy.
        change = changes.change(
            "create" if current is None else "update",
            RESOURCE,
            before=current,
            after=after,
            calls=(ApiCall("iam", "update_account_password_policy", update_params(after)),),
            undo=restore,
            summary=describe(current, after),
            reason="no password policy is set" if current is None else "fields differ from the task",
        )
        return PlanResult([change])
