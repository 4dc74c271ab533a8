"""--format json: the plan and its results with stable field names."""

from __future__ import annotations

import json

from remediator.report import Report, formatter


@formatter("json")
def render_json(report: Report) -> str:
    return json.dumps(report.to_dict(), indent=2, sort_keys=True, default=str) + "\n"
