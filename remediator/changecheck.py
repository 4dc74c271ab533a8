"""What the modules' `check_change` hooks share: a change read from a plan file, compared with the one the
module plans again from the change's before-image and the task's args.

A plan file sorts every object's keys, so a JSON text a call carries (a bucket policy, a policy document) is
compared by its value, or by its meaning where the module compares documents so (`texts`); everything else
is compared as JSON that tells `true` from `1` and `14` from `14.0`, as AWS does. A refusal names the first
place that differs and what the args plan there, so a reviewer sees what was edited.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from datetime import date
from typing import Any

from remediator.model import Change
from remediator.timeutil import parse_time

# What a module's re-plan decides. `summary` is left to the modules whose summary follows from the image.
KEYS = ("resource", "action", "before", "after", "calls", "undo", "creates")
_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", re.ASCII)

Normalize = Callable[[Any], Any]


def scope_of(change: Change, module: str) -> str:
    """The scope (`<account>/global` or `<account>/<region>`) the change's address carries (the plan-file
    reader has checked that the address is `<scope>/<module>/<resource>`)."""
    return change.address.removesuffix(f"/{module}/{change.resource}")


def difference(
    expected: Change,
    given: Change,
    *,
    keys: tuple[str, ...] = KEYS,
    texts: Mapping[str, Normalize] | None = None,
    images: Mapping[str, Normalize] | None = None,
) -> str | None:
    """Where `given` is not `expected` (the change the module plans), as a refusal; None when they agree.

    `texts` maps a call parameter that holds JSON text to how it is compared (its value, or its meaning);
    `images` does the same for a field of the before- and after-images."""
    want, got = _comparable(expected, texts or {}, images or {}), _comparable(given, texts or {}, images or {})
    for key in keys:
        found = _first_difference(want[key], got[key], key)
        if found is not None:
            return f"{found} from its before-image"
    return None


def json_value(text: Any) -> Any:
    """A JSON text parameter by its value (a plan file reorders nothing inside a string, but a re-plan
    writes the keys in the order it reads them)."""
    return json.loads(text)


def day_problem(value: Any) -> str | None:
    """Why `value` is not an ISO date (YYYY-MM-DD), as the modules write dates into tags; None if it is."""
    if not isinstance(value, str) or not _DAY.fullmatch(value):
        return f"{_short(value)} is not an ISO date (YYYY-MM-DD)"
    try:
        date.fromisoformat(value)
    except ValueError:
        return f"{_short(value)} is not a date"
    return None


# --------------------------------------------------------------------------- image shapes


def is_str(value: Any) -> bool:
    return isinstance(value, str)


def is_bool(value: Any) -> bool:
    return isinstance(value, bool)


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_strs(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def is_moment(value: Any) -> bool:
    """An ISO 8601 moment as the readers write them (`timeutil.iso`), or None."""
    if value is None:
        return True
    if not isinstance(value, str):
        return False
    try:
        parse_time(value)
    except ValueError:
        return False
    return True


def or_none(test: Callable[[Any], bool]) -> Callable[[Any], bool]:
    return lambda value: value is None or test(value)


def shape_problem(
    image: Any, fields: Mapping[str, Callable[[Any], bool]], where: str, *, partial: bool = False
) -> str | None:
    """Why `image` is not an object of exactly these fields, each passing its test (`partial`: some of them,
    at least one); None when it is."""
    if not isinstance(image, dict):
        return f"{where}: not an object"
    unknown = sorted(str(k) for k in image if k not in fields)
    if unknown:
        return f"{where}: {_short(unknown[0])} is not a field this module compares"
    missing = [f for f in fields if f not in image]
    if partial and len(missing) == len(fields):
        return f"{where}: names no field"
    if missing and not partial:
        return f"{where}.{missing[0]}: missing"
    for name, test in fields.items():
        if name in image and not test(image[name]):
            return f"{where}.{name}: {_short(image[name])} is not a value the module reads"
    return None


# --------------------------------------------------------------------------- comparison


def _comparable(change: Change, texts: Mapping[str, Normalize], images: Mapping[str, Normalize]) -> dict[str, Any]:
    data = json.loads(json.dumps(change.to_dict(), default=str))  # as JSON holds it: tuples are lists
    for key in ("calls", "undo"):
        if data[key] is not None:
            data[key] = [_call(call, texts) for call in data[key]]
    for key in ("before", "after"):
        if isinstance(data[key], dict):
            data[key] = {k: _normalized(images[k], v) if k in images else v for k, v in data[key].items()}
    return data


def _call(call: dict[str, Any], texts: Mapping[str, Normalize]) -> dict[str, Any]:
    params = call.get("params")
    if isinstance(params, dict):
        return {**call, "params": {k: _normalized(texts[k], v) if k in texts else v for k, v in params.items()}}
    return call


def _normalized(normalize: Normalize, value: Any) -> Any:
    try:
        return {"normalized": normalize(value)}
    except (ValueError, TypeError, AttributeError, KeyError):
        return {"unreadable": value}  # never equal to what a re-plan writes


def _same(a: Any, b: Any) -> bool:
    return json.dumps(a, sort_keys=True, default=str) == json.dumps(b, sort_keys=True, default=str)


def _first_difference(want: Any, got: Any, where: str) -> str | None:
    """The first place in `got` that is not `want`, as "where: what is there where the args plan what"."""
    if _same(want, got):
        return None
    if _wrapped(want, "normalized") and _wrapped(got, "normalized"):
        return _first_difference(want["normalized"], got["normalized"], where)
    if isinstance(want, dict) and isinstance(got, dict):
        for key in sorted(set(want) | set(got), key=str):
            if key not in got:
                return f"{_join(where, key)}: missing where the task's args plan {_shown(want[key])}"
            if key not in want:
                return f"{_join(where, key)}: not planned by the task's args"
            found = _first_difference(want[key], got[key], _join(where, key))
            if found is not None:
                return found
    if isinstance(want, list) and isinstance(got, list):
        if len(want) != len(got):
            return f"{where}: {len(got)} item(s) where the task's args plan {len(want)}"
        for index, (a, b) in enumerate(zip(want, got, strict=True)):
            found = _first_difference(a, b, f"{where}[{index}]")
            if found is not None:
                return found
    return f"{where}: {_shown(got)} where the task's args plan {_shown(want)}"


def _join(where: str, key: Any) -> str:
    """`where.key`; a key that is not a plain name is quoted (and cut short): a plan file may hold anything."""
    name = key if re.fullmatch(r"[A-Za-z0-9_:-]{1,64}", str(key)) else _short(key, 40)
    return f"{where}.{name}"


def _wrapped(value: Any, how: str) -> bool:
    return isinstance(value, dict) and set(value) == {how}


def _shown(value: Any) -> str:
    if _wrapped(value, "normalized"):
        value = value["normalized"]
    if _wrapped(value, "unreadable"):
        return f"{_short(value['unreadable'])} (unreadable)"
    return _short(value)


def _short(value: Any, limit: int = 80) -> str:
    text = json.dumps(value, sort_keys=True, default=str) if not isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


# Parameters that name an IAM entity in a call, and what they name.
ENTITY_PARAMS = {
    "RoleName": "role",
    "UserName": "user",
    "GroupName": "group",
    "InstanceProfileName": "instance profile",
}


def entity_problem(change: Change, args: dict[str, Any], own: str) -> str | None:
    """`names_problem`, then `documents_problem`: the change is about the task's entity, and every policy
    document it writes is one the task's args give (an undo's, one its before-image holds)."""
    return names_problem(change, args.get("name"), own) or documents_problem(change, args)


def documents_problem(change: Change, args: dict[str, Any]) -> str | None:
    """Each policy document a call writes (`PolicyDocument`, a trust policy) means what a document of the
    task's args means, and each an undo writes what one of the before-image's means: an edited plan cannot
    widen a trust policy or a permission. None when so."""
    from remediator import policydoc

    for label, calls, source, where in (
        ("calls", change.calls, args, "the task's args"),
        ("undo", change.undo or (), change.before, "the before-image"),
    ):
        allowed = _documents(source)
        for i, call in enumerate(calls):
            for param, value in call.params.items():
                if not param.endswith("PolicyDocument"):
                    continue
                try:
                    if any(policydoc.equivalent(value, doc) for doc in allowed):
                        continue
                except ValueError:
                    pass
                return f"{label}[{i}].params.{param}: not a document {where} give"
    return None


def _documents(value: Any) -> list[dict[str, Any]]:
    """Every policy document in args or an image, at any depth (a mapping with Statement, or its JSON)."""
    from remediator import policydoc

    if isinstance(value, str):
        try:
            parsed = policydoc.parse(value) if value.lstrip()[:1] in ("{", "%") else None
        except ValueError:
            return []
        return [parsed] if isinstance(parsed, dict) and "Statement" in parsed else []
    if isinstance(value, Mapping):
        own = [dict(value)] if "Statement" in value else []
        return own + [d for v in value.values() for d in _documents(v)]
    if isinstance(value, list | tuple):
        return [d for v in value for d in _documents(v)]
    return []


def names_problem(change: Change, name: Any, own: str) -> str | None:
    """For a module of one named entity (`iam_role`, `iam_user`, `iam_group`, `iam_policy`): the change is
    about the task's entity, and its calls touch nothing else. Its resource starts with the task's `name`
    (IAM compares names without regard to case); each call's `own` parameter (RoleName…; `PolicyArn` for a
    policy, by its last part) names that entity; any other entity a call names is one the change's resource
    or before-image names (a membership's user, a managed policy attached, a role's instance profile). None
    when so; else the first call that names something else."""
    segments = change.resource.split("/")
    entity = segments[0].casefold()
    if not isinstance(name, str) or entity != name.casefold():
        return f"resource {change.resource!r} is not about the task's {name!r}"
    known = {s.casefold() for s in segments} | {s.casefold() for s in _strings(change.before)}
    for label, calls in (("calls", change.calls), ("undo", change.undo or ())):
        for i, call in enumerate(calls):
            for param, value in call.params.items():
                if param != own and param not in ENTITY_PARAMS and param != "PolicyArn":
                    continue
                text = str(value).casefold()
                last = text.rsplit("/", 1)[-1]
                if param == own:
                    ok = (last if param == "PolicyArn" else text) == entity
                else:
                    ok = text in known or (param == "PolicyArn" and last in known)
                if not ok:
                    return f"{label}[{i}].params.{param}: {value!r} is not the task's entity nor one its change names"
    return None


def _strings(value: Any) -> list[str]:
    """Every string in an image, keys and values, at any depth."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, Mapping):
        return [s for k, v in value.items() for s in (*_strings(k), *_strings(v))]
    if isinstance(value, list | tuple):
        return [s for v in value for s in _strings(v)]
    return []


def key_problem(change: Change, tag_prefix: str) -> str | None:
    """For a change to one access key (resource `<user>/<key id>`): each call names that user and key, and
    the only tag it writes or removes is `<tag_prefix><key id>`. None when so."""
    user, _, key_id = change.resource.partition("/")
    if not user or not key_id or "/" in key_id:
        return f"resource {change.resource!r} is not <user>/<access key id>"
    tag = f"{tag_prefix}{key_id}"
    for label, calls in (("calls", change.calls), ("undo", change.undo or ())):
        for i, call in enumerate(calls):
            params = call.params
            named = {
                "UserName": params.get("UserName", user),
                "AccessKeyId": params.get("AccessKeyId", key_id),
                "Tags": [t.get("Key") if isinstance(t, Mapping) else t for t in params.get("Tags") or []],
                "TagKeys": list(params.get("TagKeys") or []),
            }
            if named["UserName"] != user:
                return f"{label}[{i}].params.UserName: {named['UserName']!r} is not the change's user {user!r}"
            if named["AccessKeyId"] != key_id:
                return f"{label}[{i}].params.AccessKeyId: {named['AccessKeyId']!r} is not the change's key {key_id!r}"
            for field in ("Tags", "TagKeys"):
                if any(k != tag for k in named[field]):
                    return f"{label}[{i}].params.{field}: only the key's own tag {tag!r} may be written or removed"
    return None


def settings_problem(change: Change, args: dict[str, Any], settings: Mapping[str, str | tuple[str, ...]]) -> str | None:
    """Each setting (task option → the call parameters that carry it) a forward call writes is the args'
    value when the args give one, and each tag it writes (`Tags`) has the value the args' `tags` give it.
    None when so."""
    from remediator.tagging import tag_values

    tags = tag_values(args) if isinstance(args.get("tags"), Mapping) else {}
    for i, call in enumerate(change.calls):
        for option, params in settings.items():
            for param in (params,) if isinstance(params, str) else params:
                if param in call.params and option in args and call.params[param] != args[option]:
                    given = call.params[param]
                    return f"calls[{i}].params.{param}: {given!r} where the task's args say {args[option]!r}"
        for tag in call.params.get("Tags") or []:
            key = tag.get("Key") if isinstance(tag, Mapping) else None
            if key in tags and tag.get("Value") != tags[key]:
                return (
                    f"calls[{i}].params.Tags: {key!r} is {tag.get('Value')!r} where the task's args say {tags[key]!r}"
                )
    return None
