"""iam_password_policy's pure helpers against the shapes real AWS returns.

Real GetAccountPasswordPolicy responses leave MaxPasswordAge, PasswordReusePrevention and HardExpiry out
when they are off, and always carry ExpirePasswords (derived from MaxPasswordAge, not a parameter of
UpdateAccountPasswordPolicy). The literals below are copied from recorded responses (Cloud Custodian's
placebo data) and from the IAM API reference example.
"""

from __future__ import annotations

import pytest

from remediator.modules.iam_password_policy import AWS_DEFAULTS, FIELDS, normalize, update_params, weakenings

# Recorded from a real account (GetAccountPasswordPolicy → data): a policy with expiry, reuse and hard
# expiry all off. Note the absent keys and ExpirePasswords.
REAL_MINIMAL = {
    "MinimumPasswordLength": 10,
    "RequireSymbols": False,
    "RequireNumbers": False,
    "RequireUppercaseCharacters": False,
    "RequireLowercaseCharacters": False,
    "AllowUsersToChangePassword": False,
    "ExpirePasswords": False,
}

# The IAM API reference example: every field on, HardExpiry present and false.
REAL_FULL = {
    "AllowUsersToChangePassword": True,
    "RequireUppercaseCharacters": True,
    "RequireSymbols": True,
    "ExpirePasswords": True,
    "PasswordReusePrevention": 12,
    "RequireLowercaseCharacters": True,
    "MaxPasswordAge": 90,
    "HardExpiry": False,
    "RequireNumbers": True,
    "MinimumPasswordLength": 12,
}

# Expiry on with hard expiry, reuse prevention off (so absent).
REAL_EXPIRY_NO_REUSE = {
    "MinimumPasswordLength": 14,
    "RequireSymbols": True,
    "RequireNumbers": True,
    "RequireUppercaseCharacters": False,
    "RequireLowercaseCharacters": False,
    "AllowUsersToChangePassword": True,
    "ExpirePasswords": True,
    "MaxPasswordAge": 60,
    "HardExpiry": True,
}

STRONG = {
    "MinimumPasswordLength": 14,
    "RequireSymbols": True,
    "RequireNumbers": True,
    "RequireUppercaseCharacters": True,
    "RequireLowercaseCharacters": True,
    "AllowUsersToChangePassword": True,
    "MaxPasswordAge": 90,
    "PasswordReusePrevention": 24,
    "HardExpiry": False,
}


# --- normalize


def test_normalize_no_policy_is_none():
    assert normalize(None) is None


def test_normalize_real_minimal_fills_omitted_fields_and_drops_expire_passwords():
    assert normalize(REAL_MINIMAL) == {
        "MinimumPasswordLength": 10,
        "RequireSymbols": False,
        "RequireNumbers": False,
        "RequireUppercaseCharacters": False,
        "RequireLowercaseCharacters": False,
        "AllowUsersToChangePassword": False,
        "MaxPasswordAge": 0,
        "PasswordReusePrevention": 0,
        "HardExpiry": False,
    }


def test_normalize_real_full_keeps_every_value():
    assert normalize(REAL_FULL) == {
        "MinimumPasswordLength": 12,
        "RequireSymbols": True,
        "RequireNumbers": True,
        "RequireUppercaseCharacters": True,
        "RequireLowercaseCharacters": True,
        "AllowUsersToChangePassword": True,
        "MaxPasswordAge": 90,
        "PasswordReusePrevention": 12,
        "HardExpiry": False,
    }


def test_normalize_expiry_without_reuse():
    policy = normalize(REAL_EXPIRY_NO_REUSE)
    assert policy is not None
    assert policy["MaxPasswordAge"] == 60 and policy["HardExpiry"] is True
    assert policy["PasswordReusePrevention"] == 0


@pytest.mark.parametrize("shape", [REAL_MINIMAL, REAL_FULL, REAL_EXPIRY_NO_REUSE], ids=["minimal", "full", "expiry"])
def test_normalize_has_exactly_the_update_fields(shape):
    policy = normalize(shape)
    assert policy is not None
    assert set(policy) == set(AWS_DEFAULTS) == set(FIELDS.values())
    assert "ExpirePasswords" not in policy


def test_normalize_null_values_count_as_off():
    """The emulator can answer PasswordReusePrevention as null when it was never set."""
    policy = normalize({**REAL_MINIMAL, "MaxPasswordAge": None, "PasswordReusePrevention": None})
    assert policy is not None
    assert policy["MaxPasswordAge"] == 0 and policy["PasswordReusePrevention"] == 0


def test_normalize_is_stable_and_does_not_touch_its_input():
    snapshot = dict(REAL_FULL)
    once = normalize(REAL_FULL)
    assert snapshot == REAL_FULL
    assert normalize(once) == once


def test_normalized_policy_round_trips_through_update_params():
    """Writing a normalised policy back and reading it again gives the same policy (what undo relies on)."""
    for shape in (REAL_MINIMAL, REAL_FULL, REAL_EXPIRY_NO_REUSE):
        policy = normalize(shape)
        assert normalize(update_params(policy)) == policy


# --- update_params


def test_update_params_omits_zero_age_and_reuse():
    assert update_params(normalize(REAL_MINIMAL)) == {
        "MinimumPasswordLength": 10,
        "RequireSymbols": False,
        "RequireNumbers": False,
        "RequireUppercaseCharacters": False,
        "RequireLowercaseCharacters": False,
        "AllowUsersToChangePassword": False,
        "HardExpiry": False,
    }


def test_update_params_keeps_set_values_and_false_booleans():
    params = update_params(normalize(REAL_EXPIRY_NO_REUSE))
    assert params["MaxPasswordAge"] == 60
    assert params["HardExpiry"] is True
    assert params["RequireUppercaseCharacters"] is False
    assert "PasswordReusePrevention" not in params
    assert "ExpirePasswords" not in params


def test_update_params_full_policy_is_unchanged():
    assert update_params(STRONG) == STRONG


# --- weakenings


def test_no_weakening_when_equal_or_stronger():
    assert weakenings(STRONG, STRONG) == []
    stronger = {**STRONG, "MinimumPasswordLength": 20, "MaxPasswordAge": 30}
    assert weakenings(STRONG, stronger) == []


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"MinimumPasswordLength": 8}, "MinimumPasswordLength 14 → 8"),
        ({"RequireSymbols": False}, "RequireSymbols true → false"),
        ({"RequireNumbers": False}, "RequireNumbers true → false"),
        ({"RequireUppercaseCharacters": False}, "RequireUppercaseCharacters true → false"),
        ({"RequireLowercaseCharacters": False}, "RequireLowercaseCharacters true → false"),
        ({"MaxPasswordAge": 91}, "MaxPasswordAge 90 → 91"),
        ({"MaxPasswordAge": 0}, "MaxPasswordAge 90 → never"),
        ({"PasswordReusePrevention": 23}, "PasswordReusePrevention 24 → 23"),
        ({"PasswordReusePrevention": 0}, "PasswordReusePrevention 24 → off"),
    ],
)
def test_each_weakening(change, expected):
    assert weakenings(STRONG, {**STRONG, **change}) == [expected]


def test_turning_on_from_off_is_not_a_weakening():
    off = {**STRONG, "MaxPasswordAge": 0, "PasswordReusePrevention": 0}
    assert weakenings(off, STRONG) == []


def test_fields_outside_the_spec_list_are_not_weakenings():
    """SPEC's list of weakenings names neither AllowUsersToChangePassword nor HardExpiry."""
    hard = {**STRONG, "HardExpiry": True}
    assert weakenings(hard, {**hard, "HardExpiry": False, "AllowUsersToChangePassword": False}) == []


def test_several_weakenings_are_all_listed():
    weaker = {**STRONG, "MinimumPasswordLength": 8, "RequireSymbols": False, "PasswordReusePrevention": 0}
    assert weakenings(STRONG, weaker) == [
        "MinimumPasswordLength 14 → 8",
        "RequireSymbols true → false",
        "PasswordReusePrevention 24 → off",
    ]


def test_weakenings_from_a_real_policy():
    current = normalize(REAL_FULL)
    assert current is not None
    assert weakenings(current, {**current, "PasswordReusePrevention": 5}) == ["PasswordReusePrevention 12 → 5"]
    assert weakenings(current, {**current, "MaxPasswordAge": 0}) == ["MaxPasswordAge 90 → never"]
