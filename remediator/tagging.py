"""The tags of one role or user, as `iam_role` and `iam_user` manage them: options `tags` and `purge_tags`.

One change per entity, `<name>/tags`, holding only the keys it moves: `before` their live values (None:
absent), `after` what they become (None: removed). Tags the task leaves out are left alone unless
`purge_tags` (which acts only when the task gives `tags`). The undo untags the keys the change added and
puts back the values it replaced or removed, so a rollback restores exactly the tags `before` names.

The kinds differ only in the API's noun (`tag_role`, `untag_user`), its name parameter (`RoleName`,
`UserName`) and the word in messages; the rest, AWS's 50-tag limit among it, is here once.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from remediator import awsrules
from remediator.changes import ChangeBuilder
from remediator.errors import ArgError, TaskFailed
from remediator.iamnames import NAME_PARAMS
from remediator.model import ApiCall, Change

PART = "tags"  # the resource of the change: `<name>/tags`
OPTIONS: dict[str, Any] = {
    "tags": {
        "type": "object",
        "additionalProperties": {"type": ["string", "number", "boolean"]},
        "description": "tags to set; others are left alone unless purge_tags",
    },
    "purge_tags": {"type": "boolean", "description": "remove tags not listed (only when tags is given)"},
}


def tag_values(args: dict[str, Any]) -> dict[str, str]:
    """The task's tags as AWS stores them: strings (YAML's true is 'true')."""
    return {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in (args.get("tags") or {}).items()}


def tag_list(tags: Mapping[str, str]) -> list[dict[str, str]]:
    """Tags as the API takes them (`Tags=[{Key, Value}]`), sorted by key so that calls compare equal."""
    return [{"Key": k, "Value": v} for k, v in sorted(tags.items())]


def check(args: dict[str, Any]) -> None:
    """AWS's rules for the task's tags (keys, values, count), which the emulator does not check."""
    if "tags" in args:
        problem = awsrules.check_tags(tag_values(args))
        if problem:
            raise ArgError("tags", problem)


def tags_change(
    args: dict[str, Any], kind: str, name: str, live: Mapping[str, str], build: ChangeBuilder
) -> Change | None:
    """The `<name>/tags` change of the existing `kind` ("role" or "user") called `name`, whose tags are
    `live`; None when its tags are already as the task says. Fails the task when the entity would end up
    with more tags than AWS allows, rather than letting the first TagRole/TagUser over it fail mid-apply."""
    live = dict(live)
    wanted = tag_values(args)
    to_set = {k: v for k, v in wanted.items() if live.get(k) != v}
    to_remove = sorted(set(live) - set(wanted)) if args.get("purge_tags") and "tags" in args else []
    if not to_set and not to_remove:
        return None
    count = len((set(live) - set(to_remove)) | set(wanted))
    if count > awsrules.MAX_TAGS:
        raise TaskFailed(
            f"{kind} {name} would have {count} tags ({len(live)} now, the task adds {len(set(to_set) - set(live))}):"
            f" AWS allows at most {awsrules.MAX_TAGS} (purge_tags removes the ones the task does not list)"
        )
    before = {k: live.get(k) for k in [*to_set, *to_remove]}
    after = {**to_set, **{k: None for k in to_remove}}
    added = sorted(k for k in to_set if k not in live)
    restore = {k: v for k, v in before.items() if v is not None}
    calls = [*_tag_calls(kind, name, to_set), *_untag_calls(kind, name, to_remove)]
    undo = [*_untag_calls(kind, name, added), *_tag_calls(kind, name, restore)]
    parts = [f"{k} {before[k] if before[k] is not None else '(none)'} → {v}" for k, v in to_set.items()]
    parts += [f"remove {k}" for k in to_remove]
    return build.update(
        f"{name}/{PART}",
        before=before,
        after=after,
        calls=tuple(calls),
        undo=tuple(undo),
        summary=f"{kind} {name} tags: {', '.join(parts)}",
        reason="tags differ from the task",
    )


def _tag_calls(kind: str, name: str, tags: Mapping[str, str]) -> list[ApiCall]:
    """TagRole/TagUser for `tags`; none when there are none to set."""
    return [ApiCall("iam", f"tag_{kind}", {NAME_PARAMS[kind]: name, "Tags": tag_list(tags)})] if tags else []


def _untag_calls(kind: str, name: str, keys: list[str]) -> list[ApiCall]:
    """UntagRole/UntagUser for `keys`; none when there are none to remove."""
    return [ApiCall("iam", f"untag_{kind}", {NAME_PARAMS[kind]: name, "TagKeys": keys})] if keys else []
