"""Keep CPython's cyclic garbage collector off the heap a process builds while starting.

A serving process holds a few hundred thousand long-lived objects made at start: imported
modules, the offline postal-code tables, phone-number metadata, compiled templates. A full
(generation 2) collection walks every one of them, and under a sign-up rush the allocation
rate triggers one every second or two, each stopping the process for about 300 ms: that pause,
not the database, set the sign-up p99 (docs/performance.md). ``gc.freeze()`` moves the objects
alive at that moment into a generation the collector never scans; whatever is made later is
collected as before. Call it once, after start-up has loaded everything.
"""

from __future__ import annotations

import gc
import logging

__all__ = ["freeze_startup_heap"]

log = logging.getLogger(__name__)


def freeze_startup_heap() -> int:
    """Collect once, then exempt every surviving object from later collections; returns how
    many objects are now exempt."""
    gc.collect()
    gc.freeze()
    frozen = gc.get_freeze_count()
    log.debug("start-up heap frozen: %d objects exempt from garbage collection", frozen)
    return frozen
