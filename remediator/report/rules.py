"""The rule a finding breaks, named the same way in waivers, SARIF and the markdown summary.

A finding's rule is `MODULE:KEY`, where KEY is the name of the control it maps to in `remediator.controls`
(`iam_users:console_mfa`, `iam_root_account:root_mfa`): one name across CIS versions, however CIS
renumbers. A finding whose controls are not in that table is named by the controls themselves
(`MODULE:CIS 1.5, CIS 1.6`), and one with no controls by its module alone (`iam_admins`).
"""

from __future__ import annotations

from remediator import controls
from remediator.model import Finding

# control id ("CIS v5.0 1.9") → the key of remediator.controls.CIS it belongs to ("console_mfa")
CONTROL_KEYS: dict[str, str] = {control: key for key, ids in controls.CIS.items() for control in ids}


def control_key(ids: tuple[str, ...] | list[str]) -> str | None:
    """The controls table's key for a finding's control ids; their own list when the table has none."""
    for control in ids:
        if control in CONTROL_KEYS:
            return CONTROL_KEYS[control]
    return ", ".join(ids) if ids else None


def rule_name(module: str, finding: Finding) -> str:
    """`MODULE:KEY`, or `MODULE` for a finding with no control ids."""
    key = control_key(finding.controls)
    return f"{module}:{key}" if key else module


def module_of(address: str, default: str = "") -> str:
    """The module part of an address `<account>/<region|global>/<module>/<resource>`."""
    parts = address.split("/", 3)
    return parts[2] if len(parts) >= 3 else default
