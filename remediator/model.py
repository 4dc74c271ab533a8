"""The core data of a run: plain frozen dataclasses that serialise to JSON and back.

Everything that crosses a boundary (planner → report, plan file, journal) is one of these, so a plan
saved today applies tomorrow exactly as it was shown.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

ACTIONS = ("create", "update", "delete", "disable", "enable")
SEVERITIES = ("low", "medium", "high", "critical")
EXTERNAL_ID_REF = "inventory_account"


@dataclass(frozen=True)
class Location:
    file: str
    line: int | None = None

    def __str__(self) -> str:
        return f"{self.file}:{self.line}" if self.line else self.file


@dataclass(frozen=True)
class Account:
    """One AWS account of the inventory and how to reach it (never its secrets)."""

    name: str
    account_id: str | None = None
    region: str = "us-east-1"
    profile: str | None = None
    role_arn: str | None = None
    external_id: str | None = None
    session_name: str | None = None
    endpoint_url: str | None = None
    groups: tuple[str, ...] = ()
    vars: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)
    # An account read from a plan file or journal whose role needs an external id: the inventory account
    # that holds it (files never hold the value; `remediator.externalids` puts it back from the inventory).
    external_id_from: str | None = None

    def connection(self) -> dict[str, Any]:
        """What a later `apply` or `rollback` needs to reach the same account again. The external id is a
        secret shared with the account's owner: it is written as a reference to the inventory account."""
        keys = ("name", "account_id", "region", "profile", "role_arn", "session_name")
        data = {k: getattr(self, k) for k in keys if getattr(self, k) is not None}
        if self.external_id or self.external_id_from:
            data["external_id"] = {EXTERNAL_ID_REF: self.external_id_from or self.name}
        if self.endpoint_url:
            data["endpoint_url"] = self.endpoint_url
        return data

    @classmethod
    def from_connection(cls, data: dict[str, Any]) -> Account:
        fields = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        reference = fields.get("external_id")
        if isinstance(reference, dict):  # {"inventory_account": NAME}: the value stays in the inventory
            name = reference.get(EXTERNAL_ID_REF)
            if not isinstance(name, str) or not name or set(reference) != {EXTERNAL_ID_REF}:
                raise ValueError(f"external_id must be {{{EXTERNAL_ID_REF}: NAME}}")
            fields["external_id"], fields["external_id_from"] = None, name
        return cls(**fields)


@dataclass(frozen=True)
class Task:
    """One task as written in the playbook, before rendering."""

    name: str
    module: str
    args: dict[str, Any]
    location: Location
    arg_lines: dict[str, int] = field(default_factory=dict, compare=False, hash=False)
    key_lines: dict[str, int] = field(default_factory=dict, compare=False, hash=False)
    when: Any = None
    loop: Any = None
    tags: tuple[str, ...] = ()
    max_changes: Any = None
    lint: str = "warn"


@dataclass(frozen=True)
class Play:
    name: str
    pattern: str
    tasks: tuple[Task, ...]
    location: Location
    vars: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)


@dataclass(frozen=True)
class Playbook:
    path: str
    plays: tuple[Play, ...]
    digest: str = ""


@dataclass(frozen=True)
class ApiCall:
    """One write, as data: the only form a change to AWS takes."""

    service: str
    operation: str
    params: dict[str, Any] = field(default_factory=dict)
    region: str | None = None
    # Error codes that mean an earlier write of the same run has not reached every AWS endpoint yet
    # (CreateTrail answering InsufficientS3BucketPolicyException right after PutBucketPolicy): the applier
    # retries them for as long as AWS takes to propagate, then fails with AWS's own message.
    wait_for: tuple[str, ...] = ()

    def __str__(self) -> str:
        return f"{self.service}.{self.operation}"

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ApiCall:
        return cls(
            data["service"],
            data["operation"],
            dict(data.get("params") or {}),
            data.get("region"),
            tuple(data.get("wait_for") or ()),
        )


@dataclass(frozen=True)
class Change:
    """What differs for one resource, why, how to fix it, and how to undo the fix."""

    address: str
    module: str
    resource: str
    action: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    calls: tuple[ApiCall, ...]
    undo: tuple[ApiCall, ...] | None
    summary: str
    reason: str = ""
    # An entity this change brings into existence ("role:NAME", "policy:ARN"), so that later tasks of
    # the same run may refer to it while it exists only in the plan.
    creates: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Change:
        undo = data.get("undo")
        return cls(
            address=data["address"],
            module=data["module"],
            resource=data["resource"],
            action=data["action"],
            before=data.get("before"),
            after=data.get("after"),
            calls=tuple(ApiCall.from_dict(c) for c in data["calls"]),
            undo=None if undo is None else tuple(ApiCall.from_dict(c) for c in undo),
            summary=data.get("summary", ""),
            reason=data.get("reason", ""),
            creates=data.get("creates", ""),
        )


INFO = "info"  # a finding's severity for notes (left alone by design): shown, never changes the exit code


@dataclass(frozen=True)
class Finding:
    """What a check-only rule found and no API call of ours can fix. Severity `info` is a note (a resource
    left alone by design): reported like the others, but not open, so it never makes the exit code 2."""

    address: str
    resource: str
    severity: str
    message: str
    controls: tuple[str, ...] = ()
    # What the finding rests on, as JSON-ready data (for iam_unused_permissions: the lists unused, unknown
    # and used). Reports in JSON carry it; text reports show the message only. Not hashed: it is a mapping.
    evidence: dict[str, Any] | None = field(default=None, hash=False)

    @property
    def open(self) -> bool:
        return self.severity != INFO

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        if data["evidence"] is None:
            del data["evidence"]  # most findings carry none: their JSON stays as it was
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Finding:
        return cls(
            data["address"],
            data["resource"],
            data["severity"],
            data["message"],
            tuple(data.get("controls", ())),
            data.get("evidence"),
        )


@dataclass
class TaskPlan:
    """One task for one account: the rendered args, and what planning found."""

    account: str
    task: str
    module: str
    location: str
    args: dict[str, Any] = field(default_factory=dict)
    changes: list[Change] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    noop_reason: str = ""
    error: str = ""
    skipped: str = ""
    max_changes: int | None = None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["changes"] = [c.to_dict() for c in self.changes]
        data["findings"] = [f.to_dict() for f in self.findings]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TaskPlan:
        return cls(
            account=data["account"],
            task=data["task"],
            module=data["module"],
            location=data.get("location", ""),
            args=dict(data.get("args") or {}),
            changes=[Change.from_dict(c) for c in data.get("changes", [])],
            findings=[Finding.from_dict(f) for f in data.get("findings", [])],
            noop_reason=data.get("noop_reason", ""),
            error=data.get("error", ""),
            skipped=data.get("skipped", ""),
            max_changes=data.get("max_changes"),
        )


# Results of applying one change.
APPLIED, STALE, FAILED, SKIPPED, NOT_CONVERGED = "applied", "stale", "failed", "skipped", "not-converged"


@dataclass
class ChangeResult:
    address: str
    status: str
    message: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class AccountRun:
    """Everything that happened to one account in one run."""

    account: Account
    task_plans: list[TaskPlan] = field(default_factory=list)
    results: list[ChangeResult] = field(default_factory=list)
    error: str = ""
    converged: bool | None = None
    leftover: list[Change] = field(default_factory=list)
    unreachable: bool = False  # never reached: its own status, never a pass

    @property
    def changes(self) -> list[Change]:
        return [c for tp in self.task_plans for c in tp.changes]

    @property
    def findings(self) -> list[Finding]:
        return [f for tp in self.task_plans for f in tp.findings]

    @property
    def open_findings(self) -> list[Finding]:
        """The findings that keep a run from passing (all but `info` notes)."""
        return [f for f in self.findings if f.open]
