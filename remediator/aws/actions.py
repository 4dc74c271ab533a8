"""The IAM action a boto3 call needs, from botocore's service models (`iam`, `update_role` → `iam:UpdateRole`).

Plan files are checked with it (a plan may only make calls its module declares), and the tests prove
with it that what `remediator permissions` prints covers every call a module makes.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import botocore.session
from botocore import xform_name

_SESSION = botocore.session.get_session()


@cache
def service_model(service: str) -> Any:
    """botocore's model of a service; UnknownServiceError for a name it does not know."""
    return _SESSION.get_service_model(service)


@cache
def operation_name(service: str, method: str) -> str | None:
    """`update_role` → `UpdateRole`, or None when the service has no such operation."""
    names = {xform_name(name): name for name in service_model(service).operation_names}
    return names.get(method)


def prefix(service: str) -> str:
    """The service's prefix in IAM actions (its signing name: `iam`, `s3`, `cloudtrail`)."""
    return str(service_model(service).metadata.get("signingName") or service)


def action_of(service: str, method: str) -> str:
    """The IAM action authorising a boto3 call (`iam`, `update_role` → `iam:UpdateRole`)."""
    return f"{prefix(service)}:{operation_name(service, method) or method}"
