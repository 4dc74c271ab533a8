"""Waivers (`--waivers FILE`): loading with file:line errors, matching, expiry, and what reports show.

Reports are built by hand from remediator.model types: no AWS, no emulator.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from datetime import date, timedelta
from pathlib import Path

import pytest

from remediator import controls
from remediator.errors import ConfigError
from remediator.model import Account, AccountRun, Finding, TaskPlan
from remediator.report import EXIT_OK, EXIT_PENDING, Report, render
from remediator.waivers import Waiver, apply_waivers, load_waivers

TODAY = date(2026, 6, 1)
KEYS = "iam_access_keys"
USERS = "iam_users"

ROTATION = Finding(
    address=f"prod/global/{KEYS}/svc-legacy/AKIAOLD",
    resource="svc-legacy/AKIAOLD",
    severity="medium",
    message="key is 400 days old",
    controls=controls.of("key_rotation"),
)
UNUSED_KEY = Finding(
    address=f"prod/global/{KEYS}/alice/AKIAUNUSED",
    resource="alice/AKIAUNUSED",
    severity="low",
    message="key unused for 120 days",
    controls=controls.of("unused_credentials"),
)
NO_MFA = Finding(
    address=f"prod/global/{USERS}/bob",
    resource="bob",
    severity="high",
    message="user bob has a console password and no MFA device",
    controls=controls.of("console_mfa"),
)
NOTE = Finding(f"prod/global/{KEYS}/svc-legacy/note", "svc-legacy/note", "info", "left alone by design")


def waiver(rule: str = KEYS, resource: str = "svc-legacy/*", expires: date = date(2027, 1, 31)) -> Waiver:
    return Waiver(rule, resource, "vendor integration, SEC-123", "security@example.com", expires, "waivers.yml", 2)


def report(*findings_by_module: tuple[str, list[Finding]], account: str = "prod") -> Report:
    plans = [
        TaskPlan(account, f"{module} task", module, "book.yml:3", findings=list(found))
        for module, found in findings_by_module
    ]
    return Report("check", [AccountRun(Account(account), task_plans=plans)])


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "waivers.yml"
    path.write_text(text, encoding="utf-8")
    return path


# ---------------------------------------------------------------- loading

GOOD = """\
waivers:
  - rule: iam_access_keys            # module
    resource: "svc-legacy/*"
    reason: "vendor integration, rotation ticket SEC-123"
    owner: security@example.com
    expires: 2027-01-31
  - rule: "iam_users:console_mfa"    # module:rule
    resource: "prod/*"
    reason: break-glass user
    owner: platform@example.com
    expires: "2026-06-15"
  - {rule: "CIS v5.0 1.13", resource: "*", reason: r, owner: o, expires: 2020-01-01}   # expired: still good input
  - {rule: "*", resource: "x", reason: r, owner: o, expires: 2027-01-01}
  - {rule: "iam_*", resource: "x", reason: r, owner: o, expires: 2027-01-01}
  - {rule: "console_mfa", resource: "x", reason: r, owner: o, expires: 2027-01-01}
  - {rule: "*:key_rotation", resource: "x", reason: r, owner: o, expires: 2027-01-01}
"""


def test_load_a_good_file(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD)
    loaded = load_waivers(path)
    assert [w.rule for w in loaded] == [
        "iam_access_keys",
        "iam_users:console_mfa",
        "CIS v5.0 1.13",
        "*",
        "iam_*",
        "console_mfa",
        "*:key_rotation",
    ]
    assert [w.kind for w in loaded] == ["module", "module_rule", "control", "any", "module", "rule", "module_rule"]
    first = loaded[0]
    assert first.resource == "svc-legacy/*"
    assert first.reason == "vendor integration, rotation ticket SEC-123"
    assert first.owner == "security@example.com"
    assert first.expires == date(2027, 1, 31)
    assert first.location == f"{path}:2"
    assert loaded[1].expires == date(2026, 6, 15)  # quoted or not, a date
    assert loaded[2].expires == date(2020, 1, 1)  # expired long ago is not bad input


def test_load_a_bare_list_and_empty_files(tmp_path: Path) -> None:
    bare = "- {rule: iam_users, resource: bob, reason: r, owner: o, expires: 2027-01-01}\n"
    assert [w.resource for w in load_waivers(write(tmp_path, bare))] == ["bob"]
    assert load_waivers(write(tmp_path, "")) == []
    assert load_waivers(write(tmp_path, "waivers: []\n")) == []
    assert load_waivers(write(tmp_path, "waivers:\n")) == []


ENTRY = "waivers:\n  - rule: iam_users\n    resource: bob\n    reason: r\n    owner: o\n    expires: 2027-01-31\n"


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        (ENTRY.replace("    expires: 2027-01-31\n", ""), 2, "missing 'expires'"),
        (ENTRY.replace("    reason: r\n", "").replace("    owner: o\n", ""), 2, "missing 'reason', 'owner'"),
        (ENTRY.replace("    owner: o\n", "    owner: o\n    ticket: SEC-1\n"), 6, "unknown key 'ticket'"),
        (ENTRY.replace("2027-01-31", "2027-02-30"), 6, "'2027-02-30' is not a date"),
        (ENTRY.replace("2027-01-31", "31/01/2027"), 6, "'expires' must be a date, YYYY-MM-DD"),
        (ENTRY.replace("2027-01-31", "2027-1-5"), 6, "'expires' must be a date, YYYY-MM-DD"),
        (ENTRY.replace("2027-01-31", "2027-01-31T10:00:00"), 6, "'expires' must be a date, YYYY-MM-DD"),
        (ENTRY.replace("2027-01-31", "20270131"), 6, "'expires' must be a date, YYYY-MM-DD"),
        (ENTRY.replace("reason: r", 'reason: ""'), 4, "'reason' must be non-empty text"),
        (ENTRY.replace("owner: o", "owner: [a, b]"), 5, "'owner' must be non-empty text"),
        (ENTRY.replace("rule: iam_users", "rule: iam_userz"), 2, "'iam_userz' is not a module, a rule or a control"),
        (ENTRY.replace("rule: iam_users", "rule: 'iam_users:no_such'"), 2, "'no_such' is not a rule of the controls"),
        (ENTRY.replace("rule: iam_users", "rule: 's3_*'"), 2, "'s3_*' names no module"),
        ("x: 1\nwaivers: []\ny: 2\n", 1, "unknown key 'x'"),
        ("waivers: {rule: x}\n", 1, "`waivers` must be a list of waivers"),
        ("waivers:\n  - just text\n", 2, "a waiver must be a mapping"),
        ("other: 1\n", 1, "unknown key 'other'"),
        ("waivers:\n  - {rule: x\n", 2, "YAML syntax error"),
        (ENTRY + "    expires: 2027-01-01\n", 7, "duplicate key 'expires'"),
    ],
)
def test_bad_input_names_file_and_line(tmp_path: Path, text: str, line: int, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_waivers(path)
    assert f"{path}:{line}: " in str(caught.value)
    assert message in str(caught.value)


def test_missing_file_is_bad_input(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="waivers file not found"):
        load_waivers(tmp_path / "nope.yml")


# ---------------------------------------------------------------- matching


@pytest.mark.parametrize(
    ("rule", "resource", "module", "finding", "matches"),
    [
        # resource: a glob on the finding's resource, its address, or the address's resource part
        (KEYS, "svc-legacy/*", KEYS, ROTATION, True),
        (KEYS, "svc-legacy/*", KEYS, UNUSED_KEY, False),
        (KEYS, "prod/*", KEYS, UNUSED_KEY, True),
        (KEYS, "staging/*", KEYS, UNUSED_KEY, False),
        (KEYS, "*/AKIAOLD", KEYS, ROTATION, True),
        (KEYS, "*", KEYS, UNUSED_KEY, True),
        (KEYS, "SVC-LEGACY/*", KEYS, ROTATION, False),  # case counts, as in IAM's ARNs
        # rule: a module, a glob on modules, MODULE:RULE, a rule alone, a control id, or *
        (USERS, "*", KEYS, ROTATION, False),
        ("iam_*", "*", KEYS, ROTATION, True),
        (f"{KEYS}:key_rotation", "*", KEYS, ROTATION, True),
        (f"{KEYS}:key_rotation", "*", KEYS, UNUSED_KEY, False),
        (f"{KEYS}:CIS v5.0 1.13", "*", KEYS, ROTATION, True),
        (f"{USERS}:key_rotation", "*", KEYS, ROTATION, False),
        ("*:console_mfa", "*", USERS, NO_MFA, True),
        ("console_mfa", "*", USERS, NO_MFA, True),
        ("console_mfa", "*", KEYS, ROTATION, False),
        ("CIS v3.0 1.10", "bob", USERS, NO_MFA, True),
        ("CIS v3.0 1.10", "*", KEYS, UNUSED_KEY, False),
        ("*", "*", USERS, NO_MFA, True),
    ],
)
def test_matching(rule: str, resource: str, module: str, finding: Finding, matches: bool) -> None:
    assert waiver(rule, resource).matches(module, finding) is matches


def test_first_matching_waiver_wins_and_notes_are_never_waived() -> None:
    first, second = waiver(resource="svc-legacy/*"), waiver(resource="*")
    r = report((KEYS, [ROTATION, UNUSED_KEY, NOTE]))
    apply_waivers(r, [first, second], TODAY)
    assert r.waived == {ROTATION: first, UNUSED_KEY: second}
    assert r.waiver_of(NOTE) is None


# ---------------------------------------------------------------- expiry


def test_waived_on_its_last_day_not_the_day_after() -> None:
    expires = date(2026, 6, 30)
    on_the_day = report((KEYS, [ROTATION]))
    warnings = apply_waivers(on_the_day, [waiver(expires=expires)], expires)
    assert on_the_day.waiver_of(ROTATION) is not None
    assert on_the_day.exit_code == EXIT_OK
    assert warnings == [
        "waivers.yml:2: waiver for rule 'iam_access_keys' on 'svc-legacy/*' expires on 2026-06-30,"
        " today (its last day); owner: security@example.com"
    ]

    day_after = report((KEYS, [ROTATION]))
    warnings = apply_waivers(day_after, [waiver(expires=expires)], expires + timedelta(days=1))
    assert day_after.waiver_of(ROTATION) is None
    assert day_after.exit_code == EXIT_PENDING
    assert warnings == [
        "waivers.yml:2: waiver for rule 'iam_access_keys' on 'svc-legacy/*' expired on 2026-06-30:"
        " ignored; 1 finding(s) it covered are open again"
    ]
    assert day_after.warnings == warnings  # shown in every format with the other warnings


def test_warning_from_fourteen_days_before_expiry() -> None:
    expires = TODAY + timedelta(days=14)
    r = report((KEYS, [ROTATION]))
    assert apply_waivers(r, [waiver(expires=expires)], TODAY) == [
        f"waivers.yml:2: waiver for rule 'iam_access_keys' on 'svc-legacy/*' expires on {expires},"
        " in 14 day(s); owner: security@example.com"
    ]
    assert apply_waivers(report((KEYS, [ROTATION])), [waiver(expires=expires + timedelta(days=1))], TODAY) == []


def test_a_waiver_that_matches_nothing_warns_unless_told_not_to() -> None:
    stray = waiver(rule=USERS, resource="nobody")
    assert apply_waivers(report((KEYS, [ROTATION])), [stray], TODAY) == [
        "waivers.yml:2: waiver for rule 'iam_users' on 'nobody' matched no finding"
    ]
    assert apply_waivers(report((KEYS, [ROTATION])), [stray], TODAY, warn_unmatched=False) == []


def test_expired_waiver_that_matches_nothing_still_warns_once() -> None:
    old = waiver(expires=date(2020, 1, 1), resource="nobody")
    (warning,) = apply_waivers(report((KEYS, [ROTATION])), [old], TODAY)
    assert warning.endswith("expired on 2020-01-01: ignored")


# ---------------------------------------------------------------- exit code and reports


def test_only_waived_findings_exit_0_and_counts_say_waived() -> None:
    r = report((KEYS, [ROTATION, NOTE]))
    assert r.exit_code == EXIT_PENDING
    apply_waivers(r, [waiver()], TODAY)
    assert r.exit_code == EXIT_OK
    assert r.counts(r.runs[0]) == {
        "ok": 1,
        "changed": 0,
        "would_change": 0,
        "failed": 0,
        "skipped": 0,
        "findings": 0,
        "info": 1,
        "waived": 1,
    }


def test_a_waived_finding_beside_an_open_one_still_exits_2() -> None:
    r = report((KEYS, [ROTATION, UNUSED_KEY]))
    apply_waivers(r, [waiver()], TODAY)
    assert r.exit_code == EXIT_PENDING
    assert r.counts(r.runs[0])["findings"] == 1


def waived_report() -> Report:
    r = report((KEYS, [ROTATION, UNUSED_KEY]))
    apply_waivers(r, [waiver()], TODAY)
    return r


def test_json_carries_a_waived_block_on_the_finding_only() -> None:
    data = json.loads(render(waived_report(), "json"))
    rotation, unused = data["accounts"][0]["tasks"][0]["findings"]
    assert rotation["waived"] == {
        "rule": "iam_access_keys",
        "resource": "svc-legacy/*",
        "reason": "vendor integration, SEC-123",
        "owner": "security@example.com",
        "expires": "2027-01-31",
        "source": "waivers.yml:2",
    }
    assert "waived" not in unused
    assert data["accounts"][0]["counts"]["waived"] == 1


def test_text_and_markdown_show_the_waiver() -> None:
    text = render(waived_report(), "text")
    assert "  finding (medium, waived): svc-legacy/AKIAOLD: key is 400 days old [CIS v3.0 1.14, CIS v5.0 1.13]" in text
    assert "    waived until 2027-01-31 by security@example.com: vendor integration, SEC-123 (waivers.yml:2)" in text
    assert "findings=1 waived=1" in text

    md = render(waived_report(), "markdown")
    assert "| account | ok | changed | would change | failed | skipped | findings | waived | verdict |" in md
    assert "| prod | 1 | 0 | 0 | 0 | 0 | 1 | 1 | findings open |" in md
    assert (
        "| medium | svc-legacy/AKIAOLD | key is 400 days old — **waived** until 2027-01-31 by security@example.com:"
        " vendor integration, SEC-123 (waivers.yml:2) |" in md
    )
    assert "#### iam_access_keys task — ok, 2 finding(s), 1 waived" in md
    assert "| `iam_access_keys:key_rotation` | CIS v3.0 1.14, CIS v5.0 1.13 | 0 | 1 |" in md  # waived column


def test_junit_skips_a_waived_finding_and_sarif_lists_it_apart() -> None:
    root = ET.fromstring(render(waived_report(), "junit"))
    cases = {c.get("name"): c for c in root.iter("testcase")}
    skipped = cases["iam_access_keys task: svc-legacy/AKIAOLD [key_rotation]"].find("skipped")
    assert skipped is not None
    assert skipped.get("message") == (
        "waived until 2027-01-31 by security@example.com: vendor integration, SEC-123 (waivers.yml:2)"
    )
    assert cases["iam_access_keys task: alice/AKIAUNUSED [unused_credentials]"].find("failure") is not None

    run = json.loads(render(waived_report(), "sarif"))["runs"][0]
    assert [r["properties"]["address"] for r in run["results"]] == [UNUSED_KEY.address]
    (waived,) = run["properties"]["waived"]
    assert waived["address"] == ROTATION.address and waived["rule"] == "iam_access_keys:key_rotation"
    assert waived["waiver"]["owner"] == "security@example.com"
