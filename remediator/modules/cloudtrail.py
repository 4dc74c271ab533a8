"""cloudtrail: one trail, logging every region to a bucket that keeps the logs past CloudTrail's 90 days.

A regional module: the trail lives in the account's region (its home region), and every address carries
it. One task gives a working trail from nothing, each piece its own change, in the order AWS needs:

    <scope>/cloudtrail/bucket/<bucket>                       create the bucket (left in place by rollback)
    <scope>/cloudtrail/bucket/<bucket>/public-access-block   block all public access
    <scope>/cloudtrail/bucket/<bucket>/policy                CloudTrail's two statements, merged
    <scope>/cloudtrail/trail/<name>                          create the trail, or update it in place
    <scope>/cloudtrail/trail/<name>/event-selectors          management events (all / write / read)
    <scope>/cloudtrail/trail/<name>/logging                  StartLogging / StopLogging
    <scope>/cloudtrail/bucket/<bucket>/lifecycle             the retention rule beside the bucket's own

The policy goes in before the trail (AWS refuses CreateTrail otherwise) and CreateTrail waits while
the new policy propagates. PutBucketPolicy and PutBucketLifecycleConfiguration replace whole documents,
so both are read-modify-write: what remediator does not own is written back as it was read. A trail is
never deleted and re-created; rollback restores settings, selectors, logging, policy and lifecycle, and
never deletes a trail or a bucket. `state: absent` deletes the trail only, never the bucket or its logs.
"""

from __future__ import annotations

import json
import re
from typing import Any

from remediator import buckets, changecheck, controls
from remediator.buckets import BLOCK_ALL, MIN_RETENTION_DAYS, Bucket, check_bucket_name
from remediator.toolkit import (
    ApiCall,
    ArgError,
    Change,
    ChangeBuilder,
    Finding,
    Module,
    PlanResult,
    ReadContext,
    TaskFailed,
    literal,
    register,
)
from remediator.trails import MANAGEMENT_EVENTS, Trail, check_kms_key_id, list_trails, read_trail

TRAIL_NAME_RULE = (
    "3–128 ASCII letters, digits, periods, underscores and hyphens, starting and ending with a letter or digit"
)
# task option → (Trail field as JSON, UpdateTrail/CreateTrail parameter, default when the task is silent)
TRAIL_OPTIONS: dict[str, tuple[str, str, Any]] = {
    "multi_region": ("IsMultiRegionTrail", "IsMultiRegionTrail", True),
    "include_global_events": ("IncludeGlobalServiceEvents", "IncludeGlobalServiceEvents", True),
    "log_file_validation": ("LogFileValidationEnabled", "EnableLogFileValidation", True),
}
WAIT_FOR_POLICY = ("InsufficientS3BucketPolicyException",)


def _trail_name_problem(name: Any) -> str | None:
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{1,126}[A-Za-z0-9]", name, re.ASCII):
        return f"trail name {name!r}: CloudTrail allows {TRAIL_NAME_RULE}"
    if re.search(r"[._-]{2}", name):
        return f"trail name {name!r}: no two adjacent periods, underscores or hyphens"
    return None


def wanted_settings(args: dict[str, Any]) -> dict[str, Any]:
    """The trail settings the task asks for, as Trail's JSON fields (what create and update compare)."""
    wanted: dict[str, Any] = {"S3BucketName": args["bucket"]}
    for option, (field, _, default) in TRAIL_OPTIONS.items():
        wanted[field] = bool(args.get(option, default))
    if "s3_key_prefix" in args:
        wanted["S3KeyPrefix"] = args["s3_key_prefix"] or None
    return wanted


@register
class CloudTrail(Module):
    name = "cloudtrail"
    summary = "One trail logging every region to a bucket that keeps the logs past 90 days (regional)."
    global_service = False
    args_schema = {
        "properties": {
            "name": {"type": "string", "description": "the trail's name"},
            "bucket": {"type": "string", "description": "the S3 bucket the trail writes to"},
            "create_bucket": {"type": "boolean", "description": "create the bucket when it does not exist (true)"},
            "s3_key_prefix": {"type": "string", "maxLength": 200, "description": "key prefix, no leading slash"},
            "multi_region": {"type": "boolean", "description": "log every region (true; CIS 3.1)"},
            "include_global_events": {"type": "boolean", "description": "IAM, STS, CloudFront events (true)"},
            "log_file_validation": {"type": "boolean", "description": "signed digest files (true; CIS 3.2)"},
            "logging": {"type": "boolean", "description": "true starts logging, false stops it (true)"},
            "management_events": {
                "enum": list(MANAGEMENT_EVENTS),
                "description": "which management events the trail records (all)",
            },
            "kms_key_id": {"type": "string", "description": "a customer managed KMS key: ARN, alias or id (CIS 3.5)"},
            "retention_days": {
                "type": "integer",
                "minimum": MIN_RETENTION_DAYS,
                "description": "expire logs and digests after this many days (more than 90)",
            },
            "block_public_access": {"type": "boolean", "description": "block all public access to the bucket"},
            "accept_existing": {
                "type": "boolean",
                "description": "another trail (an organization trail too) meeting every option satisfies the task",
            },
            "state": {"enum": ["present", "absent"], "description": "absent deletes the trail, never the bucket"},
        },
        "required": ["name", "bucket"],
    }
    permissions = {
        "read": [
            "cloudtrail:DescribeTrails",
            "cloudtrail:GetTrailStatus",
            "cloudtrail:GetEventSelectors",
            "s3:GetBucketLocation",
            "s3:GetBucketPolicy",
            "s3:GetLifecycleConfiguration",
            "s3:GetBucketPublicAccessBlock",
            "kms:DescribeKey",
        ],
        "write": [
            "s3:CreateBucket",
            "s3:PutBucketPublicAccessBlock",
            "s3:PutBucketPolicy",
            "s3:DeleteBucketPolicy",
            "s3:PutLifecycleConfiguration",
            "cloudtrail:CreateTrail",
            "cloudtrail:UpdateTrail",
            "cloudtrail:PutEventSelectors",
            "cloudtrail:StartLogging",
            "cloudtrail:StopLogging",
            "cloudtrail:DeleteTrail",
        ],
    }
    example = """\
- name: CloudTrail in every region, logs kept a year (CIS 3.1, 3.2)
  cloudtrail:
    name: account-trail
    bucket: "cloudtrail-{{ account_id }}-{{ account_region }}"
    s3_key_prefix: trail
    retention_days: 365
    # kms_key_id: alias/cloudtrail    # CIS 3.5: the key policy must let CloudTrail use it
"""

    # ---- validation -------------------------------------------------------------------------------

    def write_permissions(self, args: dict[str, Any]) -> list[str]:
        """The writes a run makes (rollback's undo also needs DeleteBucketPolicy and the opposite of
        Start/StopLogging)."""
        state = literal(args, "state", "present")
        if state == "absent":
            return ["cloudtrail:DeleteTrail"]
        if state != "present":
            return super().write_permissions(args)
        writes = [
            "s3:PutBucketPolicy",
            "cloudtrail:CreateTrail",
            "cloudtrail:UpdateTrail",
            "cloudtrail:PutEventSelectors",
        ]
        options = (
            ("create_bucket", True, "s3:CreateBucket"),
            ("block_public_access", True, "s3:PutBucketPublicAccessBlock"),
        )
        writes += [action for option, default, action in options if literal(args, option, default) is not False]
        if "retention_days" in args:
            writes.append("s3:PutLifecycleConfiguration")
        logging = literal(args, "logging", True)
        writes += (
            ["cloudtrail:StartLogging"]
            if logging is True
            else ["cloudtrail:StopLogging"]
            if logging is False
            else ["cloudtrail:StartLogging", "cloudtrail:StopLogging"]
        )
        return writes

    def resources(self, args: dict[str, Any]) -> dict[str, list[str]]:
        """Bucket actions on the bucket, trail actions on the trail, when both are named literally.
        DescribeTrails cannot be scoped; reading other trails (accept_existing) needs "*" too."""
        bucket, name = literal(args, "bucket"), literal(args, "name")
        found: dict[str, list[str]] = {}
        if isinstance(bucket, str):
            arn = [f"arn:aws:s3:::{bucket}"]
            found.update({a: arn for a in self.permissions["read"] + self.permissions["write"] if a.startswith("s3:")})
        if isinstance(name, str) and not args.get("accept_existing"):
            arn = [f"arn:aws:cloudtrail:*:*:trail/{name}"]
            trail_actions = self.permissions["read"] + self.permissions["write"]
            found.update(
                {a: arn for a in trail_actions if a.startswith("cloudtrail:") and a != "cloudtrail:DescribeTrails"}
            )
        return found

    def validate(self, args: dict[str, Any]) -> None:
        problem = _trail_name_problem(args.get("name"))
        if problem:
            raise ArgError("name", problem)
        problem = check_bucket_name(args.get("bucket"))
        if problem:
            raise ArgError("bucket", problem)
        if args.get("state") == "absent":
            others = sorted(k for k in args if k not in ("name", "bucket", "state"))
            if others:
                raise ArgError(others[0], "state: absent deletes the trail and takes no other trail options")
            return
        prefix = args.get("s3_key_prefix")
        if prefix is not None and (prefix.startswith("/") or not prefix.isascii() or "//" in prefix):
            raise ArgError("s3_key_prefix", f"{prefix!r}: a key prefix has no leading slash and no empty part")
        if "kms_key_id" in args:
            problem = check_kms_key_id(args["kms_key_id"])
            if problem:
                raise ArgError("kms_key_id", problem)
        days = args.get("retention_days")
        if days is not None and (isinstance(days, bool) or not isinstance(days, int) or days < MIN_RETENTION_DAYS):
            raise ArgError(
                "retention_days",
                f"{days!r}: keep logs more than 90 days (CloudTrail's own event history already keeps 90)",
            )
        if args.get("multi_region", True) and args.get("include_global_events") is False:
            raise ArgError("include_global_events", "a multi-region trail must include global service events")

    # ---- reading ----------------------------------------------------------------------------------

    def read(self, ctx: ReadContext, args: dict[str, Any]) -> dict[str, Any]:
        region = ctx.account.region
        account_id = str(ctx.session.identity().get("Account", ""))
        listed = list_trails(ctx, region)
        own = [e for e in listed if e.get("Name") == args["name"]]
        judged = own if own or not args.get("accept_existing") else listed  # others only when they may be taken
        trails = [read_trail(ctx, e) for e in judged]
        # the rest need no status: only their name and home region matter (a same-named trail elsewhere)
        trails += [_listed_only(e) for e in listed if e not in judged]
        bucket = None if args.get("state") == "absent" else buckets.read_bucket(ctx, args["bucket"])
        wanted_key = args.get("kms_key_id")
        kms_arn = wanted_key
        if wanted_key and ":key/" not in wanted_key:  # an alias or a key id: AWS answers with the key's ARN
            kms_arn = ctx.client("kms", region).call("describe_key", KeyId=wanted_key)["KeyMetadata"]["Arn"]
        return {
            "region": region,
            "account_id": account_id,
            "trails": trails,
            "bucket": bucket,
            "kms_key_arn": kms_arn,
        }

    def load_current(self, data: dict[str, Any]) -> dict[str, Any]:
        bucket = data.get("bucket")
        return {
            **data,
            "trails": [Trail.from_json(t) for t in data["trails"]],
            "bucket": None if bucket is None else Bucket.from_json(bucket),
        }

    def resource_state(self, current: dict[str, Any], resource: str) -> dict[str, Any] | None:
        kind, _, rest = resource.partition("/")
        name, _, part = rest.partition("/")
        if kind == "bucket":
            bucket: Bucket | None = current["bucket"]
            if not part:
                return None if bucket is None else {"Name": bucket.name}
            return _bucket_state(bucket, part)
        trail = _own_trail(current, name)
        if not part:
            return None if trail is None else _trail_settings(trail)
        if part == "event-selectors":
            return _selectors_state(trail)
        return {"IsLogging": bool(trail and trail.logging)}

    # ---- plan files -------------------------------------------------------------------------------

    def check_change(self, args: dict[str, Any], change: Change) -> str | None:
        """Each piece is planned again from its before-image, with what the image does not hold taken from
        the change: the trail's ARN (checked: this trail's name, in the address's region), the bucket's
        region (its calls'), and the account and key prefix CloudTrail's bucket statements name (the prefix
        checked against the task's when it names one). An edited call, undo, after-image or summary, a piece
        of another trail or bucket, or one the args do not plan, is refused."""
        scope = changecheck.scope_of(change, self.name)
        region = scope.rsplit("/", 1)[-1]
        kind, _, rest = change.resource.partition("/")
        owner, _, part = rest.partition("/")
        owners = {"bucket": args["bucket"], "trail": args["name"]}
        if owners.get(kind) != owner:
            return f"{change.resource!r} is neither the task's trail {args['name']!r} nor its bucket {args['bucket']!r}"
        replan = _REPLANS.get((kind, part))
        if replan is None:
            return f"{change.resource!r} is not a piece of a trail this module plans"
        if args.get("state") == "absent" and (kind, part, change.action) != ("trail", "", "delete"):
            return "state: absent deletes the trail and changes nothing else"
        try:
            expected = replan(self, ChangeBuilder(scope, self.name), args, change, region)
        except _Refused as exc:
            return str(exc)
        except TaskFailed as exc:
            return f"the task's args refuse it: {exc}"
        if expected is None:
            return "the before-image already has what the task's args want: they plan no change"
        return changecheck.difference(
            expected, change, keys=(*changecheck.KEYS, "summary"), texts={"Policy": changecheck.json_value}
        )

    # ---- planning ---------------------------------------------------------------------------------

    def plan(self, args: dict[str, Any], current: dict[str, Any], scope: str) -> PlanResult:
        build = ChangeBuilder(scope, self.name)
        name, region = args["name"], current["region"]
        trail = _own_trail(current, args["name"])
        for other in current["trails"]:
            if other.name == name and other.home_region != region and not other.organization:
                raise TaskFailed(
                    f"trail {name} lives in {other.home_region}, not in the account's region {region}: manage it"
                    " with an inventory whose region is its home region"
                )
        if args.get("state") == "absent":
            return self._absent(build, trail, name)

        findings = self._setting_findings(build, args)
        if trail is None and args.get("accept_existing"):
            accepted = self._accepted(args, current)
            if accepted is not None:
                where = f"organization trail {accepted.arn}" if accepted.organization else f"trail {accepted.arn}"
                if not accepted.status_known:
                    where += " (its logging state and selectors are the management account's to read)"
                return PlanResult(
                    findings=[*findings, *self._status_findings(build, accepted)],
                    noop_reason=f"{where} already meets every trail option (accept_existing): no trail {name}"
                    " is created, and no second copy of management events is paid for",
                )

        bucket: Bucket | None = current["bucket"]
        bucket_region = bucket.region if bucket else region
        if bucket is None and args.get("create_bucket", True) is False:
            raise TaskFailed(f"bucket {args['bucket']} does not exist and create_bucket is false")
        prefix = args["s3_key_prefix"] or None if "s3_key_prefix" in args else (trail.prefix if trail else None)
        account_id = current["account_id"]
        trail_arn = (
            trail.arn if trail else f"arn:{buckets.partition_of(region)}:cloudtrail:{region}:{account_id}:trail/{name}"
        )

        changes: list[Change] = []
        if bucket is None:
            changes.append(self._create_bucket(build, args["bucket"], region))
        if args.get("block_public_access", True):
            block = self._public_access_block(build, args["bucket"], bucket, bucket_region)
            changes += [block] if block else []
        policy = self._policy(build, args["bucket"], bucket, bucket_region, prefix, account_id, trail_arn)
        changes += [policy] if policy else []
        changes += self._trail(build, args, trail, current.get("kms_key_arn"), region)
        selectors = self._selectors(build, args, trail, region)
        changes += [selectors] if selectors else []
        logging = self._logging(build, args, trail, region)
        changes += [logging] if logging else []
        if "retention_days" in args:
            lifecycle = self._lifecycle(build, args, bucket, bucket_region, prefix)
            changes += [lifecycle] if lifecycle else []
        findings += self._retention_findings(build, args["bucket"], bucket, prefix)
        if trail is not None:
            findings += self._status_findings(build, trail)
        if not changes:
            return PlanResult(
                findings=findings, noop_reason=f"trail {name} and bucket {args['bucket']} are as the task wants"
            )
        return PlanResult(changes, findings)

    def _absent(self, build: ChangeBuilder, trail: Trail | None, name: str) -> PlanResult:
        if trail is None:
            return PlanResult(noop_reason=f"trail {name} does not exist, as the task wants")
        change = build.delete(
            f"trail/{name}",
            before=_trail_settings(trail),
            calls=(ApiCall("cloudtrail", "delete_trail", {"Name": trail.arn}, trail.home_region),),
            undo=None,
            summary=f"delete trail {name} (cannot be undone: its bucket and logs stay, but logging stops until a"
            " new trail is made)",
            reason="state: absent",
        )
        return PlanResult([change])

    # -- the bucket ----------------------------------------------------------------------------------

    def _create_bucket(self, build: ChangeBuilder, name: str, region: str) -> Change:
        params: dict[str, Any] = {"Bucket": name}
        if region != "us-east-1":  # AWS refuses a LocationConstraint of us-east-1
            params["CreateBucketConfiguration"] = {"LocationConstraint": region}
        return build.create(
            f"bucket/{name}",
            after={"Name": name},
            calls=(ApiCall("s3", "create_bucket", params, region),),
            undo=None,
            summary=f"create bucket {name} in {region} (rollback leaves it in place: it holds the logs)",
            reason="the trail's bucket does not exist",
        )

    def _public_access_block(
        self, build: ChangeBuilder, name: str, bucket: Bucket | None, region: str
    ) -> Change | None:
        live = bucket.public_access_block if bucket else None
        if live == BLOCK_ALL:
            return None
        put = ApiCall(
            "s3", "put_public_access_block", {"Bucket": name, "PublicAccessBlockConfiguration": BLOCK_ALL}, region
        )
        undo = (
            ApiCall(
                "s3", "put_public_access_block", {"Bucket": name, "PublicAccessBlockConfiguration": dict(live)}, region
            )
            if live
            else ApiCall("s3", "delete_public_access_block", {"Bucket": name}, region)
        )
        return build.update(
            f"bucket/{name}/public-access-block",
            before={"PublicAccessBlock": live},
            after={"PublicAccessBlock": BLOCK_ALL},
            calls=(put,),
            undo=(undo,),
            summary=f"block all public access to bucket {name}",
            reason="trail logs must never be public",
        )

    def _policy(
        self,
        build: ChangeBuilder,
        name: str,
        bucket: Bucket | None,
        region: str,
        prefix: str | None,
        account_id: str,
        trail_arn: str,
    ) -> Change | None:
        live = bucket.policy if bucket else None
        wanted = buckets.merged_policy(live, buckets.cloudtrail_statements(name, prefix, account_id, trail_arn))
        if live == wanted:
            return None
        text = json.dumps(wanted, separators=(",", ":"))
        undo = (
            ApiCall(
                "s3", "put_bucket_policy", {"Bucket": name, "Policy": json.dumps(live, separators=(",", ":"))}, region
            )
            if live
            else ApiCall("s3", "delete_bucket_policy", {"Bucket": name}, region)
        )
        kept = len(wanted["Statement"]) - 2
        return build.update(
            f"bucket/{name}/policy",
            before={"Policy": live},
            after={"Policy": wanted},
            calls=(ApiCall("s3", "put_bucket_policy", {"Bucket": name, "Policy": text}, region),),
            undo=(undo,),
            summary=f"bucket {name} policy: CloudTrail may write to it (scoped to {trail_arn})"
            + (f"; its {kept} other statement(s) kept as they are" if kept else ""),
            reason="CloudTrail needs GetBucketAcl and PutObject on the bucket before the trail can be made",
        )

    def _lifecycle(
        self, build: ChangeBuilder, args: dict[str, Any], bucket: Bucket | None, region: str, prefix: str | None
    ) -> Change | None:
        name, days = args["bucket"], int(args["retention_days"])
        live = bucket.lifecycle_rules if bucket else None
        ours = buckets.retention_rule(prefix, days)
        if any(rule == ours for rule in live or ()):
            return None
        rules = buckets.merged_rules(live, ours)
        undo = (
            ApiCall(
                "s3", "put_bucket_lifecycle_configuration",
                {"Bucket": name, "LifecycleConfiguration": {"Rules": [dict(r) for r in live]}}, region,
            )
            if live
            else ApiCall("s3", "delete_bucket_lifecycle", {"Bucket": name}, region)
        )  # fmt: skip
        before = None if live is None else [dict(r) for r in live]
        return build.update(
            f"bucket/{name}/lifecycle",
            before={"LifecycleRules": before},
            after={"LifecycleRules": rules},
            calls=(
                ApiCall(
                    "s3",
                    "put_bucket_lifecycle_configuration",
                    {"Bucket": name, "LifecycleConfiguration": {"Rules": rules}},
                    region,
                ),
            ),  # fmt: skip
            undo=(undo,),
            summary=f"bucket {name}: expire {buckets.log_prefix(prefix)} (logs and digests) after {days} days"
            + (f"; its {len(rules) - 1} other rule(s) kept as they are" if len(rules) > 1 else ""),
            reason=f"retention_days {days}",
        )

    # -- the trail -----------------------------------------------------------------------------------

    def _trail(
        self, build: ChangeBuilder, args: dict[str, Any], trail: Trail | None, kms_arn: str | None, region: str
    ) -> list[Change]:
        name = args["name"]
        wanted = wanted_settings(args)
        if kms_arn:
            wanted["KmsKeyId"] = kms_arn
        if trail is None:
            params: dict[str, Any] = {"Name": name, **_trail_params(wanted, creating=True)}
            if "kms_key_id" in args:
                params["KmsKeyId"] = args["kms_key_id"]
            return [
                build.create(
                    f"trail/{name}",
                    after=wanted,
                    calls=(ApiCall("cloudtrail", "create_trail", params, region, WAIT_FOR_POLICY),),
                    undo=None,
                    summary=f"create trail {name} in {region}"
                    + (" logging every region" if wanted["IsMultiRegionTrail"] else ""),
                    reason="the trail does not exist",
                )
            ]
        live = _trail_settings(trail)
        before = {f: live.get(f) for f, v in wanted.items() if live.get(f) != v}
        if not before:
            return []
        after = {f: wanted[f] for f in before}
        update = {"Name": trail.arn, **_trail_params(after, creating=False)}
        if "KmsKeyId" in after and "kms_key_id" in args:
            update["KmsKeyId"] = args["kms_key_id"]
        restore = {"Name": trail.arn, **_trail_params(before, creating=False)}
        return [
            build.update(
                f"trail/{name}",
                before=before,
                after=after,
                calls=(ApiCall("cloudtrail", "update_trail", update, region, WAIT_FOR_POLICY),),
                undo=(ApiCall("cloudtrail", "update_trail", restore, region),),
                summary=f"trail {name}: " + ", ".join(f"{f} {_fmt(before[f])} → {_fmt(after[f])}" for f in after),
                reason="settings differ from the task (updated in place, never re-created)",
            )
        ]

    def _selectors(self, build: ChangeBuilder, args: dict[str, Any], trail: Trail | None, region: str) -> Change | None:
        name = args["name"]
        kind = args.get("management_events", "all")
        if trail is None and kind == "all":
            return None  # a new trail logs all management events
        if trail is not None and trail.management_events() == kind:
            return None
        if trail is not None and trail.advanced_event_selectors:
            raise TaskFailed(
                f"trail {name} uses advanced event selectors: remediator does not rewrite them (they may log data"
                " events); set its management events by hand, or remove them"
            )
        data = [
            {**s, "IncludeManagementEvents": False}
            for s in (trail.event_selectors if trail else ())
            if s.get("DataResources")
        ]
        selectors = [{"ReadWriteType": MANAGEMENT_EVENTS[kind], "IncludeManagementEvents": True}, *data]
        before = _selectors_state(trail)
        trail_ref = trail.arn if trail else name
        undo = None
        if trail is not None:
            undo = (
                ApiCall(
                    "cloudtrail", "put_event_selectors",
                    {"TrailName": trail_ref, "EventSelectors": [dict(s) for s in trail.event_selectors]}, region,
                ),
            )  # fmt: skip
        return build.update(
            f"trail/{name}/event-selectors",
            before=before,
            after={"EventSelectors": selectors, "AdvancedEventSelectors": []},
            calls=(
                ApiCall(
                    "cloudtrail", "put_event_selectors", {"TrailName": trail_ref, "EventSelectors": selectors}, region
                ),
            ),
            undo=undo,
            summary=f"trail {name}: record {kind.replace('_', ' ')} management events"
            + (f"; its {len(data)} data event selector(s) kept" if data else ""),
            reason="management_events differs from the task",
        )

    def _logging(self, build: ChangeBuilder, args: dict[str, Any], trail: Trail | None, region: str) -> Change | None:
        name = args["name"]
        wanted = bool(args.get("logging", True))
        live = bool(trail and trail.logging)
        if live == wanted:
            return None
        ref = trail.arn if trail else name
        start = ApiCall("cloudtrail", "start_logging", {"Name": ref}, region)
        stop = ApiCall("cloudtrail", "stop_logging", {"Name": ref}, region)
        return build.update(
            f"trail/{name}/logging",
            before={"IsLogging": live},
            after={"IsLogging": wanted},
            calls=(start if wanted else stop,),
            undo=(stop if wanted else start,),
            summary=f"trail {name}: {'start' if wanted else 'stop'} logging",
            reason="logging: true" if wanted else "logging: false",
        )

    # -- accept_existing and findings ------------------------------------------------------------------

    def _accepted(self, args: dict[str, Any], current: dict[str, Any]) -> Trail | None:
        wanted = wanted_settings(args)
        del wanted["S3BucketName"]  # another trail's bucket is its own business
        wanted.pop("S3KeyPrefix", None)
        kms = current.get("kms_key_arn")
        for trail in current["trails"]:
            settings = _trail_settings(trail)
            if any(settings.get(f) != v for f, v in wanted.items()):
                continue
            if kms and trail.kms_key_id != kms:
                continue
            if trail.logging != bool(args.get("logging", True)):
                continue
            if trail.management_events() != args.get("management_events", "all"):
                continue
            return trail
        return None

    def _setting_findings(self, build: ChangeBuilder, args: dict[str, Any]) -> list[Finding]:
        """What the task itself turns off below a CIS control (it asked for it, so it is only reported).
        Encryption with a KMS key (CIS 3.5) is the task's to ask for: `kms_key_id` sets it."""
        name, resource = args["name"], f"trail/{args['name']}"
        found = []
        if args.get("multi_region") is False or args.get("logging") is False:
            what = "does not log every region" if args.get("multi_region") is False else "is not logging"
            found.append(
                build.finding(
                    resource, "medium", f"trail {name} {what}, as the task asks", controls.of("trail_all_regions")
                )
            )
        if args.get("log_file_validation") is False:
            found.append(
                build.finding(resource, "medium", f"trail {name} has no log file validation, as the task asks",
                              controls.of("trail_log_validation"))
            )  # fmt: skip
        return found

    def _status_findings(self, build: ChangeBuilder, trail: Trail) -> list[Finding]:
        found = []
        for label, error in (("log", trail.delivery_error), ("digest", trail.digest_delivery_error)):
            if error:
                found.append(
                    build.finding(
                        f"trail/{trail.name}", "high",
                        f"trail {trail.name} cannot deliver {label} files to bucket {trail.bucket}: {error}"
                        " (check the bucket policy and, with KMS, the key policy)",
                        controls.of("trail_all_regions"),
                    )
                )  # fmt: skip
        return found

    def _retention_findings(
        self, build: ChangeBuilder, name: str, bucket: Bucket | None, prefix: str | None
    ) -> list[Finding]:
        return [
            build.finding(
                f"bucket/{name}/lifecycle", "medium",
                f"bucket {name}: lifecycle rule {rule_id} deletes trail logs ({buckets.log_prefix(prefix)}) after"
                f" {days} days, sooner than the 90 days CloudTrail's event history already keeps; remediator"
                " leaves the rule to you",
            )
            for rule_id, days in buckets.early_expiries(bucket.lifecycle_rules if bucket else None, prefix)
        ]  # fmt: skip


# ---- shared pure helpers --------------------------------------------------------------------------------


def _listed_only(entry: dict[str, Any]) -> Trail:
    """A trail known from DescribeTrails alone: its status unread (never accepted, never changed)."""
    return Trail(
        name=entry["Name"], arn=entry["TrailARN"], home_region=entry.get("HomeRegion", ""),
        bucket=entry.get("S3BucketName", ""), prefix=entry.get("S3KeyPrefix") or None,
        multi_region=bool(entry.get("IsMultiRegionTrail")), global_events=bool(entry.get("IncludeGlobalServiceEvents")),
        log_file_validation=bool(entry.get("LogFileValidationEnabled")), kms_key_id=entry.get("KmsKeyId") or None,
        organization=bool(entry.get("IsOrganizationTrail")), logging=False, event_selectors=(),
        advanced_event_selectors=(), status_known=False,
    )  # fmt: skip


def _own_trail(current: dict[str, Any], name: str) -> Trail | None:
    region = current["region"]
    return next((t for t in current["trails"] if t.name == name and t.home_region == region), None)


def _trail_settings(trail: Trail) -> dict[str, Any]:
    """The trail's settings that create and update write, as Trail's JSON fields."""
    return trail.image(
        "S3BucketName", "S3KeyPrefix", "IsMultiRegionTrail", "IncludeGlobalServiceEvents", "LogFileValidationEnabled",
        "KmsKeyId",
    )  # fmt: skip


def _trail_params(settings: dict[str, Any], *, creating: bool) -> dict[str, Any]:
    """CreateTrail/UpdateTrail parameters for these settings (only those given)."""
    params: dict[str, Any] = {}
    for field, value in settings.items():
        if field == "LogFileValidationEnabled":
            params["EnableLogFileValidation"] = value
        elif field == "S3KeyPrefix":
            if value or not creating:
                params["S3KeyPrefix"] = value or ""
        elif field == "KmsKeyId":
            if value or not creating:
                params["KmsKeyId"] = value or ""
        else:
            params[field] = value
    return params


def _selectors_state(trail: Trail | None) -> dict[str, Any]:
    if trail is None:
        return {"EventSelectors": [], "AdvancedEventSelectors": []}
    return trail.image("EventSelectors", "AdvancedEventSelectors")


def _bucket_state(bucket: Bucket | None, part: str) -> dict[str, Any]:
    """A bucket's piece as changes record it; a bucket that does not exist has none of them."""
    if part == "public-access-block":
        return {"PublicAccessBlock": bucket.public_access_block if bucket else None}
    if part == "policy":
        return {"Policy": bucket.policy if bucket else None}
    rules = bucket.lifecycle_rules if bucket else None
    return {"LifecycleRules": None if rules is None else [dict(r) for r in rules]}


def _fmt(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    return "none" if value in (None, "") else str(value)


# ---- plan files: each piece planned again from its change ------------------------------------------------


class _Refused(Exception):
    """Why a change read from a plan file is not one this module plans."""


def _is_dicts(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, dict) for v in value)


# what `Trail.management_events` and `_selectors` read of an event selector
_SELECTOR = {
    "ReadWriteType": changecheck.is_str,
    "IncludeManagementEvents": changecheck.is_bool,
    "DataResources": lambda v: isinstance(v, list),
    "ExcludeManagementEventSources": lambda v: isinstance(v, list),
}


def _is_selectors(value: Any) -> bool:
    return _is_dicts(value) and all(test(s[k]) for s in value for k, test in _SELECTOR.items() if k in s)


def _is_statement(value: Any) -> bool:
    return isinstance(value, dict) and isinstance(value.get("Sid", ""), str)


def _is_bucket_policy(value: Any) -> bool:
    """A policy as S3 returns it: statements (at least one), objects, each Sid a string."""
    statements = value.get("Statement") if isinstance(value, dict) else None
    statements = [statements] if isinstance(statements, dict) else statements
    return isinstance(statements, list) and statements != [] and all(_is_statement(s) for s in statements)


def _is_block(value: Any) -> bool:
    """A public access block as S3 returns it: its four settings, each true or false."""
    return isinstance(value, dict) and set(value) == set(BLOCK_ALL) and all(isinstance(v, bool) for v in value.values())


SETTINGS = {
    "S3BucketName": changecheck.is_str,
    "S3KeyPrefix": changecheck.or_none(changecheck.is_str),
    "IsMultiRegionTrail": changecheck.is_bool,
    "IncludeGlobalServiceEvents": changecheck.is_bool,
    "LogFileValidationEnabled": changecheck.is_bool,
    "KmsKeyId": changecheck.or_none(changecheck.is_str),
}


def _image(change: Change, fields: dict[str, Any], *, partial: bool = False) -> dict[str, Any]:
    problem = changecheck.shape_problem(change.before, fields, "before", partial=partial)
    if problem:
        raise _Refused(problem)
    return change.before  # type: ignore[return-value]


def _param(change: Change, name: str) -> Any:
    return change.calls[0].params.get(name)


def _trail_arn(value: Any, name: str, region: str, where: str) -> str:
    """`value` when it is this trail's ARN in `region` (a trail is managed from its home region)."""
    pattern = rf"arn:{buckets.partition_of(region)}:cloudtrail:{re.escape(region)}:[0-9]{{12}}:trail/{re.escape(name)}"
    if not isinstance(value, str) or not re.fullmatch(pattern, value, re.ASCII):
        raise _Refused(f"{where}: {value!r:.80} is not the ARN of trail {name} in {region}")
    return value


def _trail_ref(change: Change, param: str, name: str, region: str) -> str | None:
    """The ARN the change's first call names the trail by, or None when it names a trail this plan creates."""
    ref = _param(change, param)
    return None if ref == name else _trail_arn(ref, name, region, f"calls[0].params.{param}")


def _trail_of(name: str, arn: str, region: str, settings: dict[str, Any], **status: Any) -> Trail:
    """The trail a before-image describes (its home region the account's, as `_own_trail` finds it)."""
    return Trail(
        name=name, arn=arn, home_region=region, bucket=settings.get("S3BucketName", ""),
        prefix=settings.get("S3KeyPrefix"), multi_region=settings.get("IsMultiRegionTrail", False),
        global_events=settings.get("IncludeGlobalServiceEvents", False),
        log_file_validation=settings.get("LogFileValidationEnabled", False), kms_key_id=settings.get("KmsKeyId"),
        organization=False, logging=status.get("logging", False),
        event_selectors=tuple(status.get("selectors", ())), advanced_event_selectors=tuple(status.get("advanced", ())),
    )  # fmt: skip


def _bucket_of(change: Change, name: str, **documents: Any) -> Bucket:
    """The bucket a piece's before-image describes, in the region its calls are sent to."""
    region = change.calls[0].region
    if region is None:
        raise _Refused("calls[0].region: a bucket's calls are sent to the bucket's region")
    fields = {"policy": None, "lifecycle_rules": None, "public_access_block": None, **documents}
    return Bucket(name=name, region=region, **fields)


def _kms_arn(args: dict[str, Any], after: Any) -> str | None:
    """The key ARN `read` resolved the task's kms_key_id to, as the after-image names it (an after-image
    without KmsKeyId: the trail has the key already, and the change compares nothing of it)."""
    wanted = args.get("kms_key_id")
    if not wanted or not isinstance(after, dict) or "KmsKeyId" not in after:
        return wanted or None
    value = after["KmsKeyId"]
    if not isinstance(value, str) or check_kms_key_id(value) or ":key/" not in value:
        raise _Refused(f"after.KmsKeyId: {value!r:.80} is not the ARN of a KMS key")
    if ":key/" in wanted and value != wanted:
        raise _Refused(f"after.KmsKeyId: {value!r:.80} is not the task's kms_key_id {wanted!r}")
    return value


def _prefix(args: dict[str, Any], logs: Any, where: str) -> str | None:
    """The key prefix whose log folder is `logs` (`PREFIX/AWSLogs/`), the task's when it names one."""
    if not isinstance(logs, str) or not logs.endswith("AWSLogs/"):
        raise _Refused(f"{where}: {logs!r:.80} is not CloudTrail's log folder")
    found = None if logs == "AWSLogs/" else logs.removesuffix("/AWSLogs/")
    if "s3_key_prefix" in args and buckets.log_prefix(args["s3_key_prefix"] or None) != logs:
        raise _Refused(f"{where}: {logs!r:.80} is not the log folder of the task's s3_key_prefix")
    return (args["s3_key_prefix"] or None) if "s3_key_prefix" in args else found


def _replan_bucket(module: CloudTrail, build: ChangeBuilder, args: dict[str, Any], change: Change, region: str) -> Any:
    if args.get("create_bucket", True) is False:
        raise _Refused("create_bucket is false: the task creates no bucket")
    return module._create_bucket(build, args["bucket"], region)


def _replan_block(module: CloudTrail, build: ChangeBuilder, args: dict[str, Any], change: Change, region: str) -> Any:
    if not args.get("block_public_access", True):
        raise _Refused("block_public_access is false: the task leaves the bucket's public access block alone")
    before = _image(change, {"PublicAccessBlock": changecheck.or_none(_is_block)})
    bucket = _bucket_of(change, args["bucket"], public_access_block=before["PublicAccessBlock"])
    return module._public_access_block(build, args["bucket"], bucket, bucket.region)


def _replan_policy(module: CloudTrail, build: ChangeBuilder, args: dict[str, Any], change: Change, region: str) -> Any:
    before = _image(change, {"Policy": changecheck.or_none(_is_bucket_policy)})
    trail_arn, account_id, logs = _cloudtrail_grant(change.after, args["bucket"], args["name"], region)
    prefix = _prefix(args, logs, "after.Policy")
    bucket = _bucket_of(change, args["bucket"], policy=before["Policy"])
    return module._policy(build, args["bucket"], bucket, bucket.region, prefix, account_id, trail_arn)


def _cloudtrail_grant(after: Any, bucket: str, name: str, region: str) -> tuple[str, str, str]:
    """(trail ARN, account id, log folder) that CloudTrail's two statements in an after-image name: the
    trail must be this one; the account and folder are the ones `PutObject` is scoped to."""
    policy = after.get("Policy") if isinstance(after, dict) else None
    statements = policy.get("Statement") if isinstance(policy, dict) else None
    found = {s.get("Sid"): s for s in statements if _is_statement(s)} if isinstance(statements, list) else {}
    acl, write = found.get(buckets.ACL_CHECK_SID), found.get(buckets.WRITE_SID)
    try:
        trail_arn = acl["Condition"]["StringEquals"]["aws:SourceArn"]  # type: ignore[index]
        resource = write["Resource"]  # type: ignore[index]
    except (KeyError, TypeError):
        raise _Refused("after.Policy: CloudTrail's two statements, scoped to the trail, are not in it") from None
    trail_arn = _trail_arn(trail_arn, name, region, "after.Policy")
    folder = re.fullmatch(
        rf"arn:{buckets.partition_of(region)}:s3:::{re.escape(bucket)}/(.*AWSLogs/)([0-9]{{12}})/\*",
        resource if isinstance(resource, str) else "",
        re.ASCII | re.DOTALL,
    )
    if folder is None:
        raise _Refused(f"after.Policy: {resource!r:.80} is not CloudTrail's log folder in bucket {bucket}")
    return trail_arn, folder.group(2), folder.group(1)


def _replan_lifecycle(
    module: CloudTrail, build: ChangeBuilder, args: dict[str, Any], change: Change, region: str
) -> Any:
    if "retention_days" not in args:
        raise _Refused("the task names no retention_days: it adds no lifecycle rule")
    # S3 has no empty lifecycle configuration: a bucket has rules, or none at all (null)
    before = _image(change, {"LifecycleRules": changecheck.or_none(lambda v: _is_dicts(v) and v != [])})
    after = change.after.get("LifecycleRules") if isinstance(change.after, dict) else None
    ours = (
        [r for r in after if isinstance(r, dict) and r.get("ID") == buckets.RETENTION_RULE_ID]
        if _is_dicts(after)
        else []
    )
    logs = (ours[0].get("Filter") or {}).get("Prefix") if ours and isinstance(ours[0].get("Filter"), dict) else None
    prefix = _prefix(args, logs, "after.LifecycleRules")
    rules = before["LifecycleRules"]
    bucket = _bucket_of(change, args["bucket"], lifecycle_rules=None if rules is None else tuple(rules))
    return module._lifecycle(build, args, bucket, bucket.region, prefix)


def _replan_trail(module: CloudTrail, build: ChangeBuilder, args: dict[str, Any], change: Change, region: str) -> Any:
    name = args["name"]
    if change.action == "create":
        return module._trail(build, args, None, _kms_arn(args, change.after), region)[0]
    if change.action == "delete":
        if args.get("state") != "absent":
            raise _Refused("the task's args do not delete the trail (that takes state: absent)")
        before = _image(change, SETTINGS)
        trail = _trail_of(
            name, _trail_arn(_param(change, "Name"), name, region, "calls[0].params.Name"), region, before
        )
        return module._absent(build, trail, name).changes[0]
    before = _image(change, SETTINGS, partial=True)
    kms = _kms_arn(args, change.after)
    wanted = wanted_settings(args) | ({"KmsKeyId": kms} if kms else {})
    arn = _trail_arn(_param(change, "Name"), name, region, "calls[0].params.Name")
    trail = _trail_of(name, arn, region, {**wanted, **before})
    planned = module._trail(build, args, trail, kms, region)
    return planned[0] if planned else None


def _replan_selectors(
    module: CloudTrail, build: ChangeBuilder, args: dict[str, Any], change: Change, region: str
) -> Any:
    before = _image(change, {"EventSelectors": _is_selectors, "AdvancedEventSelectors": _is_dicts})
    name = args["name"]
    arn = _trail_ref(change, "TrailName", name, region)
    trail = None if arn is None else _trail_of(
        name, arn, region, {}, selectors=before["EventSelectors"], advanced=before["AdvancedEventSelectors"]
    )  # fmt: skip
    return module._selectors(build, args, trail, region)


def _replan_logging(module: CloudTrail, build: ChangeBuilder, args: dict[str, Any], change: Change, region: str) -> Any:
    before = _image(change, {"IsLogging": changecheck.is_bool})
    name = args["name"]
    arn = _trail_ref(change, "Name", name, region)
    trail = None if arn is None else _trail_of(name, arn, region, {}, logging=before["IsLogging"])
    return module._logging(build, args, trail, region)


# (kind, piece) of a change's resource → how it is planned again
_REPLANS = {
    ("bucket", ""): _replan_bucket,
    ("bucket", "public-access-block"): _replan_block,
    ("bucket", "policy"): _replan_policy,
    ("bucket", "lifecycle"): _replan_lifecycle,
    ("trail", ""): _replan_trail,
    ("trail", "event-selectors"): _replan_selectors,
    ("trail", "logging"): _replan_logging,
}
