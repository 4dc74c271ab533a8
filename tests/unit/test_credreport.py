"""The credential report parser against the shapes real AWS sends (copied from recorded responses)."""

from __future__ import annotations

from remediator.credreport import parse

HEADER = (
    "user,arn,user_creation_time,password_enabled,password_last_used,password_last_changed,"
    "password_next_rotation,mfa_active,access_key_1_active,access_key_1_last_rotated,"
    "access_key_1_last_used_date,access_key_1_last_used_region,access_key_1_last_used_service,"
    "access_key_2_active,access_key_2_last_rotated,access_key_2_last_used_date,access_key_2_last_used_region,"
    "access_key_2_last_used_service,cert_1_active,cert_1_last_rotated,cert_2_active,cert_2_last_rotated"
)
REAL = "\n".join(
    [
        HEADER,
        "<root_account>,arn:aws:iam::644160558196:root,2016-05-16T18:13:11+00:00,not_supported,"
        "2016-10-06T15:47:11+00:00,not_supported,not_supported,true,false,N/A,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,"
        "false,N/A,false,N/A",
        "andrew,arn:aws:iam::644160558196:user/andrew,2016-08-30T17:37:35+00:00,true,2016-11-16T14:10:34+00:00,"
        "2016-08-30T18:24:44+00:00,2016-11-28T18:24:44+00:00,false,true,2016-10-11T15:27:35+00:00,N/A,N/A,N/A,"
        "true,2016-08-30T19:05:50+00:00,2016-10-20T20:27:00+00:00,us-east-1,ec2,false,N/A,false,N/A",
        "c7n-iam-test,arn:aws:iam::644160558196:user/c7n-iam-test,2016-11-15T21:04:17+00:00,false,N/A,N/A,N/A,"
        "false,true,2016-11-15T21:04:17+00:00,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A",
        "never,arn:aws:iam::644160558196:user/never,2016-11-15T21:04:17+00:00,true,no_information,"
        "2016-11-15T21:04:17+00:00,N/A,false,false,N/A,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A",
    ]
)


def test_root_row_is_parsed_with_its_not_supported_fields():
    root = parse(REAL)[0]
    assert root.is_root and root.mfa_active
    assert root.password_enabled is None and root.password_last_changed is None
    assert root.password_last_used.isoformat() == "2016-10-06T15:47:11+00:00"
    assert root.keys == ()


def test_key_slots_with_and_without_use():
    andrew = parse(REAL)[1]
    assert [k.slot for k in andrew.keys] == [1, 2]
    assert andrew.keys[0].last_used is None and andrew.keys[0].last_used_service is None
    assert andrew.keys[1].last_used.isoformat() == "2016-10-20T20:27:00+00:00"
    assert andrew.keys[1].last_used_service == "ec2"
    assert not andrew.mfa_active and andrew.password_enabled is True


def test_no_information_and_missing_keys():
    rows = {r.user: r for r in parse(REAL.encode())}
    assert rows["c7n-iam-test"].password_enabled is False
    assert [k.slot for k in rows["c7n-iam-test"].active_keys] == [1]
    assert rows["never"].password_last_used is None and rows["never"].keys == ()
