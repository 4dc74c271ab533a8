"""Live access-key facts and the calls that change a key, shared by iam_access_keys and iam_users.

Candidates come from the credential report; these per-user and per-key reads confirm them before any
change, because the report can be hours old.

`AccessKey` and `KeyHolder` are the typed facts of `iam_access_keys` (its `read` builds them from
`list_keys`, `last_used` and the credential report; a plan case gives them in the JSON form below).
`list_keys` and `last_used` themselves return AWS-like dicts, as `iam_users` reads them.

Per-user and per-key reads are independent, so a module runs them `concurrently` (a few threads per
account, results in the order asked). Each is cached in the ReadContext under its own name, loaded outside
the context's lock (`_cached`): the lock is held only to find or make the entry, never during the call.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from remediator.aws.context import ReadContext
from remediator.errors import AwsError
from remediator.facts import Fact, key
from remediator.model import ApiCall
from remediator.timeutil import iso

DEACTIVATED_TAG_PREFIX = "remediator:deactivated:"
QUARANTINE_TAG = "remediator:quarantined-at"
QUARANTINE_POLICY = "remediator-quarantine"  # the inline deny-all policy of a disabled user
# Threads for an account's independent per-user and per-key reads (IAM's rate limits are the account's, and
# the per-account token bucket in remediator/aws paces them; more threads would only queue there).
READ_WORKERS = 8

T = TypeVar("T")
R = TypeVar("R")


def concurrently(fn: Callable[[T], R], items: Iterable[T], workers: int | None = None) -> list[R]:
    """fn over items on a few threads (READ_WORKERS unless given), results in the order of items
    (deterministic whatever finishes first); the first exception, in that order, is raised. One item, or
    none, runs in this thread."""
    workers = READ_WORKERS if workers is None else workers
    todo = list(items)
    if len(todo) <= 1 or workers <= 1:
        return [fn(item) for item in todo]
    with ThreadPoolExecutor(max_workers=min(workers, len(todo)), thread_name_prefix="remediator-read") as pool:
        return list(pool.map(fn, todo))


class _Once:
    """One named read of a ReadContext, loaded at most once (unless it failed) by whichever thread asks first."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loaded = False
        self._value: Any = None

    def get(self, load: Callable[[], Any]) -> Any:
        with self._lock:
            if not self._loaded:
                self._value = load()
                self._loaded = True
            return self._value


def _cached(ctx: ReadContext, name: str, load: Callable[[ReadContext], T]) -> T:
    """`ctx.fact(name, load)` for reads made from several threads: ReadContext.fact holds the context's one
    lock while it loads, which would run concurrent per-key reads one at a time. Here the context caches a
    per-name `_Once` (the lock held only to find or make it) and the read runs under that name's own lock."""
    once = ctx.fact(name, lambda _: _Once())
    return once.get(lambda: load(ctx))  # type: ignore[no-any-return]


@dataclass(frozen=True)
class AccessKey(Fact):
    """One access key as iam_access_keys reads it: ListAccessKeys, plus its last use where a rule needs it."""

    key_id: str = field(metadata=key("AccessKeyId"))
    status: str = field(metadata=key("Status"))  # Active | Inactive
    create_date: str | None = field(metadata=key("CreateDate"))  # ISO
    # Last use, from the source named by last_used_source (None: not read, no rule needed it).
    last_used_date: str | None = field(default=None, metadata=key("LastUsedDate"))  # ISO, None: never used
    last_used_service: str | None = field(default=None, metadata=key("LastUsedService"))
    last_used_region: str | None = field(default=None, metadata=key("LastUsedRegion"))
    last_used_source: str | None = field(default=None, metadata=key("LastUsedSource"))

    @classmethod
    def listed(cls, entry: dict[str, Any]) -> AccessKey:
        """A key from a `list_keys` entry, its last use not read."""
        return cls(key_id=entry["AccessKeyId"], status=entry["Status"], create_date=entry["CreateDate"])

    @property
    def active(self) -> bool:
        return self.status == "Active"


@dataclass(frozen=True)
class KeyHolder(Fact):
    """A user whose keys were read: its keys and the ones remediator deactivated (from its tags)."""

    name: str = field(metadata=key("UserName"))
    deactivated_keys: dict[str, str] = field(metadata=key("DeactivatedKeys"))  # AccessKeyId → ISO date
    keys: tuple[AccessKey, ...] = field(metadata=key("Keys", of=AccessKey))

    def find(self, key_id: str) -> AccessKey | None:
        return next((k for k in self.keys if k.key_id == key_id), None)


def list_keys(ctx: ReadContext, user: str) -> list[dict[str, Any]]:
    """The user's keys now: AccessKeyId, Status, CreateDate (ISO). Never the secret: AWS does not return it."""

    def load(ctx: ReadContext) -> list[dict[str, Any]]:
        keys = []
        for page in ctx.client("iam").pages("list_access_keys", UserName=user):
            for meta in page.get("AccessKeyMetadata", []):
                keys.append(
                    {
                        "AccessKeyId": meta["AccessKeyId"],
                        "Status": meta["Status"],
                        "CreateDate": iso(meta.get("CreateDate")),
                    }
                )
        return keys

    return _cached(ctx, f"access_keys:{user}", load)


def last_used(ctx: ReadContext, key_id: str) -> dict[str, Any]:
    """GetAccessKeyLastUsed: LastUsedDate (ISO or None), ServiceName, Region."""

    def load(ctx: ReadContext) -> dict[str, Any]:
        data = ctx.client("iam").call("get_access_key_last_used", AccessKeyId=key_id).get("AccessKeyLastUsed", {})
        service, region = data.get("ServiceName"), data.get("Region")
        return {
            "LastUsedDate": iso(data.get("LastUsedDate")),
            "ServiceName": None if service in (None, "N/A") else service,
            "Region": None if region in (None, "N/A") else region,
        }

    return _cached(ctx, f"access_key_last_used:{key_id}", load)


def deactivation_tag(key_id: str) -> str:
    return f"{DEACTIVATED_TAG_PREFIX}{key_id}"


def deactivate_calls(
    user: str, key_id: str, day: str, *, tagged_on: str | None = None
) -> tuple[tuple[ApiCall, ...], tuple[ApiCall, ...]]:
    """(calls, undo) to deactivate one key and record on its user when remediator did it.

    The dated tag is written first, then the key is deactivated. The two writes are one change, and a run
    can be killed between them: tag first, what a cut leaves is an active key carrying the tag, which the
    next run finds still breaking its rule and deactivates (completing the change). The other order would
    leave an inactive key without the tag, which no later run can tell from a key someone else switched off:
    `delete_after_days` would never find it, and dating it then would start the deletion clock on keys that
    were never ours. So an inactive key without the tag is never dated by remediator (see iam_access_keys).
    `tagged_on`: the date the user's tag already holds for this key (a cut run's, or one from before someone
    re-activated the key): the tag is written again only if it differs, and the undo puts that date back.
    The undo re-activates first, so a rollback cut between its writes leaves the same safe state.
    """
    tag = deactivation_tag(key_id)
    key = {"UserName": user, "AccessKeyId": key_id}
    deactivate = ApiCall("iam", "update_access_key", {**key, "Status": "Inactive"})
    reactivate = ApiCall("iam", "update_access_key", {**key, "Status": "Active"})
    if tagged_on == day:
        return (deactivate,), (reactivate,)
    calls = (ApiCall("iam", "tag_user", {"UserName": user, "Tags": [{"Key": tag, "Value": day}]}), deactivate)
    if tagged_on is None:
        restore_tag = ApiCall("iam", "untag_user", {"UserName": user, "TagKeys": [tag]})
    else:
        restore_tag = ApiCall("iam", "tag_user", {"UserName": user, "Tags": [{"Key": tag, "Value": tagged_on}]})
    return calls, (reactivate, restore_tag)


def delete_key_call(user: str, key_id: str) -> ApiCall:
    return ApiCall("iam", "delete_access_key", {"UserName": user, "AccessKeyId": key_id})


def delete_calls(user: str, key_id: str, *, tagged: bool) -> tuple[ApiCall, ...]:
    """Delete one key and, when remediator had recorded deactivating it, that tag (a user holds at most 50)."""
    calls = (delete_key_call(user, key_id),)
    if tagged:
        calls += (ApiCall("iam", "untag_user", {"UserName": user, "TagKeys": [deactivation_tag(key_id)]}),)
    return calls


def deactivated_keys(tags: list[dict[str, Any]] | dict[str, Any] | None) -> dict[str, str]:
    """AccessKeyId → the day remediator deactivated it, from a user's tags (AWS's list, or a name → value map)."""
    pairs = tags.items() if isinstance(tags, dict) else ((t.get("Key", ""), t.get("Value", "")) for t in tags or [])
    return {
        key[len(DEACTIVATED_TAG_PREFIX) :]: str(value)
        for key, value in pairs
        if key.startswith(DEACTIVATED_TAG_PREFIX) and len(key) > len(DEACTIVATED_TAG_PREFIX)
    }


class LiveKeys:
    """Live reads of one account's keys on demand, after planning: what the applier confirms a change with.

    `iam_access_keys.read` puts one in `current`; `plan` never touches it, so planning (check mode) costs no
    call for it. `resource_state` asks it, for the one key a change names, just before the applier writes
    that change: the key's live last use (GetAccessKeyLastUsed) and, for a user the read did not list (a
    rollback of a key remediator deactivated, or a key the credential report no longer flags), its keys.
    """

    def __init__(self, ctx: ReadContext, marks: dict[str, dict[str, str]]) -> None:
        self._ctx = ctx
        self._marks = marks

    def holder(self, user: str) -> KeyHolder | None:
        """The user's keys now (their last use not read), or None when the user is gone."""
        try:
            listed = list_keys(self._ctx, user)
        except AwsError as exc:
            if exc.code == "NoSuchEntity":
                return None
            raise
        keys = tuple(AccessKey.listed(entry) for entry in listed)
        return KeyHolder(name=user, deactivated_keys=dict(self._marks.get(user, {})), keys=keys)

    def last_used(self, key_id: str) -> dict[str, Any] | None:
        """GetAccessKeyLastUsed now (see `last_used`), or None when the key is gone."""
        try:
            return last_used(self._ctx, key_id)
        except AwsError as exc:
            if exc.code == "NoSuchEntity":
                return None
            raise

    def __deepcopy__(self, memo: dict[int, Any]) -> LiveKeys:
        return self  # a reader, not state: copies of `current` share it

    def __repr__(self) -> str:
        return f"LiveKeys({self._ctx.account.name!r})"
