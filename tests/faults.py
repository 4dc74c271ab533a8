"""Responses AWS gives that the emulator does not: injected with botocore `before-send` handlers."""

from __future__ import annotations

import json
import urllib.parse
from typing import Any

from botocore.awsrequest import AWSResponse

from tests.emulator import has_login_profile

IAM_NS = "https://iam.amazonaws.com/doc/2010-05-08/"


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


def query_ok(operation: str, result: str = "") -> AWSResponse:
    """A success as IAM (query protocol) sends it; `result` is the XML inside <{operation}Result>."""
    body = (
        f'<{operation}Response xmlns="{IAM_NS}"><{operation}Result>{result}</{operation}Result>'
        f"<ResponseMetadata><RequestId>00000000-0000-0000-0000-000000000000</RequestId></ResponseMetadata>"
        f"</{operation}Response>"
    ).encode()
    return AWSResponse("https://iam.amazonaws.com/", 200, {"Content-Type": "text/xml"}, _Raw(body))


def request_form(request: Any) -> dict[str, str]:
    """The parameters of a query-protocol request (what a `before-send` handler is given)."""
    body = request.body.decode() if isinstance(request.body, bytes) else request.body or ""
    return {k: v[0] for k, v in urllib.parse.parse_qs(body).items()}


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


class UserDeleteConflict:
    """DeleteUser answers DeleteConflict while the user still has dependents, as AWS does (the emulator
    deletes). `seen` counts DeleteUser calls, `conflicts` what was left at each refusal.

    `service_credentials` (user → credential ids) stands for the service-specific credentials a test's fake
    answers with, which the emulator cannot hold."""

    def __init__(self, iam: Any, service_credentials: dict[str, list[str]] | None = None) -> None:
        self.iam = iam
        self.service_credentials = service_credentials if service_credentials is not None else {}
        self.seen = 0
        self.conflicts: list[str] = []

    def __call__(self, client: Any) -> None:
        client.meta.events.register("before-send.iam.DeleteUser", self._send)

    def remaining(self, name: str) -> list[str]:
        iam = self.iam
        checks = {
            "login profile": has_login_profile(iam, name),
            "access keys": iam.list_access_keys(UserName=name)["AccessKeyMetadata"],
            "signing certificates": iam.list_signing_certificates(UserName=name)["Certificates"],
            "SSH public keys": iam.list_ssh_public_keys(UserName=name)["SSHPublicKeys"],
            "service-specific credentials": self.service_credentials.get(name),
            "MFA devices": iam.list_mfa_devices(UserName=name)["MFADevices"],
            "groups": iam.list_groups_for_user(UserName=name)["Groups"],
            "inline policies": iam.list_user_policies(UserName=name)["PolicyNames"],
            "attached policies": iam.list_attached_user_policies(UserName=name)["AttachedPolicies"],
        }
        return [what for what, present in checks.items() if present]

    def _send(self, request: Any, **_: Any) -> AWSResponse | None:
        self.seen += 1
        left = self.remaining(request_form(request)["UserName"])
        if left:
            self.conflicts.extend(left)
            return query_error("DeleteConflict", f"Cannot delete entity, must remove {left[0]} first.", 409)
        return None
