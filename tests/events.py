"""CloudTrail records as tests build them: the shapes of real records (AWS's CloudTrail and IAM guides,
published samples), for LookupEvents answers and S3 archives alike. One place, so every events test
speaks the same format."""

from __future__ import annotations

from datetime import datetime
from typing import Any

ACCOUNT = "123456789012"


def stamp(moment: datetime) -> str:
    """An eventTime as CloudTrail writes it: whole seconds, UTC, with a Z."""
    return moment.replace(microsecond=0).isoformat().replace("+00:00", "Z")


def user(name: str, account: str = ACCOUNT) -> dict[str, Any]:
    """An IAMUser identity."""
    return {"type": "IAMUser", "arn": f"arn:aws:iam::{account}:user/{name}", "accountId": account, "userName": name}


def session(role: str, name: str = "s-1", path: str = "/", account: str = ACCOUNT) -> dict[str, Any]:
    """An AssumedRole identity whose session counts for the role `path + role`."""
    return {
        "type": "AssumedRole",
        "arn": f"arn:aws:sts::{account}:assumed-role/{role}/{name}",
        "accountId": account,
        "sessionContext": {"sessionIssuer": {"type": "Role", "arn": f"arn:aws:iam::{account}:role{path}{role}"}},
    }


def record(
    event_id: str, when: str, source: str, name: str, identity: dict[str, Any], region: str = "us-east-1", **more: Any
) -> dict[str, Any]:
    """One element of a log file's Records (LookupEvents' CloudTrailEvent is the same, as a string)."""
    return {
        "eventVersion": "1.08",
        "eventID": event_id,
        "eventTime": when,
        "eventSource": source,
        "eventName": name,
        "awsRegion": region,
        "userIdentity": identity,
        **more,
    }
