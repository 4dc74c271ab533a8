"""Truncated list pages, as AWS sends them: the emulator answers a list in one page and never truncates.

`truncate("ListRoles", "Roles", 2)` is a `client_hooks` entry: on each new botocore client it takes the
Marker out of the request (the emulator fails on a marker it did not issue, so it always answers in full)
and records it, then cuts the emulator's full answer into pages of `page_size`: the page the Marker names,
with IsTruncated and the next page's Marker ("page-2", "page-3"…) while more follow.
"""

from __future__ import annotations

from typing import Any

_CONTEXT_KEY = "tests.pages.marker"


class Pages:
    """A `client_hooks` entry serving `operation`'s `key` list in pages; `markers` holds the Marker of each
    call it saw, in order (None: the first page)."""

    def __init__(self, operation: str, key: str, page_size: int, *, service: str = "iam", sort_by: str | None = None):
        if page_size < 1:
            raise ValueError("page_size must be 1 or more")
        self.operation = operation
        self.key = key
        self.page_size = page_size
        self.service = service
        self.sort_by = sort_by
        self.markers: list[str | None] = []

    def __call__(self, client: Any) -> None:
        client.meta.events.register(f"before-parameter-build.{self.service}.{self.operation}", self._before)
        client.meta.events.register(f"after-call.{self.service}.{self.operation}", self._after)

    def _before(self, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        marker = params.pop("Marker", None)
        self.markers.append(marker)
        context[_CONTEXT_KEY] = marker  # the same request's after-call gets the same context

    def _after(self, parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        if self.key not in parsed:  # an error answer: nothing to page
            return
        items = parsed[self.key]
        if self.sort_by is not None:
            items = sorted(items, key=lambda item: item[self.sort_by])
        marker = context.get(_CONTEXT_KEY)
        page = 0 if marker is None else int(marker.removeprefix("page-")) - 1
        start = page * self.page_size
        end = start + self.page_size
        parsed[self.key] = items[start:end]
        if end < len(items):
            parsed["IsTruncated"], parsed["Marker"] = True, f"page-{page + 2}"
        else:
            parsed["IsTruncated"] = False
            parsed.pop("Marker", None)


def truncate(operation: str, key: str, page_size: int, *, service: str = "iam", sort_by: str | None = None) -> Pages:
    """Serve `operation`'s `key` list (e.g. "ListRoles", "Roles") in pages of `page_size`, sorted by `sort_by`
    if given (else in the emulator's order). Append the result to `client_hooks`; read `.markers` after."""
    return Pages(operation, key, page_size, service=service, sort_by=sort_by)
