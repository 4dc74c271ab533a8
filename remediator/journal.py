"""The journal: before each change is applied, its before-image and undo calls are appended and fsync'd.

A crash mid-run leaves a journal that says exactly what was begun and what finished; `rollback`
replays the undo calls of applied changes, newest first, and records each undo so it happens once.
"""

from __future__ import annotations

import json
import os
import threading
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from remediator import __version__
from remediator.errors import ConfigError
from remediator.model import Account, Change

FORMAT = 1


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class Journal:
    """Appends one JSON line per event, flushed and fsync'd before the change it describes runs."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.run_id = uuid.uuid4().hex[:12]
        self._seq = 0
        self._lock = threading.Lock()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._write(
            {"type": "run", "format": FORMAT, "run_id": self.run_id, "started": now(), "tool_version": __version__}
        )

    def begin(self, account: Account, args: dict[str, Any], change: Change) -> int:
        with self._lock:
            self._seq += 1
            seq = self._seq
        self._write(
            {
                "type": "begin",
                "run_id": self.run_id,
                "seq": seq,
                "at": now(),
                "account": account.connection(),
                "args": args,
                "change": change.to_dict(),
            }
        )
        return seq

    def end(self, seq: int, status: str, message: str = "") -> None:
        self._write(
            {"type": "end", "run_id": self.run_id, "seq": seq, "at": now(), "status": status, "message": message}
        )

    def undone(self, run_id: str, seq: int) -> None:
        self._write({"type": "undone", "run_id": run_id, "seq": seq, "at": now()})

    def _write(self, record: dict[str, Any]) -> None:
        line = json.dumps(record, sort_keys=True, default=str)
        with self._lock, open(self.path, "a", encoding="utf-8") as handle:
            handle.write(line + "\n")
            handle.flush()
            os.fsync(handle.fileno())


@dataclass
class Entry:
    """One change recorded in a journal, and what became of it."""

    run_id: str
    seq: int
    account: Account
    args: dict[str, Any]
    change: Change
    status: str  # applied | failed | unknown (begun, never ended: a crash)
    undone: bool = False


def _check_header(text: str, file: str, number: int) -> None:
    try:
        record = json.loads(text)
    except json.JSONDecodeError:
        record = None
    if not isinstance(record, dict) or record.get("type") != "run":
        raise ConfigError(
            f"not a remediator journal (line {number} is not a run header); nothing was rolled back",
            file=file,
            line=number,
        )


def read(path: str | Path) -> list[Entry]:
    """Parse a journal; a malformed or truncated line is a ConfigError naming the line."""
    file = str(path)
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise ConfigError("journal not found", file=file)
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read journal: {exc}", file=file)
    entries: dict[tuple[str, int], Entry] = {}
    saw_header = False
    for number, text in enumerate(lines, 1):
        if not text.strip():
            continue
        if not saw_header:
            _check_header(text, file, number)
        try:
            record = json.loads(text)
            kind = record["type"]
            if kind == "run":
                if record.get("format", 0) > FORMAT:
                    raise ConfigError(
                        f"journal format {record['format']} is newer than this remediator reads ({FORMAT})",
                        file=file,
                        line=number,
                    )
                saw_header = True
            elif kind == "begin":
                key = (record["run_id"], int(record["seq"]))
                entries[key] = Entry(
                    key[0],
                    key[1],
                    Account.from_connection(record["account"]),
                    dict(record.get("args") or {}),
                    Change.from_dict(record["change"]),
                    "unknown",
                )
            elif kind in ("end", "undone"):
                entry = entries.get((record["run_id"], int(record["seq"])))
                if entry is None:
                    raise ConfigError(f"{kind} record for a change the journal never began", file=file, line=number)
                if kind == "end":
                    entry.status = record["status"]
                else:
                    entry.undone = True
            else:
                raise ConfigError(f"unknown journal record type {kind!r}", file=file, line=number)
        except ConfigError:
            raise
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            what = "truncated or corrupt line" if isinstance(exc, json.JSONDecodeError) else f"malformed record ({exc})"
            raise ConfigError(f"journal {what}; nothing was rolled back", file=file, line=number)
    if not saw_header:
        raise ConfigError("not a remediator journal (no run header)", file=file, line=1)
    return list(entries.values())
