"""The managed and inline policies of one role or group, as `iam_role` and `iam_group` manage them.

The options (`managed_policies`, `purge_managed_policies`, `inline_policies`, `purge_inline_policies`)
mean the same on both, so their whole life is here once: AWS's rules for the names and documents,
managed policy names resolved to ARNs, the size check, and one change per attachment and inline policy:

    <name>/managed/<policy>   attach (create); with purge_managed_policies, detach one not listed (delete)
    <name>/inline/<policy>    put (create, or update when it differs in meaning); with purge_inline_policies,
                              delete one not listed (delete)

Nothing is detached or deleted unless the purge flag says so and the task gives its list. Each undo is
the opposite call (an inline update puts the old document back).

A `Holder` (`ROLE`, `GROUP`) is all the two kinds differ in: the noun in API operations and messages
(`attach_role_policy`, "inline policy x of role ci"), the name parameter (`RoleName`) and AWS's limit on
the total size of the entity's inline policies (`policylint.SIZE_LIMITS`). Users have no holder: their
permissions come from groups, and `iam_user` has no policy options.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from remediator import awsrules, iamnames, policydoc, policylint
from remediator.aws.context import ReadContext
from remediator.aws.reads import authorization_details
from remediator.changes import ChangeBuilder
from remediator.errors import ArgError, TaskFailed
from remediator.model import ApiCall, Change
from remediator.registry import Document

DOCUMENT = {"type": ["object", "string"], "description": "a policy document: a mapping or a JSON string"}
OPTIONS: dict[str, Any] = {
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
}
# Where a managed policy name is looked for (earlier tasks' policies included), for the message when it is
# not found: `iam_group` says so, `iam_role` keeps its older wording.
SEARCHED = "among the account's customer managed policies, nor created by an earlier task"


@dataclass(frozen=True)
class Holder:
    """A kind of IAM entity that holds policies: how the API and the messages name it."""

    noun: str  # "role": in operation names (attach_role_policy) and in messages

    @property
    def param(self) -> str:
        """The entity's name parameter in those operations (`RoleName`)."""
        return iamnames.NAME_PARAMS[self.noun]

    @property
    def limit_name(self) -> str:
        """The policylint name of the limit on the total of its inline policies (`role_inline`)."""
        return f"{self.noun}_inline"

    @property
    def limit(self) -> int:
        return policylint.SIZE_LIMITS[self.limit_name]

    def attach_call(self, entity: str, arn: str) -> ApiCall:
        return ApiCall("iam", f"attach_{self.noun}_policy", {self.param: entity, "PolicyArn": arn})

    def detach_call(self, entity: str, arn: str) -> ApiCall:
        return ApiCall("iam", f"detach_{self.noun}_policy", {self.param: entity, "PolicyArn": arn})

    def put_call(self, entity: str, policy: str, document: Any) -> ApiCall:
        params = {self.param: entity, "PolicyName": policy, "PolicyDocument": dumps(document)}
        return ApiCall("iam", f"put_{self.noun}_policy", params)

    def delete_call(self, entity: str, policy: str) -> ApiCall:
        return ApiCall("iam", f"delete_{self.noun}_policy", {self.param: entity, "PolicyName": policy})


ROLE = Holder("role")
GROUP = Holder("group")


# ---- documents ------------------------------------------------------------------------------------------


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


# ---- validation -----------------------------------------------------------------------------------------


def documents(args: dict[str, Any], holder: Holder) -> list[Document]:
    """The task's inline documents, for the linter, each held to the entity's inline limit."""
    return [
        Document(f"inline_policies.{name}", document, "identity", holder.limit_name)
        for name, document in (args.get("inline_policies") or {}).items()
    ]


def check_names(args: dict[str, Any]) -> None:
    """AWS's rules for the inline policy names and the managed policy names or ARNs (the emulator checks
    none of them)."""
    for policy in args.get("inline_policies") or {}:
        problem = awsrules.check_name("inline_policy", policy)
        if problem:
            raise ArgError(f"inline_policies.{policy}", problem)
    for entry in args.get("managed_policies") or []:
        if not isinstance(entry, str):
            continue  # the schema reports it
        problem = awsrules.check_policy_arn(entry) if entry.startswith("arn:") else awsrules.check_name("policy", entry)
        if problem:
            raise ArgError("managed_policies", problem)


def check_documents(args: dict[str, Any]) -> None:
    """Each inline document must parse as a policy document."""
    for policy, document in (args.get("inline_policies") or {}).items():
        try:
            policydoc.parse(document)
        except ValueError as exc:
            raise ArgError(f"inline_policies.{policy}", f"not a policy document: {exc}") from None


def check_size(args: dict[str, Any], holder: Holder) -> None:
    """The task's own inline documents must fit together in the entity's limit (what the entity keeps
    besides is known only at plan time: `check_total`)."""
    total = policylint.total_size((args.get("inline_policies") or {}).values())
    if total > holder.limit:
        raise ArgError(
            "inline_policies",
            f"the task's inline policies together are {total:,} characters without whitespace, over AWS's"
            f" limit of {holder.limit:,} for all of a {holder.noun}'s inline policies",
        )


# ---- reading --------------------------------------------------------------------------------------------


def read_policy_arns(ctx: ReadContext, args: dict[str, Any]) -> dict[str, str]:
    """The customer managed policies the task names by name (compared without regard to case): name → ARN,
    as AWS spells the name; then those earlier tasks of the run create, where none exists."""
    wanted = iamnames.folded(p for p in args.get("managed_policies") or [] if not p.startswith("arn:"))
    policies: dict[str, str] = {}
    if wanted:
        for policy in authorization_details(ctx)["Policies"]:
            if policy["PolicyName"].casefold() in wanted:
                policies[policy["PolicyName"]] = policy["Arn"]
        for planned_name, arn in ctx.planned_policies().items():
            if planned_name.casefold() in wanted:
                policies.setdefault(planned_name, arn)
    return policies


def policy_state(managed: dict[str, str], inline: dict[str, Any], part: str, name: str) -> dict[str, Any] | None:
    """What staleness compares for `<entity>/managed/<name>` or `<entity>/inline/<name>`, from the
    entity's live `managed` (ARN → name) and `inline` (name → document) policies; None when it is absent
    (or `part` is neither)."""
    if part == "inline":
        document = inline.get(name)
        return None if document is None else {"PolicyDocument": document}
    if part == "managed":
        arn = next((a for a, n in managed.items() if n == name or a == name), None)
        return None if arn is None else {"PolicyArn": arn}
    return None


# ---- planning -------------------------------------------------------------------------------------------


def resolve_managed(args: dict[str, Any], policies: dict[str, str]) -> list[str]:
    """The task's managed policies as ARNs, each once, names resolved through `policies` (what
    `read_policy_arns` found). A name that resolves to nothing fails the task: a typo must not pass as
    "nothing to do"."""
    arns = []
    for entry in args.get("managed_policies") or []:
        if entry.startswith("arn:"):
            arns.append(entry)
            continue
        found = iamnames.find(policies.items(), entry, key=lambda item: item[0])
        if found is None:
            raise TaskFailed(f"managed policy {entry!r} not found {SEARCHED} (give AWS managed policies by ARN)")
        arns.append(found[1])
    return list(dict.fromkeys(arns))


def policy_changes(
    args: dict[str, Any],
    holder: Holder,
    name: str,
    build: ChangeBuilder,
    wanted_managed: list[str],
    live_managed: dict[str, str],
    live_inline: dict[str, Any],
) -> list[Change]:
    """Every policy change of the entity `name` (managed, then inline), after checking that the inline
    policies it will hold fit in AWS's limit. `wanted_managed` is `resolve_managed`'s answer; the live
    policies are empty for an entity the plan creates."""
    check_total(args, holder, name, live_inline)
    return managed_changes(args, holder, name, build, wanted_managed, live_managed) + inline_changes(
        args, holder, name, build, live_inline
    )


def check_total(args: dict[str, Any], holder: Holder, name: str, live: dict[str, Any]) -> None:
    """AWS limits the total size of an entity's inline policies: the live ones the task keeps (neither
    replaced nor purged) plus the task's own must fit, or the first Put*Policy over it fails mid-apply."""
    if "inline_policies" not in args:
        return
    wanted = args.get("inline_policies") or {}
    kept = [] if args.get("purge_inline_policies") else [d for p, d in live.items() if p not in wanted]
    total = policylint.total_size([*kept, *wanted.values()])
    if total > holder.limit:
        raise TaskFailed(
            f"{holder.noun} {name}'s inline policies would total {total:,} characters without whitespace"
            f" ({len(kept)} kept, {len(wanted)} from the task), over AWS's limit of {holder.limit:,}:"
            " shorten them, or purge the ones no longer needed (purge_inline_policies)"
        )


def managed_changes(
    args: dict[str, Any], holder: Holder, name: str, build: ChangeBuilder, wanted: list[str], live: dict[str, str]
) -> list[Change]:
    """Attach each wanted ARN not attached; with purge_managed_policies, detach each attached one not wanted."""
    changes = []
    for arn in wanted:
        if arn in live:
            continue
        changes.append(
            build.create(
                f"{name}/managed/{policy_name(arn)}",
                after={"PolicyArn": arn},
                calls=(holder.attach_call(name, arn),),
                undo=(holder.detach_call(name, arn),),
                summary=f"attach {arn} to {holder.noun} {name}",
                reason="the task lists it",
            )
        )
    if args.get("purge_managed_policies") and "managed_policies" in args:
        for arn in sorted(set(live) - set(wanted)):
            changes.append(
                build.delete(
                    f"{name}/managed/{live[arn]}",
                    before={"PolicyArn": arn},
                    calls=(holder.detach_call(name, arn),),
                    undo=(holder.attach_call(name, arn),),
                    summary=f"detach {arn} from {holder.noun} {name}",
                    reason="not listed, and purge_managed_policies is on",
                )
            )
    return changes


def inline_changes(
    args: dict[str, Any], holder: Holder, name: str, build: ChangeBuilder, live: dict[str, Any]
) -> list[Change]:
    """Put each task document that is missing or differs in meaning; with purge_inline_policies, delete
    each live one the task does not list."""
    changes = []
    wanted = {k: stored(v) for k, v in (args.get("inline_policies") or {}).items()}
    for policy, document in wanted.items():
        old = live.get(policy)
        if old is not None and policydoc.equivalent(old, document):
            continue
        changes.append(
            build.change(
                "create" if old is None else "update",
                f"{name}/inline/{policy}",
                before=None if old is None else {"PolicyDocument": old},
                after={"PolicyDocument": document},
                calls=(holder.put_call(name, policy, document),),
                undo=(holder.delete_call(name, policy),) if old is None else (holder.put_call(name, policy, old),),
                summary=f"{'add' if old is None else 'update'} inline policy {policy} of {holder.noun} {name}",
                reason="the task's document differs" if old is not None else "the task lists it",
            )
        )
    if args.get("purge_inline_policies") and "inline_policies" in args:
        for policy in sorted(set(live) - set(wanted)):
            changes.append(
                build.delete(
                    f"{name}/inline/{policy}",
                    before={"PolicyDocument": live[policy]},
                    calls=(holder.delete_call(name, policy),),
                    undo=(holder.put_call(name, policy, live[policy]),),
                    summary=f"delete inline policy {policy} of {holder.noun} {name}",
                    reason="not listed, and purge_inline_policies is on",
                )
            )
    return changes
