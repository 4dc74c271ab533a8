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

# Operations authorised by an action of another name (Amazon S3's "Actions, resources, and condition
# keys" and each operation's API reference page): an API name is not always an IAM action.
AUTHORISED_BY = {
    ("s3", "HeadBucket"): "s3:ListBucket",
    ("s3", "ListObjects"): "s3:ListBucket",
    ("s3", "ListObjectsV2"): "s3:ListBucket",
    ("s3", "ListBuckets"): "s3:ListAllMyBuckets",
    ("s3", "HeadObject"): "s3:GetObject",
    ("s3", "GetBucketLifecycleConfiguration"): "s3:GetLifecycleConfiguration",
    ("s3", "PutBucketLifecycleConfiguration"): "s3:PutLifecycleConfiguration",
    ("s3", "DeleteBucketLifecycle"): "s3:PutLifecycleConfiguration",
    ("s3", "GetPublicAccessBlock"): "s3:GetBucketPublicAccessBlock",
    ("s3", "PutPublicAccessBlock"): "s3:PutBucketPublicAccessBlock",
    ("s3", "DeletePublicAccessBlock"): "s3:PutBucketPublicAccessBlock",
    ("s3", "DeleteBucketTagging"): "s3:PutBucketTagging",
}


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
    """The IAM action authorising a boto3 call (`iam`, `update_role` → `iam:UpdateRole`;
    `s3`, `put_bucket_lifecycle_configuration` → `s3:PutLifecycleConfiguration`)."""
    operation = operation_name(service, method) or method
    return AUTHORISED_BY.get((service, operation)) or f"{prefix(service)}:{operation}"


def action_of_operation(service: str, operation: str) -> str:
    """The same, from the API's own operation name (`s3`, `HeadBucket` → `s3:ListBucket`)."""
    return AUTHORISED_BY.get((service, operation)) or f"{prefix(service)}:{operation}"
