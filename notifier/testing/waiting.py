"""Wait for a condition instead of sleeping "long enough".

A fixed sleep is either too short on a loaded machine (a flaky test) or too long everywhere (a
slow one). ``eventually`` checks the condition often and gives up only after a generous bound.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

__all__ = ["eventually"]


async def eventually(
    condition: Callable[[], bool], *, timeout: float = 10.0, every: float = 0.005
) -> None:
    """Return as soon as ``condition()`` is true; raise ``TimeoutError`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"condition still false after {timeout} s")
        await asyncio.sleep(every)
