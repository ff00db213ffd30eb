"""The audit trail: every upload, replace and delete, one JSON line each.

``<index_dir>/audit.jsonl`` beside the index; a line is
``{"time": "2026-12-07T01:02:03Z", "user": "alice", "action": "upload", "file": "a.pdf"}``
(plus ``"client"``, the address it came from, when known). Lines are only ever
appended, each in one write, so entries from several processes never interleave.
"""

from __future__ import annotations

import json
import os
import time
from collections import deque
from pathlib import Path
from typing import Any

AUDIT_FILE = "audit.jsonl"
ACTIONS = ("upload", "replace", "delete")


def audit_path(settings: Any) -> Path:
    return Path(settings.index_dir) / AUDIT_FILE


class AuditLog:
    def __init__(self, path: Path):
        self.path = Path(path)

    @classmethod
    def for_settings(cls, settings: Any) -> AuditLog:
        return cls(audit_path(settings))

    def append(self, action: str, user: str | None, file: str, client: str | None = None) -> dict:
        """Append one entry and return it."""
        if action not in ACTIONS:
            raise ValueError(f"unknown audit action {action!r}")
        entry = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "user": user or "-",
            "action": action,
            "file": str(file),
        }
        if client:
            entry["client"] = client
        line = (json.dumps(entry, ensure_ascii=False) + "\n").encode("utf-8")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)
        return entry

    def entries(self, last: int | None = None) -> list[dict]:
        """The entries, oldest first (the ``last`` ones); broken lines are left out."""
        try:
            fh = self.path.open(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return []
        kept: deque[dict] = deque(maxlen=last)
        with fh:
            for line in fh:
                try:
                    entry = json.loads(line)
                except ValueError:
                    continue
                if isinstance(entry, dict):
                    kept.append(entry)
        return list(kept)
