"""iam_unused_permissions: check only. Permissions creep: what each user and role holds but has not used.

Per IAM user and role (AWS-managed roles aside; `include` / `exclude` on the name or path), the actions
its identity policies grant (`remediator.grants`: inline, attached managed, through a user's groups, minus
unconditional denies, within the permissions boundary) are compared with the actions its successful
CloudTrail events used over the last `unused_days` (`remediator.events`: a role's sessions count for the
role). Each granted action is:

- `used`: an event of the window used it;
- `unknown`: management events cannot show it (a data event such as `s3:GetObject`, a permission-only
  action such as `iam:PassRole`), the catalogue does not know it, or the evidence is partial (the events
  do not cover every region for the whole window, or a policy reaching the principal could not be read):
  never judged unused on partial evidence;
- `unused`: everything else.

One finding (low) per principal with unused actions, its `evidence` holding the three lists. A principal
created within the window is not judged: it has not had the window to use anything.

`read` is the only I/O: the window's events (`events.activity.read_activity`, per principal, as
`{arn: {action: count}}`), the authorization details, and the default version of each AWS managed policy
that reaches a judged principal (GetPolicy + GetPolicyVersion, once per policy per account: the details'
`LocalManagedPolicy` filter leaves them out). `plan` is pure over that.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any

from remediator import grants, selection, timeutil
from remediator.aws.context import ReadContext
from remediator.aws.reads import authorization_details
from remediator.changes import ChangeBuilder
from remediator.errors import ArgError, AwsError, RemediatorError
from remediator.events import actions
from remediator.events.activity import Window, choose_source, read_activity
from remediator.events.lookup import WINDOW_DAYS, Coverage
from remediator.events.summary import Principal
from remediator.facts import Fact, key
from remediator.model import Finding
from remediator.registry import Module, PlanResult, register

DEFAULT_DAYS = 90
SHOWN = 10  # actions a message names before "… (N more)"


@dataclass(frozen=True)
class Current(Fact):
    """What `read` returns, JSON-ready through `to_json`; a plan case gives that JSON (`Current.from_json`)."""

    now: str = field(metadata=key("now"))  # ISO
    window: dict[str, str] = field(metadata=key("window"))  # {"start", "end"}, ISO
    source: str = field(metadata=key("source"))  # lookup | s3
    coverage: dict[str, Any] = field(metadata=key("coverage"))  # {"complete", "regions", "notes"}
    activity: dict[str, dict[str, int]] = field(default_factory=dict, metadata=key("activity"))  # ARN → counts
    principals: tuple[grants.Entity, ...] = field(default=(), metadata=key("principals", of=grants.Entity))
    groups: tuple[grants.Entity, ...] = field(default=(), metadata=key("groups", of=grants.Entity))
    # managed policy ARN → its default version's document (None: it could not be read)
    policies: dict[str, Any] = field(default_factory=dict, metadata=key("policies"))


def _judged(args: dict[str, Any], entity: grants.Entity) -> bool:
    """Users and roles the task selects; AWS-managed roles never."""
    return not entity.aws_managed and selection.picks(args, entity.name, entity.path)


def _activity(principals: list[Principal]) -> dict[str, dict[str, int]]:
    """Successful events per principal, by IAM action in the catalogue's spelling (as written if unknown).
    A summary's `actions` count successful events only: a denial is no use, other errors are not either,
    and calls that need no permission have no action."""
    found: dict[str, dict[str, int]] = {}
    for principal in principals:
        counts: dict[str, int] = {}
        for action, count in principal.actions.items():
            action = actions.canonical_action(action) or action
            counts[action] = counts.get(action, 0) + count
        if counts:
            found[principal.arn] = dict(sorted(counts.items()))
    return dict(sorted(found.items()))


def aws_managed_document(ctx: ReadContext, arn: str) -> Any:
    """The default version's document of an AWS managed policy (None when it cannot be read), once per ARN."""

    def load(ctx: ReadContext) -> Any:
        iam = ctx.client("iam")
        try:
            policy = iam.call("get_policy", PolicyArn=arn)["Policy"]
            version = iam.call("get_policy_version", PolicyArn=arn, VersionId=policy["DefaultVersionId"])
        except AwsError:
            return None  # the principals it reaches are not judged (Grant.missing)
        return version["PolicyVersion"].get("Document")

    return ctx.fact(f"aws_managed_policy:{arn}", load)


def _role_without_path(arn: str) -> str:
    """`arn:aws:iam::ID:role/path/NAME` → `arn:aws:iam::ID:role/NAME`: how a session names its role when
    the record carries no session issuer."""
    head, sep, rest = arn.partition(":role/")
    return f"{head}{sep}{rest.rsplit('/', 1)[-1]}" if sep else arn


def _used_by(entity: grants.Entity, activity: dict[str, dict[str, int]]) -> set[str]:
    used = set(activity.get(entity.arn, {}))
    if entity.kind == "role":
        short = _role_without_path(entity.arn)
        if short != entity.arn:
            used |= set(activity.get(short, {}))
    return used


def _listing(names: list[str]) -> str:
    shown = ", ".join(names[:SHOWN])
    more = len(names) - SHOWN
    return f"{shown}, … ({more} more)" if more > 0 else shown


@register
class UnusedPermissions(Module):
    name = "iam_unused_permissions"
    summary = "Check only: permissions creep, the actions each user and role holds but has not used in unused_days."
    args_schema = {
        "properties": {
            "unused_days": {
                "type": "integer",
                "minimum": 1,
                "description": f"the window of CloudTrail events read (default {DEFAULT_DAYS}; source lookup reaches"
                f" back {WINDOW_DAYS} days)",
            },
            "source": {
                "enum": ["auto", "lookup", "s3"],
                "description": f"auto (default): LookupEvents when the window fits in {WINDOW_DAYS} days, else the"
                " trail's S3 archive",
            },
            "action": {"enum": ["report"], "description": "report (the default and only action)"},
            **selection.options("user/role name/path"),
        },
    }
    permissions = {
        "read": [
            "iam:GetAccountAuthorizationDetails",
            "iam:GetPolicy",
            "iam:GetPolicyVersion",
            "cloudtrail:LookupEvents",
            "cloudtrail:DescribeTrails",
            "ec2:DescribeRegions",
            "s3:ListBucket",
            "s3:GetObject",
            "sts:GetCallerIdentity",
        ],
        "write": [],
    }
    example = """\
- name: Report what users and roles hold but have not used in 90 days
  iam_unused_permissions:
    unused_days: 90
    exclude: [break-glass-*]
"""

    def validate(self, args: dict[str, Any]) -> None:
        days = args.get("unused_days", DEFAULT_DAYS)
        if args.get("source") == "lookup" and days > WINDOW_DAYS:
            raise ArgError(
                "unused_days",
                f"source lookup reaches back {WINDOW_DAYS} days only, not {days}: lower unused_days, or read the"
                " trail's archive (source: s3)",
            )

    def read(self, ctx: ReadContext, args: dict[str, Any]) -> Current:
        now = timeutil.now()
        window = Window(now - timedelta(days=args.get("unused_days", DEFAULT_DAYS)), now)
        source = choose_source(args.get("source", "auto"), window, now)
        coverage = Coverage()
        try:
            summaries = read_activity(ctx, window, source, coverage)
        except RemediatorError as exc:  # an AWS refusal, or no trail to read: nothing can be judged unused
            coverage.complete = False
            why = exc.code if isinstance(exc, AwsError) else str(exc)
            coverage.notes.append(f"could not read the events ({why}): nothing can be judged unused")
            summaries = []

        details = authorization_details(ctx)
        principals, groups = grants.entities(details)
        principals = [p for p in principals if not p.aws_managed]
        by_name = {g.name: g for g in groups}
        documents = grants.customer_documents(details)
        needed = {arn for p in principals if _judged(args, p) for arn in grants.policies_of(p, by_name)}
        policies = {
            arn: aws_managed_document(ctx, arn) if grants.is_aws_managed_policy(arn) else documents.get(arn)
            for arn in sorted(needed)
        }
        return Current(
            now=timeutil.iso(now) or "",
            window=window.to_dict(),
            source=source,
            coverage={"complete": coverage.complete, "regions": list(coverage.regions), "notes": list(coverage.notes)},
            activity=_activity(summaries),
            principals=tuple(principals),
            groups=tuple(groups),
            policies=policies,
        )

    def load_current(self, data: Any) -> Current:
        return Current.from_json(data)

    def resource_state(self, current: Any, resource: str) -> dict[str, Any] | None:
        return None  # check only: there are no changes to go stale

    def plan(self, args: dict[str, Any], current: Current, scope: str) -> PlanResult:
        days = args.get("unused_days", DEFAULT_DAYS)
        build = ChangeBuilder(scope, self.name)
        start = timeutil.parse_time(current.window["start"])
        complete = bool(current.coverage.get("complete"))
        groups = {g.name: g for g in current.groups}

        findings: list[Finding] = []
        judged = young = unreadable = 0
        for entity in current.principals:
            if not _judged(args, entity):
                continue
            if entity.create_date and timeutil.parse_time(entity.create_date) > start:
                young += 1  # created within the window: unused counts from creation, not judged
                continue
            grant = grants.granted(entity, groups, current.policies)
            unreadable += bool(grant.missing)
            judged += 1
            evidence = self._evidence(grant, _used_by(entity, current.activity), complete and not grant.missing)
            if not evidence["unused"]:
                continue
            unused, unknown = evidence["unused"], evidence["unknown"]
            message = (
                f"{entity.kind} {entity.name} holds {len(unused)} permission(s) it has not used in {days} days:"
                f" {_listing(unused)}"
            )
            if unknown:
                message += f"; {len(unknown)} more cannot be judged (data events, or actions outside the catalogue)"
            found = build.finding(f"{entity.kind}/{entity.name}", "low", message, subject=entity.arn)
            findings.append(replace(found, evidence=evidence))

        summary = self._summary(current, days, judged, len(findings), young, unreadable)
        return PlanResult(findings=findings, noop_reason=summary)

    @staticmethod
    def _evidence(grant: grants.Grant, used: set[str], judge: bool) -> dict[str, list[str]]:
        """Granted actions as used, unknown or unused (only when `judge`: the evidence is whole)."""
        known = grant.actions & grants.catalogue()
        used_folded = {a.lower() for a in used}
        was_used = (known & used) | {a for a in grant.actions - known if a.lower() in used_folded}
        rest = grant.actions - was_used
        unused = (known & rest) - grants.data_event_actions() if judge else set()
        return {"unused": sorted(unused), "unknown": sorted(rest - unused), "used": sorted(was_used)}

    @staticmethod
    def _summary(current: Current, days: int, judged: int, creeping: int, young: int, unreadable: int) -> str:
        regions = list(current.coverage.get("regions") or [])
        if current.coverage.get("complete"):
            coverage = f"coverage complete ({current.source}, {len(regions)} region(s), {days} days)"
        else:
            notes = "; ".join(current.coverage.get("notes") or []) or "some regions or days were not read"
            coverage = f"coverage incomplete ({current.source}: {notes}): nothing judged unused"
        parts = [f"{judged} user(s) and role(s) judged, {creeping} holding permissions unused in {days} days", coverage]
        if young:
            parts.append(f"{young} created within the window, not judged")
        if unreadable:
            parts.append(f"{unreadable} with a policy that could not be read: nothing judged unused for them")
        return "; ".join(parts)
