"""Where the emulator differs from AWS, the emulator is corrected, inside the emulator process.

These patches change moto's IAM responses on the server side, so they exist only where an emulator
runs in this process (the embedded one, `remediator sandbox`, the tests' server). A client talking to
any other endpoint (AWS, a VPC or FIPS endpoint, a proxy) never gets a made-up answer, and the product's
writes never carry fields only the emulator needs.

- UpdateRole: AWS leaves Description and MaxSessionDuration alone when the call omits them; moto
  clears the description and resets the session length to 3600.
- ListServiceSpecificCredentials: moto does not implement it. The emulator cannot create such
  credentials either, so an empty list is the true answer for every user there.
- A trail's KmsKeyId: AWS answers DescribeTrails with the key's ARN whatever form CreateTrail was given
  (alias, alias ARN, key id); moto echoes what it was given.
- LookupEvents: moto has none; the emulator answers it from records given to `add_lookup_events`.
- DeleteTrail by ARN: AWS takes a trail's name or ARN; moto deletes by name only, and answers success
  for an ARN while deleting nothing.
- A new trail: AWS gives it one event selector (all management events, read and write); moto gives it
  none, so a trail created as the task wants would look as if it logged nothing.
- A user's permissions boundary: AWS sets it with CreateUser (PermissionsBoundary) or
  PutUserPermissionsBoundary, removes it with DeleteUserPermissionsBoundary, and shows it as
  `PermissionsBoundary` ({PermissionsBoundaryType: PermissionsBoundaryPolicy, PermissionsBoundaryArn}) in
  GetUser, CreateUser and GetAccountAuthorizationDetails, never in ListUsers. moto keeps none: CreateUser
  drops it and the Put/Delete calls are not implemented.
- A user's tags after UpdateUser (NewPath, NewUserName): AWS keeps them on the user; moto files them
  under the user's ARN, which a new path or name changes, so they stay behind.
"""

from __future__ import annotations

from typing import Any

_INSTALLED = False


def install() -> None:
    """Patch moto's IAM responses once per process (idempotent)."""
    global _INSTALLED
    if _INSTALLED:
        return
    from moto.core.responses import ActionResult, EmptyResult
    from moto.iam.responses import IamResponse

    def update_role(self: Any) -> Any:
        role = self.backend.get_role(self._get_param("RoleName"))
        description = self._get_param("Description")
        duration = self._get_param("MaxSessionDuration")
        if description is not None:
            role.description = description
        if duration is not None:
            role.max_session_duration = duration
        return EmptyResult()

    def list_service_specific_credentials(self: Any) -> Any:
        self.backend.get_user(self._get_param("UserName"))  # NoSuchEntity for an unknown user, as AWS
        return ActionResult({"ServiceSpecificCredentials": [], "IsTruncated": False})

    IamResponse.update_role = update_role
    IamResponse.list_service_specific_credentials = list_service_specific_credentials
    _default_event_selector()
    _delete_trail_by_arn()
    _kms_key_as_arn()
    _lookup_events()
    _user_boundaries()
    _user_tags_follow_updates()
    _INSTALLED = True


def _default_event_selector() -> None:
    from moto.cloudtrail.models import Trail

    created = Trail.__init__

    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        created(self, *args, **kwargs)
        self.event_selectors = [
            {
                "ReadWriteType": "All",
                "IncludeManagementEvents": True,
                "DataResources": [],
                "ExcludeManagementEventSources": [],
            }
        ]

    Trail.__init__ = init


def _delete_trail_by_arn() -> None:
    from moto.cloudtrail.models import CloudTrailBackend

    by_name = CloudTrailBackend.delete_trail

    def delete_trail(self: Any, name: str) -> None:
        trail = next((t for t in self.trails.values() if t.arn == name), None)
        by_name(self, trail.trail_name if trail else name)

    CloudTrailBackend.delete_trail = delete_trail


def _kms_key_as_arn() -> None:
    from moto.cloudtrail.models import Trail
    from moto.kms.models import kms_backends

    described = Trail.description

    def description(self: Any, include_region: bool = False) -> dict[str, Any]:
        desc = described(self, include_region)
        given = desc.get("KmsKeyId")
        if given and ":key/" not in given:
            backend = kms_backends[self.account_id][self.region_name]
            key_id = backend.any_id_to_key_id(given)
            if key_id in backend.keys:
                desc["KmsKeyId"] = backend.keys[key_id].arn
        return desc

    Trail.description = description


def _user_boundaries() -> None:
    from moto.core.responses import EmptyResult
    from moto.core.serialize import never_return
    from moto.iam.exceptions import IAMException
    from moto.iam.models import User
    from moto.iam.responses import IamResponse

    User.permissions_boundary_arn = None  # a class default: every user, however moto made it, has none

    def permissions_boundary(self: Any) -> dict[str, str] | None:
        if not self.permissions_boundary_arn:
            return None
        return {
            "PermissionsBoundaryType": "PermissionsBoundaryPolicy",
            "PermissionsBoundaryArn": self.permissions_boundary_arn,
        }

    User.permissions_boundary = property(permissions_boundary)  # what moto's serializer shows as PermissionsBoundary
    # ListUsers leaves the boundary out, as AWS documents (ListUsers returns neither PermissionsBoundary nor Tags).
    IamResponse.RESPONSE_KEY_PATH_TO_TRANSFORMER["ListUsersResponse.Users.User.PermissionsBoundary"] = never_return

    def valid(self: Any, arn: str) -> str:
        # The check moto makes for a role's boundary (PutRolePermissionsBoundary, CreateRole).
        if not self.backend.policy_arn_regex.match(arn):
            raise IAMException("InvalidParameterValue", f"Value ({arn}) for parameter PermissionsBoundary is invalid.")
        return arn

    created = IamResponse.create_user

    def create_user(self: Any) -> Any:
        arn = self._get_param("PermissionsBoundary")
        if arn:
            valid(self, arn)
        result = created(self)
        if arn:
            self.backend.get_user(self._get_param("UserName")).permissions_boundary_arn = arn
        return result

    def put_user_permissions_boundary(self: Any) -> Any:
        user = self.backend.get_user(self._get_param("UserName"))  # NoSuchEntity for an unknown user, as AWS
        user.permissions_boundary_arn = valid(self, self._get_param("PermissionsBoundary") or "")
        return EmptyResult()

    def delete_user_permissions_boundary(self: Any) -> Any:
        self.backend.get_user(self._get_param("UserName")).permissions_boundary_arn = None
        return EmptyResult()

    IamResponse.create_user = create_user
    IamResponse.put_user_permissions_boundary = put_user_permissions_boundary
    IamResponse.delete_user_permissions_boundary = delete_user_permissions_boundary


def _user_tags_follow_updates() -> None:
    from moto.iam.models import IAMBackend

    updated = IAMBackend.update_user

    def update_user(self: Any, user_name: str, new_path: str | None = None, new_user_name: str | None = None) -> None:
        old_arn = self.get_user(user_name).arn
        updated(self, user_name, new_path, new_user_name)
        new_arn = self.get_user(new_user_name or user_name).arn
        if new_arn != old_arn:
            self.tagger.copy_tags(old_arn, new_arn)
            self.tagger.delete_all_tags_for_resource(old_arn)

    IAMBackend.update_user = update_user


# --- LookupEvents ------------------------------------------------------------------------------------------
# moto has no LookupEvents. The emulator answers it from records put here (the demo account's, or a
# test's), with AWS's rules: one lookup attribute at most, 50 events a page at most, newest first, and a
# NextToken that is only good with the parameters it came with.

LOOKUP_EVENTS: dict[tuple[str, str], list[dict[str, Any]]] = {}  # (account, region) → CloudTrail records
LOOKUP_ATTRIBUTES = {
    "EventId": lambda r: r.get("eventID"),
    "EventName": lambda r: r.get("eventName"),
    "EventSource": lambda r: r.get("eventSource"),
    "Username": lambda r: (
        (r.get("userIdentity") or {}).get("userName")
        or ((r.get("userIdentity") or {}).get("sessionContext") or {}).get("sessionIssuer", {}).get("userName")
    ),
    "ReadOnly": lambda r: str(r.get("readOnly", "")).lower(),
    "AccessKeyId": lambda r: (r.get("userIdentity") or {}).get("accessKeyId"),
}


def add_lookup_events(account: str, region: str, records: list[dict[str, Any]]) -> None:
    """Make the emulator's LookupEvents in that account and region answer with these records too."""
    LOOKUP_EVENTS.setdefault((account, region), []).extend(records)


def _lookup_events() -> None:
    import hashlib
    import json
    from datetime import UTC, datetime

    from moto.cloudtrail.exceptions import JsonRESTError
    from moto.cloudtrail.responses import CloudTrailResponse

    def moment(value: Any) -> datetime:
        if isinstance(value, int | float):
            return datetime.fromtimestamp(value, UTC)
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))

    def lookup_events(self: Any) -> str:
        attributes = self._get_param("LookupAttributes") or []
        size = int(self._get_param("MaxResults") or 50)
        if len(attributes) > 1:
            raise JsonRESTError("InvalidLookupAttributesException", "You cannot specify more than one lookup attribute")
        if not 1 <= size <= 50:
            raise JsonRESTError("InvalidMaxResultsException", "MaxResults must be between 1 and 50")
        start, end = self._get_param("StartTime"), self._get_param("EndTime")
        fingerprint = hashlib.sha256(json.dumps([attributes, start, end], sort_keys=True).encode()).hexdigest()[:16]
        token = self._get_param("NextToken")
        offset = 0
        if token:
            bound, _, number = str(token).partition(":")
            if bound != fingerprint or not number.isdigit():
                raise JsonRESTError(
                    "InvalidNextTokenException", "A token is only good with the parameters it came with"
                )
            offset = int(number)
        records = LOOKUP_EVENTS.get((self.current_account, self.region), [])
        chosen = []
        for record in records:
            when = moment(record["eventTime"])
            if (start is not None and when < moment(start)) or (end is not None and when > moment(end)):
                continue
            if attributes:
                key, value = attributes[0].get("AttributeKey"), attributes[0].get("AttributeValue")
                if str(LOOKUP_ATTRIBUTES.get(key, lambda r: None)(record)) != str(value):
                    continue
            chosen.append((when, record))
        chosen.sort(key=lambda pair: pair[0], reverse=True)  # newest first, as AWS answers
        page = chosen[offset : offset + size]
        answer: dict[str, Any] = {
            "Events": [
                {
                    "EventId": r.get("eventID"),
                    "EventName": r.get("eventName"),
                    "EventSource": r.get("eventSource"),
                    "EventTime": when.timestamp(),
                    "CloudTrailEvent": json.dumps(r),
                }
                for when, r in page
            ]
        }
        if offset + size < len(chosen):
            answer["NextToken"] = f"{fingerprint}:{offset + size}"
        return json.dumps(answer)

    CloudTrailResponse.lookup_events = lookup_events
