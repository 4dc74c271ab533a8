"""Shards: one run's accounts split across CI jobs, and the result each job writes for `merge`.

`--shard I/N` keeps the selected accounts (after `--limit`) whose shard is I: a hash of the account id
(of the name, when the inventory gives no id), so an account stays in its shard however the inventory
is reordered or grows, and N jobs given the same inputs split the accounts between them without
talking to each other. `--shard auto/N` takes I from the job array's index: Kubernetes Indexed Jobs
(`JOB_COMPLETION_INDEX`) or AWS Batch array jobs (`AWS_BATCH_JOB_ARRAY_INDEX`), both 0-based.

`--result FILE` writes what `merge` needs to put the shards back together and to prove they belong
together: the JSON report, the digests of the playbook, the inventory, the options and the tool, the
shard, the accounts it covered, and the whole selection (every account the unsharded run would have
covered), so a missing shard or a missing account is seen, never mistaken for a pass.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from remediator import __version__
from remediator.errors import ConfigError
from remediator.model import Account

RESULT_KIND = "remediator-result"
RESULT_VERSION = 1
INDEX_VARIABLES = ("JOB_COMPLETION_INDEX", "AWS_BATCH_JOB_ARRAY_INDEX")
_SHARD = re.compile(r"\s*(auto|\d+)\s*/\s*(\d+)\s*")


@dataclass(frozen=True)
class Shard:
    index: int  # 1-based
    count: int

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    def holds(self, account: Account) -> bool:
        return shard_of(shard_key(account), self.count) == self.index

    def to_dict(self) -> dict[str, int]:
        return {"index": self.index, "count": self.count}


def parse_shard(value: str, environ: Mapping[str, str] | None = None) -> Shard:
    """`I/N` (1 ≤ I ≤ N) or `auto/N` (I = the job array's 0-based index + 1)."""
    match = _SHARD.fullmatch(value or "")
    if not match:
        raise ConfigError(f"--shard {value!r}: expected I/N (such as 2/5) or auto/N")
    count = int(match.group(2))
    if count < 1:
        raise ConfigError(f"--shard {value!r}: N must be 1 or more")
    if match.group(1) != "auto":
        index = int(match.group(1))
        if not 1 <= index <= count:
            raise ConfigError(f"--shard {value!r}: I must be from 1 to {count} (shards are numbered from 1)")
        return Shard(index, count)
    environ = os.environ if environ is None else environ
    for variable in INDEX_VARIABLES:
        raw = environ.get(variable)
        if raw is None or raw.strip() == "":
            continue
        if not raw.strip().isdigit():
            raise ConfigError(f"--shard {value}: {variable}={raw!r} is not a job index (0, 1, 2…)")
        zero_based = int(raw.strip())
        if zero_based >= count:
            raise ConfigError(
                f"--shard {value}: {variable}={zero_based} is past the last of {count} shards (indexes 0–{count - 1})"
            )
        return Shard(zero_based + 1, count)
    raise ConfigError(f"--shard {value}: neither {' nor '.join(INDEX_VARIABLES)} is set; give the shard as I/{count}")


def shard_key(account: Account) -> str:
    return account.account_id or account.name


def shard_of(key: str, count: int) -> int:
    """The 1-based shard of an account id (or name): stable across runs, machines and Python versions."""
    digest = hashlib.sha256(key.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % count + 1


def selection_entry(account: Account) -> dict[str, Any]:
    return {"name": account.name, "account_id": account.account_id}


@functools.cache
def tool_digest() -> str:
    """The version and every source file of this remediator: shards made by different code don't merge."""
    root = Path(__file__).resolve().parent
    digest = hashlib.sha256(__version__.encode())
    for path in sorted(root.rglob("*.py")):
        digest.update(str(path.relative_to(root)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def options_digest(**options: Any) -> str:
    """What else decides a run's outcome besides the files: check mode, tags, limit, extra vars (hashed,
    never written: they may hold secrets), the change limit."""
    text = json.dumps(options, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def write_result(
    path: str | Path,
    report_data: dict[str, Any],
    *,
    playbook: str,
    playbook_digest: str,
    inventory_digest: str,
    options: str,
    shard: Shard | None,
    selection: list[Account],
    covered: list[Account],
    diff: bool,
) -> None:
    data = {
        "kind": RESULT_KIND,
        "format_version": RESULT_VERSION,
        "tool_version": __version__,
        "tool_digest": tool_digest(),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "playbook": playbook,
        "playbook_digest": playbook_digest,
        "inventory_digest": inventory_digest,
        "options_digest": options,
        "shard": (shard or Shard(1, 1)).to_dict(),
        "selection": [selection_entry(a) for a in selection],
        "selection_count": len(selection),
        "accounts": [a.name for a in covered],
        "diff": diff,
        "report": report_data,
    }
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n", encoding="utf-8")
