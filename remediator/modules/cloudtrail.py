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

from remediator import buckets, controls
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
