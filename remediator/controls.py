"""The compliance controls findings map to, in one table: CIS AWS Foundations Benchmark v3.0 and v5.0.

A module names the rule (`controls.of("console_mfa")`), never the numbers: CIS renumbers between
versions, and one table is one place to follow it.
"""

from __future__ import annotations

CIS: dict[str, tuple[str, ...]] = {
    "root_access_keys": ("CIS v3.0 1.4", "CIS v5.0 1.3"),
    "root_mfa": ("CIS v3.0 1.5", "CIS v5.0 1.4"),
    "root_use": ("CIS v3.0 1.7", "CIS v5.0 1.6"),
    "password_length": ("CIS v3.0 1.8", "CIS v5.0 1.7"),
    "password_reuse": ("CIS v3.0 1.9", "CIS v5.0 1.8"),
    "console_mfa": ("CIS v3.0 1.10", "CIS v5.0 1.9"),
    "unused_credentials": ("CIS v3.0 1.12", "CIS v5.0 1.11"),
    "one_active_key": ("CIS v3.0 1.13", "CIS v5.0 1.12"),
    "key_rotation": ("CIS v3.0 1.14", "CIS v5.0 1.13"),
    "user_policies": ("CIS v3.0 1.15", "CIS v5.0 1.14"),
    "full_admin_policy": ("CIS v3.0 1.16", "CIS v5.0 1.15"),
    # Logging: Security Hub maps CloudTrail.1 to v3.0 and v5.0 3.1; log validation and KMS keep 3.2 and 3.5.
    "trail_all_regions": ("CIS v3.0 3.1", "CIS v5.0 3.1"),
    "trail_log_validation": ("CIS v3.0 3.2", "CIS v5.0 3.2"),
    "trail_kms": ("CIS v3.0 3.5", "CIS v5.0 3.5"),
}


def of(rule: str) -> tuple[str, ...]:
    """The control ids of a rule; a KeyError for a rule the table does not know (a typo, not 'none')."""
    return CIS[rule]
