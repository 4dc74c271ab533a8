"""The pattern for regional resources, end to end: a module with `global_service = False` plans addresses
that carry the account's region, reads and writes through that region's clients, and its changes apply,
verify and roll back there. The module here is a test's own (one tag on one S3 bucket), registered for
these tests only; the product's first regional module follows the same path."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from remediator import registry
from remediator.toolkit import ApiCall, AwsError, ChangeBuilder, Module, PlanResult, ReadContext
from tests.conftest import cli, write

REGION = "eu-west-1"


class BucketTag(Module):
    name = "test_bucket_tag"
    summary = "One tag on one bucket (a regional test module)."
    args_schema = {
        "properties": {"bucket": {"type": "string"}, "key": {"type": "string"}, "value": {"type": "string"}},
        "required": ["bucket", "key", "value"],
    }
    permissions = {"read": ["s3:GetBucketTagging"], "write": ["s3:PutBucketTagging"]}
    global_service = False

    def read(self, ctx: ReadContext, args: dict[str, Any]) -> dict[str, str]:
        region = ctx.account.region
        try:
            tags = ctx.client("s3", region).call("get_bucket_tagging", Bucket=args["bucket"])["TagSet"]
        except AwsError as exc:
            if exc.code != "NoSuchTagSet":
                raise
            tags = []
        return {t["Key"]: t["Value"] for t in tags}

    def resource_state(self, current: dict[str, str], resource: str) -> dict[str, Any]:
        return {"Tags": current}

    def plan(self, args: dict[str, Any], current: dict[str, str], scope: str) -> PlanResult:
        if current.get(args["key"]) == args["value"]:
            return PlanResult(noop_reason="the tag is set")
        region = scope.rsplit("/", 1)[-1]
        after = {**current, args["key"]: args["value"]}

        def put(tags: dict[str, str]) -> ApiCall:
            if not tags:  # AWS refuses an empty TagSet: no tags is DeleteBucketTagging
                return ApiCall("s3", "delete_bucket_tagging", {"Bucket": args["bucket"]}, region)
            tag_set = [{"Key": k, "Value": v} for k, v in sorted(tags.items())]
            return ApiCall(
                "s3", "put_bucket_tagging", {"Bucket": args["bucket"], "Tagging": {"TagSet": tag_set}}, region
            )

        change = ChangeBuilder(scope, self.name).update(
            args["bucket"],
            before={"Tags": current},
            after={"Tags": after},
            calls=(put(after),),
            undo=(put(current),),
            summary=f"tag {args['key']}={args['value']}",
        )
        return PlanResult([change])


@pytest.fixture
def regional_module() -> Iterator[None]:
    registry.register(BucketTag)
    yield
    registry._REGISTRY.pop(BucketTag.name, None)


def test_a_regional_module_plans_applies_verifies_and_rolls_back_in_its_region(
    aws, workdir, client_hooks, regional_module
):
    sent: list[tuple[str, str, str]] = []

    def record(client: Any) -> None:
        service, region = client.meta.service_model.service_name, client.meta.region_name
        client.meta.events.register(
            "before-parameter-build.*.*", lambda model, **_: sent.append((service, model.name, region))
        )

    client_hooks.append(record)
    s3 = boto3.client("s3", endpoint_url=aws, region_name=REGION)
    s3.create_bucket(Bucket="logs", CreateBucketConfiguration={"LocationConstraint": REGION})
    inv = write(workdir, "inv.yml", f"all:\n  accounts:\n    eu: {{endpoint_url: '{aws}', region: {REGION}}}\n")
    book = write(workdir, "play.yml", "- tasks:\n    - test_bucket_tag: {bucket: logs, key: team, value: sec}\n")

    check = cli("run", book, "-i", inv, "--check")
    assert check.code == 2, check.out + check.err
    assert f"eu/{REGION}/test_bucket_tag/logs" in check.out

    applied = cli("run", book, "-i", inv, "--journal", "j.jsonl")
    assert applied.code == 0, applied.out + applied.err
    assert "converged" in applied.out
    assert s3.get_bucket_tagging(Bucket="logs")["TagSet"] == [{"Key": "team", "Value": "sec"}]
    assert cli("run", book, "-i", inv, "--check").code == 0

    undone = cli("rollback", "j.jsonl")
    assert undone.code == 0, undone.out + undone.err
    with pytest.raises(s3.exceptions.ClientError, match="NoSuchTagSet"):
        s3.get_bucket_tagging(Bucket="logs")
    s3_calls = {(op, region) for service, op, region in sent if service == "s3"}
    assert s3_calls == {("GetBucketTagging", REGION), ("PutBucketTagging", REGION), ("DeleteBucketTagging", REGION)}
