"""Lowering MaxSessionDuration names the callers it would refuse (SPEC: "Lowering a role's
MaxSessionDuration"), through the CLI against the emulator: AssumeRole events from LookupEvents, read once
per region (us-east-1 and the account's region) for the whole run, never once per role."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import Any

import pytest

from remediator.sandbox import shims
from tests import events
from tests.conftest import cli, write, write_inventory
from tests.emulator import make_role, now
from tests.events import ACCOUNT, stamp, user
from tests.faults import Inject, json_error

REGION = "eu-west-1"  # the account's region: regional STS endpoints log there
JANE = f"arn:aws:iam::{ACCOUNT}:user/jane"
pytestmark = pytest.mark.usefixtures("pinned_clock")  # the look-up's window and the events share one "now"


def assume_role(n: int, role: str, days: float, seconds: int | None, region: str = "us-east-1", **more) -> dict:
    """An AssumeRole record as CloudTrail writes it (jane, an IAM user, asking for `seconds`)."""
    request: dict[str, Any] = {"roleArn": f"arn:aws:iam::{ACCOUNT}:role/{role}", "roleSessionName": f"s-{n}"}
    if seconds is not None:
        request["durationSeconds"] = seconds
    when = stamp(now() - timedelta(days=days))
    return events.record(
        f"assume-{region}-{n}", when, "sts.amazonaws.com", "AssumeRole", user("jane"), region,
        sourceIPAddress="203.0.113.7", requestParameters=request, **more,
    )  # fmt: skip


def role_task(**options: Any) -> str:
    extra = "".join(f", {k}: {str(v).lower() if isinstance(v, bool) else v}" for k, v in options.items())
    return f"- tasks:\n    - name: app sessions\n      iam_role: {{name: app, max_session_duration: 3600{extra}}}\n"


def session_of(iam, name: str) -> int:
    return iam.get_role(RoleName=name)["Role"]["MaxSessionDuration"]


class LookupRegions:
    """A client hook: the region of every LookupEvents call sent."""

    def __init__(self) -> None:
        self.seen: Counter[str] = Counter()

    def __call__(self, client: Any) -> None:
        region = client.meta.region_name
        client.meta.events.register("before-send.cloudtrail.LookupEvents", lambda **_: self._count(region))

    def _count(self, region: str) -> None:
        self.seen[region] += 1


@pytest.fixture
def inv(aws, workdir):
    return write_inventory(workdir, aws, test={"account_id": ACCOUNT, "region": REGION})


@pytest.fixture
def app(iam):
    """Role app at 12 hours; jane asked it for 12 hours five days ago (through STS's global endpoint)."""
    make_role(iam, "app", MaxSessionDuration=43200)
    shims.add_lookup_events(ACCOUNT, "us-east-1", [assume_role(1, "app", 5, 43200)])


def test_a_caller_above_the_cap_fails_the_task_and_nothing_is_written(iam, app, inv, workdir, calls):
    book = write(workdir, "play.yml", role_task())

    result = cli("run", book, "-i", inv)

    assert result.code == 1, result.out + result.err
    output = result.out + result.err
    assert f"{JANE} asked arn:aws:iam::{ACCOUNT}:role/app for 43200 seconds" in output
    assert "allow_caller_impact: true" in output and "check_callers: false" in output
    assert calls.mutating == []
    assert session_of(iam, "app") == 43200
    assert calls.count("LookupEvents") == 2  # us-east-1 and the account's region, one page each


def test_allow_caller_impact_lowers_the_cap_and_names_the_callers(iam, app, inv, workdir, calls):
    book = write(workdir, "play.yml", role_task(allow_caller_impact=True))

    check = cli("run", book, "-i", inv, "--check")
    assert check.code == 2, check.out + check.err
    assert "callers that asked for longer sessions" in check.out and JANE in check.out

    result = cli("run", book, "-i", inv)
    assert result.code == 0, result.out + result.err
    assert JANE in result.out
    assert session_of(iam, "app") == 3600
    assert calls.mutating == ["UpdateRole"]

    calls.clear()
    again = cli("run", book, "-i", inv, "--check")
    assert again.code == 0, again.out + again.err
    assert calls.count("LookupEvents") == 0  # nothing is lowered any more: no look-up


def test_check_callers_false_skips_the_look_up(iam, app, inv, workdir, calls):
    book = write(workdir, "play.yml", role_task(check_callers=False))

    result = cli("run", book, "-i", inv)

    assert result.code == 0, result.out + result.err
    assert calls.count("LookupEvents") == 0
    assert session_of(iam, "app") == 3600


def test_lookup_events_denied_says_so_and_how_to_skip(iam, app, inv, workdir, calls, client_hooks):
    denied = Inject(
        "cloudtrail",
        "LookupEvents",
        lambda: json_error(
            "AccessDeniedException",
            f"User: arn:aws:sts::{ACCOUNT}:assumed-role/auditor/x is not authorized to perform:"
            " cloudtrail:LookupEvents because no identity-based policy allows the cloudtrail:LookupEvents action",
        ),
    )
    client_hooks.append(denied)
    book = write(workdir, "play.yml", role_task() + "    - iam_roles: {max_session_duration: 3600}\n")

    result = cli("run", book, "-i", inv)

    assert result.code == 1, result.out + result.err
    assert result.out.count("failed: cannot name the callers") == 2  # both tasks, each saying why and how
    output = result.out + result.err
    assert "cloudtrail:LookupEvents is denied to the runner (AccessDeniedException" in output
    assert "set check_callers: false to lower MaxSessionDuration without the look-up" in output
    assert calls.count("LookupEvents") <= 2  # the denial is remembered for the account: not asked again
    assert calls.mutating == []
    assert session_of(iam, "app") == 43200


def test_a_caller_at_the_cap_or_asking_for_the_default_is_not_impacted(iam, inv, workdir, calls):
    make_role(iam, "app", MaxSessionDuration=43200)
    shims.add_lookup_events(
        ACCOUNT,
        "us-east-1",
        [
            assume_role(1, "app", 3, None),  # no durationSeconds: AWS's default, 3600
            assume_role(2, "app", 4, 3600),
            assume_role(3, "app", 6, 43200, errorCode="AccessDenied", errorMessage="not allowed"),  # no session
        ],
    )
    book = write(workdir, "play.yml", role_task())

    result = cli("run", book, "-i", inv)

    assert result.code == 0, result.out + result.err
    assert session_of(iam, "app") == 3600
    assert "callers that asked for longer sessions" not in result.out


def test_a_compliant_run_makes_no_lookup_events_call(iam, inv, workdir, calls):
    make_role(iam, "app", MaxSessionDuration=3600)
    make_role(iam, "other", MaxSessionDuration=3600)
    shims.add_lookup_events(ACCOUNT, "us-east-1", [assume_role(1, "other", 5, 43200)])
    book = write(
        workdir,
        "play.yml",
        "- tasks:\n"
        "    - iam_role: {name: app, max_session_duration: 3600}\n"
        "    - iam_roles: {max_session_duration: 3600}\n",
    )

    result = cli("run", book, "-i", inv, "--check")

    assert result.code == 0, result.out + result.err
    assert calls.count("LookupEvents") == 0


def test_one_look_up_per_region_for_the_whole_run_never_per_role(iam, inv, workdir, calls, client_hooks):
    """Five roles above the cap, lowered by a sweep and an iam_role task: each region is read once (in
    pages of 50), shared by both tasks. Only us-east-1 and the account's region are read."""
    for name in ("app", "r1", "r2", "r3", "r4"):
        make_role(iam, name, MaxSessionDuration=43200)
    noise = [assume_role(100 + n, f"r{n % 4 + 1}", 1 + n % 80, None) for n in range(60)]  # 2 pages
    shims.add_lookup_events(ACCOUNT, "us-east-1", noise)
    shims.add_lookup_events(ACCOUNT, REGION, [assume_role(1, "r2", 2, 43200, REGION)])  # a regional endpoint
    shims.add_lookup_events(ACCOUNT, "ap-southeast-2", [assume_role(2, "r3", 2, 43200, "ap-southeast-2")])
    regions = LookupRegions()
    client_hooks.append(regions)
    book = write(
        workdir,
        "play.yml",
        "- tasks:\n"
        "    - iam_role: {name: app, max_session_duration: 3600, allow_caller_impact: true}\n"
        "    - iam_roles: {max_session_duration: 3600, allow_caller_impact: true, exclude: [app]}\n",
    )

    check = cli("run", book, "-i", inv, "--check")

    assert check.code == 2, check.out + check.err
    assert regions.seen == {"us-east-1": 2, REGION: 1}  # ap-southeast-2 is not read
    assert calls.count("LookupEvents") == 3
    assert f"{JANE} asked arn:aws:iam::{ACCOUNT}:role/r2 for 43200 seconds" in check.out  # from the regional log
    assert "role/r3 for 43200" not in check.out

    regions.seen.clear()
    applied = cli("run", book, "-i", inv)

    assert applied.code == 0, applied.out + applied.err
    assert {session_of(iam, n) for n in ("app", "r1", "r2", "r3", "r4")} == {3600}
    # Planning reads once per region; the applier's re-reads of each task (for staleness) share that read:
    # past events cannot change, so one look-up per region serves the whole run, never one per task or role.
    assert regions.seen == {"us-east-1": 2, REGION: 1}
