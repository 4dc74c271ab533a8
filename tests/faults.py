"""Responses AWS gives that the emulator does not: injected with botocore `before-send` handlers."""

from __future__ import annotations

import json
from typing import Any

from botocore.awsrequest import AWSResponse


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Any:
        yield self._body


def query_error(code: str, message: str, status: int = 400) -> AWSResponse:
    """An error as IAM/STS (query protocol) send it."""
    body = (
        "<ErrorResponse><Error><Type>Sender</Type>"
        f"<Code>{code}</Code><Message>{message}</Message></Error>"
        "<RequestId>00000000-0000-0000-0000-000000000000</RequestId></ErrorResponse>"
    ).encode()
    return AWSResponse("https://iam.amazonaws.com/", status, {"Content-Type": "text/xml"}, _Raw(body))


def json_error(code: str, message: str, status: int = 400) -> AWSResponse:
    """An error as JSON-protocol services (CloudTrail, KMS) send it."""
    body = json.dumps({"__type": code, "message": message}).encode()
    return AWSResponse(
        "https://cloudtrail.us-east-1.amazonaws.com/",
        status,
        {"Content-Type": "application/x-amz-json-1.1"},
        _Raw(body),
    )


class Inject:
    """Answer the first `times` calls of `operation` with `response()`; let the rest through."""

    def __init__(self, service: str, operation: str, response: Any, times: int | None = None) -> None:
        self.event = f"before-send.{service}.{operation}"
        self.response = response
        self.times = times
        self.seen = 0

    def __call__(self, client: Any) -> None:
        client.meta.events.register(self.event, self._handle)

    def _handle(self, request: Any, **_: Any) -> AWSResponse | None:
        self.seen += 1
        if self.times is None or self.seen <= self.times:
            return self.response()
        return None


class RoleDeleteConflict:
    """DeleteRole answers DeleteConflict while the role still has links, as AWS does (the emulator deletes).

    `seen` counts DeleteRole calls, `conflicts` the ones answered DeleteConflict."""

    def __init__(self, iam: Any) -> None:
        self.iam = iam
        self.seen = 0
        self.conflicts = 0

    def __call__(self, client: Any) -> None:
        client.meta.events.register("before-parameter-build.iam.DeleteRole", self._remember)
        client.meta.events.register("before-send.iam.DeleteRole", self._send)

    def _remember(self, params: dict[str, Any], **_: Any) -> None:
        self.name = params["RoleName"]

    def _send(self, request: Any, **_: Any) -> AWSResponse | None:
        self.seen += 1
        name = self.name
        busy = (
            self.iam.list_role_policies(RoleName=name)["PolicyNames"]
            or self.iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]
            or self.iam.list_instance_profiles_for_role(RoleName=name)["InstanceProfiles"]
        )
        if busy:
            self.conflicts += 1
            return query_error("DeleteConflict", "Cannot delete entity, must remove referenced objects first.", 409)
        return None
