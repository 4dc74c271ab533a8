"""Answers for the few IAM calls the emulator does not implement, for accounts on an emulator endpoint.

The demo account has no service-specific credentials, so an empty list is the true answer there;
without it, deleting a user against the sandbox would stop on the emulator's error page. Real AWS
endpoints never get these handlers.
"""

from __future__ import annotations

from typing import Any

from botocore.awsrequest import AWSResponse

_EMPTY_LIST = (
    "<ListServiceSpecificCredentialsResponse><ListServiceSpecificCredentialsResult>"
    "<ServiceSpecificCredentials/></ListServiceSpecificCredentialsResult>"
    "<ResponseMetadata><RequestId>emulator-shim</RequestId></ResponseMetadata>"
    "</ListServiceSpecificCredentialsResponse>"
)


class _Body:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Any:
        yield self._body


def _list_service_specific_credentials(request: Any, **_: Any) -> AWSResponse:
    return AWSResponse(request.url, 200, {"Content-Type": "text/xml"}, _Body(_EMPTY_LIST.encode()))


def install(client: Any) -> None:
    """Register the answers on a botocore client that talks to an emulator."""
    client.meta.events.register("before-send.iam.ListServiceSpecificCredentials", _list_service_specific_credentials)
