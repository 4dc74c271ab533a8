"""CloudTrail trails: the `Trail` fact and its one reader, for the `cloudtrail` module.

DescribeTrails in the account's home region lists the trails that log there: the region's own, and
multi-region and organization trails from elsewhere (shadow trails). Each trail's status and event
selectors come from its home region. Three calls for the trail a task names; two more per other trail
only when `accept_existing` has to judge them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from remediator.aws.context import ReadContext
from remediator.errors import AwsError
from remediator.facts import Fact, key

MEMBER_VIEW_ERRORS = ("TrailNotFoundException", "AccessDeniedException", "UnsupportedOperationException")
MANAGEMENT_EVENTS = {"all": "All", "write_only": "WriteOnly", "read_only": "ReadOnly"}

_KMS_KEY_ARN = re.compile(r"arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/(?:mrk-)?[0-9a-f-]{32,36}", re.ASCII)
_KMS_ALIAS_ARN = re.compile(r"arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:alias/[A-Za-z0-9/_-]{1,250}", re.ASCII)
_KMS_ALIAS = re.compile(r"alias/[A-Za-z0-9/_-]{1,250}", re.ASCII)
_KMS_KEY_ID = re.compile(r"(?:mrk-)?[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}", re.ASCII)


def check_kms_key_id(value: Any) -> str | None:
    """A KMS key as CloudTrail takes it: a key ARN, an alias ARN, `alias/NAME`, or a key id."""
    if isinstance(value, str) and any(
        p.fullmatch(value) for p in (_KMS_KEY_ARN, _KMS_ALIAS_ARN, _KMS_ALIAS, _KMS_KEY_ID)
    ):
        if value.startswith("alias/aws/"):
            return f"{value!r} is an AWS managed key alias: CloudTrail needs a customer managed key"
        return None
    return (
        f"KMS key {value!r}: give a key ARN (arn:aws:kms:REGION:ACCOUNT:key/ID), an alias ARN, alias/NAME, or a key id"
    )


@dataclass(frozen=True)
class Trail(Fact):
    """One trail as remediator reads it: its settings, its logging state and its event selectors."""

    name: str = field(metadata=key("Name"))
    arn: str = field(metadata=key("TrailARN"))
    home_region: str = field(metadata=key("HomeRegion"))
    bucket: str = field(metadata=key("S3BucketName"))
    prefix: str | None = field(metadata=key("S3KeyPrefix"))
    multi_region: bool = field(metadata=key("IsMultiRegionTrail"))
    global_events: bool = field(metadata=key("IncludeGlobalServiceEvents"))
    log_file_validation: bool = field(metadata=key("LogFileValidationEnabled"))
    kms_key_id: str | None = field(metadata=key("KmsKeyId"))
    organization: bool = field(metadata=key("IsOrganizationTrail"))
    logging: bool = field(metadata=key("IsLogging"))
    event_selectors: tuple[dict[str, Any], ...] = field(metadata=key("EventSelectors"))
    advanced_event_selectors: tuple[dict[str, Any], ...] = field(metadata=key("AdvancedEventSelectors"))
    delivery_error: str | None = field(default=None, metadata=key("LatestDeliveryError"))
    digest_delivery_error: str | None = field(default=None, metadata=key("LatestDigestDeliveryError"))
    # False for an organization trail seen from a member account: logging and selectors are assumed
    status_known: bool = field(default=True, metadata=key("StatusKnown"))

    def management_events(self) -> str | None:
        """`all` / `write_only` / `read_only` when the basic selectors log exactly that kind of management
        events and exclude none; None when they log none, a mix, or advanced selectors decide."""
        if self.advanced_event_selectors:
            return None
        kinds = {
            s.get("ReadWriteType", "All")
            for s in self.event_selectors
            if s.get("IncludeManagementEvents", True) and not s.get("ExcludeManagementEventSources")
        }
        excluded = any(s.get("ExcludeManagementEventSources") for s in self.event_selectors)
        if len(kinds) != 1 or excluded:
            return None
        wanted = {v: k for k, v in MANAGEMENT_EVENTS.items()}
        return wanted.get(next(iter(kinds)))


def list_trails(ctx: ReadContext, region: str) -> list[dict[str, Any]]:
    """DescribeTrails in `region`: every trail that logs the account there (its own, multi-region and
    organization trails), as AWS lists them. One call, cached per region for the phase."""

    def load(ctx: ReadContext) -> list[dict[str, Any]]:
        return list(
            ctx.client("cloudtrail", region).call("describe_trails", includeShadowTrails=True).get("trailList", [])
        )

    return ctx.fact(f"trails:{region}", load)


def read_trail(ctx: ReadContext, entry: dict[str, Any]) -> Trail:
    """One listed trail with its status and selectors (two calls, in its home region), cached."""
    return ctx.fact(f"trail:{entry['TrailARN']}", lambda ctx: _trail(ctx, entry))


def _trail(ctx: ReadContext, entry: dict[str, Any]) -> Trail:
    home = entry.get("HomeRegion") or ctx.account.region
    client = ctx.client("cloudtrail", home)
    arn = entry["TrailARN"]
    organization = bool(entry.get("IsOrganizationTrail"))
    try:
        status = client.call("get_trail_status", Name=arn)
        selectors = client.call("get_event_selectors", TrailName=arn)
        known = True
    except AwsError as exc:
        # An organization trail seen from a member account: its status and selectors are the management
        # account's. It logs the members' management events by design; the member cannot read more.
        if not organization or exc.code not in MEMBER_VIEW_ERRORS:
            raise
        status, selectors, known = {"IsLogging": True}, {"EventSelectors": [{"IncludeManagementEvents": True}]}, False
    return Trail(
        name=entry["Name"],
        arn=arn,
        home_region=home,
        bucket=entry.get("S3BucketName", ""),
        prefix=entry.get("S3KeyPrefix") or None,
        multi_region=bool(entry.get("IsMultiRegionTrail")),
        global_events=bool(entry.get("IncludeGlobalServiceEvents")),
        log_file_validation=bool(entry.get("LogFileValidationEnabled")),
        kms_key_id=entry.get("KmsKeyId") or None,
        organization=organization,
        logging=bool(status.get("IsLogging")),
        event_selectors=tuple(selectors.get("EventSelectors") or ()),
        advanced_event_selectors=tuple(selectors.get("AdvancedEventSelectors") or ()),
        delivery_error=status.get("LatestDeliveryError") or None,
        digest_delivery_error=status.get("LatestDigestDeliveryError") or None,
        status_known=known,
    )
