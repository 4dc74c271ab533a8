"""The journal: before each change is applied, its before-image and undo calls are appended and fsync'd.

A crash mid-run leaves a journal that says exactly what was begun and what finished; `rollback`
replays the undo calls of applied changes, newest first, and records each undo so it happens once.

A journal is a file on disk, and whoever can write it could make rollback write to AWS. So reading one
back is reading untrusted input: `read` checks the whole journal before it returns any of it — every
record well-formed, every account a valid connection, every change's args and calls ones its module
accepts, and every undo the inverse of its change (`check_undo`) — and a journal that fails is one
ConfigError naming its line, before rollback makes its first call.
"""

from __future__ import annotations

import json
import os
import re
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from remediator import __version__, registry
from remediator.errors import ConfigError
from remediator.loader.inventory import check_connection
from remediator.loader.yamlfile import MACHINE_FILE_BYTES, read_text
from remediator.model import (
    ACTIONS,
    APPLIED,
    FAILED,
    NOT_CONVERGED,
    SKIPPED,
    STALE,
    Account,
    ApiCall,
    Change,
    TaskPlan,
)
from remediator.planner import scope_of

FORMAT = 1


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class Journal:
    """Appends one JSON line per event, flushed and fsync'd before the change it describes runs."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.run_id = uuid.uuid4().hex[:12]
        self._seq = 0
        self._lock = threading.Lock()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._write(
            {"type": "run", "format": FORMAT, "run_id": self.run_id, "started": now(), "tool_version": __version__}
        )

    def begin(self, account: Account, args: dict[str, Any], change: Change) -> int:
        with self._lock:
            self._seq += 1
            seq = self._seq
        self._write(
            {
                "type": "begin",
                "run_id": self.run_id,
                "seq": seq,
                "at": now(),
                "account": account.connection(),
                "args": args,
                "change": change.to_dict(),
            }
        )
        return seq

    def end(self, seq: int, status: str, message: str = "") -> None:
        self._write(
            {"type": "end", "run_id": self.run_id, "seq": seq, "at": now(), "status": status, "message": message}
        )

    def undone(self, run_id: str, seq: int) -> None:
        self._write({"type": "undone", "run_id": run_id, "seq": seq, "at": now()})

    def _write(self, record: dict[str, Any]) -> None:
        line = json.dumps(record, sort_keys=True, default=str)
        with self._lock, open(self.path, "a", encoding="utf-8") as handle:
            handle.write(line + "\n")
            handle.flush()
            os.fsync(handle.fileno())


@dataclass
class Entry:
    """One change recorded in a journal, and what became of it."""

    run_id: str
    seq: int
    account: Account
    args: dict[str, Any]
    change: Change
    status: str  # applied | failed | unknown (begun, never ended: a crash)
    undone: bool = False
    line: int = 0  # the line of its begin record, for messages

    @property
    def pending(self) -> bool:
        """Applied, or maybe in part (begun and never ended; failed after some of its calls), and not
        undone yet: what rollback acts on."""
        return self.status in (APPLIED, FAILED, "unknown") and not self.undone

    @property
    def partial(self) -> bool:
        """The change may have stopped between its calls: its resource may be anywhere from before to after."""
        return self.status in (FAILED, "unknown")


class JournalProblem(Exception):
    """What is wrong with one record, its field first; `read` adds the file and line."""


NOTHING = "nothing was rolled back"
END_STATUSES = frozenset({APPLIED, FAILED, STALE, SKIPPED, NOT_CONVERGED})
_RUN_ID = re.compile(r"[0-9A-Za-z_-]{1,64}", re.ASCII)
_NAME = re.compile(r"[^\x00-\x1f\x7f]{1,256}")
NONE = type(None)


def read(path: str | Path) -> list[Entry]:
    """Parse and check a whole journal; anything malformed or untrustworthy is a ConfigError naming the line.

    Nothing is returned unless every line passes, so no rollback starts on a journal that fails later."""
    file = str(path)
    lines = read_text(path, "journal", MACHINE_FILE_BYTES).splitlines()
    reader = _Reader()
    for number, text in enumerate(lines, 1):
        if text.strip():
            _at(file, number, reader.take, text, number)
    if not reader.runs:
        raise ConfigError(f"not a remediator journal (no run header); {NOTHING}", file=file, line=1)
    for entry in reader.entries.values():
        _at(file, entry.line, _check_reachable, entry)
    return list(reader.entries.values())


def _at(file: str, line: int, check: Callable[..., None], *args: Any) -> None:
    """Run one check; its problem becomes the journal's error, at `line`."""
    try:
        check(*args)
    except JournalProblem as exc:
        problem = _short(str(exc), 400)[1:-1] if len(str(exc)) > 400 else str(exc)  # echoed values cut short
        raise ConfigError(f"{problem}; {NOTHING}", file=file, line=line) from None
    except RecursionError:
        raise ConfigError(f"a record nested too deeply; {NOTHING}", file=file, line=line) from None
    except (TypeError, ValueError, KeyError, AttributeError, IndexError) as exc:
        # what the checks above a module's own validation did not foresee: still one line, never a traceback
        problem = f"a record this remediator cannot make sense of ({type(exc).__name__})"
        raise ConfigError(f"{problem}; {NOTHING}", file=file, line=line) from None


def _check_reachable(entry: Entry) -> None:
    """Rollback writes only to an account whose id it can prove the credentials reach (see rollback)."""
    if entry.pending and entry.change.undo is not None and not entry.account.account_id:
        raise JournalProblem(
            "account: the entry names no account_id, so rollback cannot prove that its credentials reach the"
            " account the change was made in; add that account's 12-digit account_id to the entry's account"
        )


class _Reader:
    """Takes a journal's records in order, keeping the changes begun and what became of them."""

    def __init__(self) -> None:
        self.runs: set[str] = set()
        self.entries: dict[tuple[str, int], Entry] = {}

    def take(self, text: str, number: int) -> None:
        record = _decode(text, header=not self.runs, number=number)
        kind = record.get("type")
        if not isinstance(kind, str) or kind not in RECORDS:
            raise JournalProblem(f"unknown journal record type {_short(kind)}")
        required, optional = RECORDS[kind]
        _fields(record, required, optional)
        getattr(self, f"_{kind}")(record, number)

    def _run(self, record: dict[str, Any], number: int) -> None:
        version = record.get("format", FORMAT)
        if version > FORMAT or version < 1:
            raise JournalProblem(f"journal format {version} is not one this remediator reads ({FORMAT})")
        run_id = _run_id(record)
        if run_id in self.runs:
            raise JournalProblem(f"run {run_id} has a second run header")
        self.runs.add(run_id)

    def _begin(self, record: dict[str, Any], number: int) -> None:
        key = self._key(record)
        if key[0] not in self.runs:
            raise JournalProblem(f"begin record of run {key[0]}, which the journal never started")
        if key in self.entries:
            raise JournalProblem(f"change {key[1]} of run {key[0]} is begun twice")
        account = _account(record["account"])
        change = _change(record["change"])
        check_entry(account, record["args"], change)
        self.entries[key] = Entry(key[0], key[1], account, dict(record["args"]), change, "unknown", line=number)

    def _end(self, record: dict[str, Any], number: int) -> None:
        entry = self._entry(record, "end")
        if entry.status != "unknown" or entry.undone:
            raise JournalProblem(f"change {entry.seq} of run {entry.run_id} ends twice, or after its undo")
        if record["status"] not in END_STATUSES:
            raise JournalProblem(f"status: {_short(record['status'])} is not one a change ends with")
        entry.status = record["status"]

    def _undone(self, record: dict[str, Any], number: int) -> None:
        entry = self._entry(record, "undone")
        if not entry.pending:
            raise JournalProblem(f"change {entry.seq} of run {entry.run_id} is undone twice, or was never applied")
        entry.undone = True

    def _entry(self, record: dict[str, Any], kind: str) -> Entry:
        entry = self.entries.get(self._key(record))
        if entry is None:
            raise JournalProblem(f"{kind} record for a change the journal never began")
        return entry

    @staticmethod
    def _key(record: dict[str, Any]) -> tuple[str, int]:
        if record["seq"] < 1:
            raise JournalProblem("seq: must be 1 or more")
        return _run_id(record), record["seq"]


def _decode(text: str, *, header: bool, number: int) -> dict[str, Any]:
    """One line as a JSON object; the first must be a run header."""
    try:
        record = json.loads(text)
    except (ValueError, RecursionError):  # JSONDecodeError; an integer too long to convert; nesting
        record = None
        if not header:
            raise JournalProblem("journal truncated or corrupt line") from None
    if header and (not isinstance(record, dict) or record.get("type") != "run"):
        raise JournalProblem(f"not a remediator journal (line {number} is not a run header)")
    if not isinstance(record, dict):
        raise JournalProblem(f"a journal record is a JSON object, not {_kind(record)}")
    return record


def _run_id(record: dict[str, Any]) -> str:
    if not _RUN_ID.fullmatch(record["run_id"]):
        raise JournalProblem("run_id: must be 1 to 64 letters, digits, - or _")
    return str(record["run_id"])


# ---- the shape of records -----------------------------------------------------------------------------------

Kinds = type | tuple[type, ...]
RECORDS: dict[str, tuple[dict[str, Kinds], dict[str, Kinds]]] = {
    "run": ({"type": str, "run_id": str}, {"format": int, "started": str, "tool_version": str}),
    "begin": ({"type": str, "run_id": str, "seq": int, "account": dict, "args": dict, "change": dict}, {"at": str}),
    "end": ({"type": str, "run_id": str, "seq": int, "status": str}, {"at": str, "message": str}),
    "undone": ({"type": str, "run_id": str, "seq": int}, {"at": str}),
}
CHANGE_REQUIRED: dict[str, Kinds] = {"address": str, "module": str, "resource": str, "action": str, "calls": list}
CHANGE_OPTIONAL: dict[str, Kinds] = {
    "before": (dict, NONE),
    "after": (dict, NONE),
    "undo": (list, NONE),
    "summary": str,
    "reason": str,
    "creates": str,
}
CALL_REQUIRED: dict[str, Kinds] = {"service": str, "operation": str}
CALL_OPTIONAL: dict[str, Kinds] = {"params": dict, "region": (str, NONE), "wait_for": list}
# What Account.connection() writes: every field but the inventory's own (groups, vars).
# (the external id: the reference to the inventory account that holds it, or an older journal's value)
CONNECTION_OPTIONAL: dict[str, Kinds] = {
    key: (str, NONE) for key in Account.__dataclass_fields__ if key not in ("name", "groups", "vars")
} | {"external_id": (str, dict, NONE)}


def _fields(
    data: dict[str, Any],
    required: dict[str, Kinds],
    optional: dict[str, Kinds],
    where: str = "",
    untyped: frozenset[str] = frozenset(),
) -> None:
    """Every required field present, no unknown one, each of its kind (an int is never a bool)."""
    for key in required:
        if key not in data:
            raise JournalProblem(f"{where}{key}: missing")
    for key, value in data.items():
        kinds = required.get(key) or optional.get(key)
        if kinds is None:
            if key in untyped:
                continue
            raise JournalProblem(f"{where}{_short(key)}: not a field a journal has there")
        if not _is(value, kinds):
            raise JournalProblem(f"{where}{key}: must be {_names_of(kinds)}, not {_kind(value)}")


def _is(value: Any, kinds: Kinds) -> bool:
    if isinstance(value, bool) and bool not in (kinds if isinstance(kinds, tuple) else (kinds,)):
        return False
    return isinstance(value, kinds)


def _names_of(kinds: Kinds) -> str:
    names = {dict: "an object", list: "a list", str: "a string", int: "an integer", NONE: "null"}
    return " or ".join(names.get(k, k.__name__) for k in (kinds if isinstance(kinds, tuple) else (kinds,)))


def _kind(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean", NONE: "null"}.get(
        type(value), "a number"
    )


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _account(data: dict[str, Any]) -> Account:
    """The account an entry was written for: a connection as an inventory would give it, rendered."""
    _fields(data, {"name": str}, CONNECTION_OPTIONAL, "account.")
    if not _NAME.fullmatch(data["name"]):
        raise JournalProblem("account.name: must be 1 to 256 characters, none of them control characters")
    for key, value in data.items():
        if isinstance(value, str) and ("{{" in value or "{%" in value):
            raise JournalProblem(f"account.{key}: a template; a journal holds the values a run used")
    if data.get("endpoint_url") == "embedded":
        raise JournalProblem("account.endpoint_url: 'embedded' is an inventory's word; a journal holds the URL")
    settings = {k: v for k, v in data.items() if not isinstance(v, dict)}  # a reference is checked below
    try:
        check_connection(data["name"], settings, "", None)
        return Account.from_connection(data)
    except ConfigError as exc:
        raise JournalProblem(exc.message) from None
    except ValueError as exc:
        raise JournalProblem(f"account.{exc}") from None


def _change(data: dict[str, Any]) -> Change:
    untyped = frozenset(Change.__dataclass_fields__)  # a field added to Change later is let through
    _fields(data, CHANGE_REQUIRED, CHANGE_OPTIONAL, "change.", untyped)
    for label in ("calls", "undo"):
        for i, call in enumerate(data.get(label) or []):
            where = f"change.{label}[{i}]"
            if not isinstance(call, dict):
                raise JournalProblem(f"{where}: must be an object, not {_kind(call)}")
            _fields(call, CALL_REQUIRED, CALL_OPTIONAL, f"{where}.", frozenset(ApiCall.__dataclass_fields__))
            if not all(isinstance(code, str) for code in call.get("wait_for") or []):
                raise JournalProblem(f"{where}.wait_for: must be a list of error codes")
    return Change.from_dict(data)


# ---- what a change and its undo may be ------------------------------------------------------------------------


def check_entry(account: Account, args: dict[str, Any], change: Change) -> None:
    """The checks `apply` makes on a plan file's task (planfile: module, args, calls; the module's own
    `check_change`), on one journal entry; then that its address is its account's, its ARNs name its
    account, and its undo inverts it."""
    from remediator import planfile  # imports botocore: only when a journal is read

    if change.action not in ACTIONS:
        raise JournalProblem(f"change.action: {_short(change.action)} is not one of {', '.join(ACTIONS)}")
    if not registry.has(change.module):
        raise JournalProblem(f"change.module: unknown module {_short(change.module)}")
    module = registry.get(change.module)
    try:
        planfile.check_task_plan(TaskPlan(account.name, "", change.module, "", dict(args)), "begin record")
        for label, calls in (("calls", change.calls), ("undo", change.undo or ())):
            for i, call in enumerate(calls):
                problem = planfile.call_problem(change.module, call)
                if problem:
                    raise JournalProblem(f"change.{label}[{i}]: {problem}")
    except ConfigError as exc:
        raise JournalProblem(exc.message) from None
    expected = f"{scope_of(account, module.global_service)}/{change.module}/{change.resource}"
    if change.address != expected:
        raise JournalProblem(f"change.address: {_short(change.address)} is not its account's ({_short(expected)})")
    _check_arns(change, account.account_id)
    if change.undo is not None:
        check_undo(change, account.account_id)
    problem = module.check_change(dict(args), change)  # what the module holds a plan file's change to
    if problem:
        raise JournalProblem(f"change: {problem}")


# An ARN a call names whose account must be the entry's: a customer managed policy or permissions boundary
# (AWS managed ones are account `aws`), a trail.
_ARN_PARAMS = ("PolicyArn", "PermissionsBoundary", "Name", "TrailName")
_ACCOUNT_ARN = re.compile(r"arn:aws[a-z-]*:(?:iam::|cloudtrail:[a-z0-9-]+:)([0-9]{12}):", re.ASCII)


def _check_arns(change: Change, account_id: str | None) -> None:
    if not account_id:
        return
    for label, calls in (("calls", change.calls), ("undo", change.undo or ())):
        for i, call in enumerate(calls):
            for param in _ARN_PARAMS:
                match = _ACCOUNT_ARN.match(str(call.params.get(param, "")))
                if match and match.group(1) != account_id:
                    raise JournalProblem(
                        f"change.{label}[{i}]: {param} names account {match.group(1)}, not {account_id} as the"
                        " entry's account says"
                    )


# What may undo a write: an operation on the same noun whose verb reverses the write's (`attach_role_policy`
# → `detach_role_policy`; a put replaced or added something, so its undo puts back or deletes; which of the
# two, the before-image says: see REMOVES). It is AWS's naming that makes this hold for every service, so a
# module of one's own gets it too; IRREGULAR adds the pairs whose names do not follow it. What the module may
# call at all (its write permissions, AWS's model of the parameters) is checked beside this.
VERB_INVERSES: dict[str, tuple[str, ...]] = {
    "create": ("delete",),
    "delete": ("create", "put"),
    "put": ("put", "delete"),
    "update": ("update", "delete"),
    "set": ("set",),
    "attach": ("detach",),
    "detach": ("attach",),
    "tag": ("tag", "untag"),
    "untag": ("tag",),
    "start": ("stop",),
    "stop": ("start",),
    "enable": ("disable",),
    "disable": ("enable",),
}
IRREGULAR: dict[tuple[str, str], frozenset[str]] = {
    ("iam", "create_role"): frozenset({"delete_role_permissions_boundary"}),  # a boundary given at creation
    ("iam", "create_policy_version"): frozenset({"set_default_policy_version"}),
    ("iam", "delete_account_password_policy"): frozenset({"update_account_password_policy"}),
    ("iam", "add_user_to_group"): frozenset({"remove_user_from_group"}),
    ("iam", "remove_user_from_group"): frozenset({"add_user_to_group"}),
    ("s3", "put_bucket_lifecycle_configuration"): frozenset({"delete_bucket_lifecycle"}),
    ("s3", "delete_bucket_lifecycle"): frozenset({"put_bucket_lifecycle_configuration"}),
}


def inverses(call: ApiCall) -> set[tuple[str, str]]:
    """The (service, operation)s that may undo `call`."""
    verb, _, noun = call.operation.partition("_")
    found = {f"{undo}_{noun}" for undo in VERB_INVERSES.get(verb, ())} if noun else set()
    return {(call.service, op) for op in found | IRREGULAR.get((call.service, call.operation), frozenset())}


# An undo that removes something removes only what the change added: the change created the resource (no
# before-image), or its before-image holds nothing (no policy, logging off, no boundary, no tags), or, where
# it also holds other fields, says so for what the call removes:
REMOVES: dict[str, Callable[[dict[str, Any], ApiCall], bool]] = {
    "untag_user": lambda b, call: all(b.get(k) is None for k in call.params.get("TagKeys", [])),
    "untag_role": lambda b, call: all(b.get(k) is None for k in call.params.get("TagKeys", [])),
    "delete_user_permissions_boundary": lambda b, _: "PermissionsBoundary" in b and not b["PermissionsBoundary"],
    "delete_role_permissions_boundary": lambda b, _: "PermissionsBoundary" in b and not b["PermissionsBoundary"],
    "delete_user_policy": lambda b, _: b.get("QuarantinePolicy") is False,  # iam_users' quarantine policy
}
_REMOVING = ("delete_", "remove_", "detach_", "untag_", "stop_", "disable_", "deactivate_")

# Parameters that name what a call acts on: an undo names only what its change's calls name.
NAME_PARAMS = (
    "UserName",
    "RoleName",
    "GroupName",
    "PolicyArn",
    "PolicyName",
    "AccessKeyId",
    "InstanceProfileName",
    "Bucket",
    "Name",
    "TrailName",
)
# Values an undo writes that no before-image holds: re-activating the keys a quarantine deactivated.
CONSTANTS: dict[tuple[str, str], frozenset[Any]] = {("update_access_key", "Status"): frozenset({"Active"})}
# A parameter whose before-image field has another name (UpdateTrail's flag, DescribeTrails' field).
FIELD_OF = {"EnableLogFileValidation": "LogFileValidationEnabled"}
_PARTITIONS = ("aws", "aws-cn", "aws-us-gov")


def check_undo(change: Change, account_id: str | None) -> None:
    """An undo is the inverse of its change, as its module plans it: each call an inverse of one of the
    change's writes (`inverses`), in the same region, on what those writes name (NAME_PARAMS, tag keys, the ARN
    of a policy the change created), removing only what the change added (REMOVES), and writing only values
    the change's before-image holds. Raises JournalProblem naming the call and what is wrong."""
    if not change.undo:
        raise JournalProblem("change.undo: empty (a change that cannot be undone has undo null)")
    undoes = {pair for c in change.calls for pair in inverses(c)}
    names = _named(change.calls, account_id)
    tag_keys = {key for call in change.calls for key in _tag_keys(call)}
    known = _leaves(change.before) | {("value", key) for key in tag_keys}
    regions = {c.region for c in change.calls}
    writes = ", ".join(sorted({str(c) for c in change.calls}))
    for i, call in enumerate(change.undo):
        where = f"change.undo[{i}] {call}"
        if (call.service, call.operation) not in undoes:
            raise JournalProblem(f"{where}: does not undo {writes}")
        if call.region not in regions:
            raise JournalProblem(f"{where}: region {_short(call.region)} is not one its change's calls use")
        for param in NAME_PARAMS:
            value = call.params.get(param)
            if param in call.params and (not isinstance(value, str) or value not in names.get(param, ())):
                raise JournalProblem(f"{where}: {param} {_short(call.params[param])} is not what its change names")
        if not set(_tag_keys(call)) <= tag_keys:
            raise JournalProblem(f"{where}: tags keys its change does not set")
        if _removes(call) and not _was_absent(change.before, call):
            raise JournalProblem(f"{where}: removes what was there before the change (its before-image)")
        for param, held in call.params.items():
            if param in NAME_PARAMS:
                continue  # checked above
            allowed = known | {("value", v) for v in CONSTANTS.get((call.operation, param), ())}
            if not _leaves(held, param) <= allowed:
                raise JournalProblem(f"{where}: {param} holds a value the change's before-image does not")


def _removes(call: ApiCall) -> bool:
    return call.operation.startswith(_REMOVING)


def _was_absent(before: dict[str, Any] | None, call: ApiCall) -> bool:
    """Whether the before-image says that what `call` removes was not there before the change."""
    if before is None or all(v is None or v is False or v in ("", {}, []) for v in before.values()):
        return True
    test = REMOVES.get(call.operation)
    return test is not None and test(before, call)


def _named(calls: tuple[ApiCall, ...], account_id: str | None) -> dict[str, set[Any]]:
    """What the calls name, by parameter; a created policy's ARN is its path and name in the entry's account
    (any account, for an entry that names none: it is never rolled back, see _check_reachable)."""
    names: dict[str, set[Any]] = {}
    for call in calls:
        for param in NAME_PARAMS:
            if param in call.params:
                names.setdefault(param, set()).add(call.params[param])
    created = [c for c in calls if c.operation == "create_policy" and isinstance(c.params.get("PolicyName"), str)]
    for call in created:
        path, name = call.params.get("Path", "/"), call.params["PolicyName"]
        names.setdefault("PolicyArn", set()).update(
            f"arn:{p}:iam::{account_id}:policy{path}{name}" for p in _PARTITIONS
        )
    if created and not account_id:
        names["PolicyArn"] = _AnyAccount(names["PolicyArn"])
    return names


class _AnyAccount(set):  # type: ignore[type-arg]
    """Policy ARNs where the account is not known: `None` in place of the account matches any 12 digits."""

    def __contains__(self, value: object) -> bool:
        if not isinstance(value, str):
            return False
        return super().__contains__(re.sub(r"(?<=:iam::)[0-9]{12}(?=:)", "None", value, count=1, flags=re.ASCII))


def _tag_keys(call: ApiCall) -> Iterator[Any]:
    """The tag keys a TagRole/UntagUser… call sets or removes."""
    if not call.operation.startswith(("tag_", "untag_")):
        return
    for tag in call.params.get("Tags") or []:
        yield tag.get("Key") if isinstance(tag, dict) else tag
    yield from call.params.get("TagKeys") or []


def _leaves(value: Any, key: str = "") -> set[tuple[Any, ...]]:
    """The values a before-image or an undo's parameter holds, to compare the two: scalars (a policy document
    as JSON text counts by its content), booleans with the name of their field, so that an undo cannot turn
    RequireSymbols off just because some other field of the before-image is false."""
    if isinstance(value, dict):
        return set().union(*(_leaves(v, str(k)) for k, v in value.items()))
    if isinstance(value, list):
        return set().union(*(_leaves(v, key) for v in value))
    if isinstance(value, str) and value[:1] in "{[":
        try:
            return _leaves(json.loads(value), key)
        except ValueError:
            pass
    if isinstance(value, bool):
        return {("bool", FIELD_OF.get(key, key), value)}
    return {("value", value)}
