"""A resident's inbox for the stubs: messages to watched addresses, as JSON lines in a file.

The demo runs the Twilio and SMTP stubs in their own processes; a stub started with
``--watch ADDRESS --watch-file PATH`` appends every message it accepts for a watched address
to ``PATH`` (one JSON object a line: ``to``, ``at`` and the message's ``body`` / ``subject`` /
``text``), so the demo can show what that resident received, and read the confirmation link
out of it, without the stub keeping every other message in memory.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

__all__ = ["WatchedInbox", "read_inbox"]


class WatchedInbox:
    def __init__(self, path: Path | str, addresses: Iterable[str]) -> None:
        self.path = Path(path)
        self.addresses = {a.strip().lower() for a in addresses}
        self._lock = threading.Lock()

    def watches(self, address: str | None) -> bool:
        return bool(address) and address.strip().lower() in self.addresses  # type: ignore[union-attr]

    def record(self, to: str, **fields: Any) -> None:
        line = json.dumps({"to": to, "at": time.time(), **fields}, ensure_ascii=False)
        with self._lock, self.path.open("a", encoding="utf-8") as out:
            out.write(line + "\n")


def read_inbox(path: Path | str) -> list[dict[str, Any]]:
    """Every message recorded so far (a half-written last line is skipped)."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return []
    found = []
    for line in lines:
        try:
            found.append(json.loads(line))
        except ValueError:
            continue
    return found
