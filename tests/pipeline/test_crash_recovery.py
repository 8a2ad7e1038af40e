"""Crash between the outbox write and the send: after a restart every delivery happens once.

The worker runs in a real child process that dies with ``os._exit`` (no cleanup, nothing
flushed by Python), once right after the alerts and their outbox were committed, and once in
the middle of sending. Only a message in flight at the moment of the crash may go out twice.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

from tests.pipeline.crash_worker import CRASH_EXIT
from tests.pipeline.pipeline_support import console_records

REPO = Path(__file__).resolve().parents[2]


def run_worker(phase: str, workdir: Path) -> int:
    done = subprocess.run(
        [sys.executable, "-m", "tests.pipeline.crash_worker", phase, str(workdir)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode in (0, CRASH_EXIT), done.stderr[-3000:]
    return done.returncode


def sent_keys(workdir: Path) -> Counter[str]:
    return Counter(k for r in console_records(workdir / "console.jsonl") for k in r["keys"])


def test_crash_after_outbox_write_then_restart_delivers_each_once(tmp_path: Path) -> None:
    assert run_worker("write", tmp_path) == CRASH_EXIT
    alerts = json.loads((tmp_path / "alerts.json").read_text())
    assert len(alerts) == 3
    assert sent_keys(tmp_path) == Counter()  # died before sending anything

    assert run_worker("send", tmp_path) == 0
    keys = sent_keys(tmp_path)
    assert len(keys) == 3 and set(keys.values()) == {1}


def test_crash_while_sending_loses_nothing_and_repeats_only_in_flight(tmp_path: Path) -> None:
    assert run_worker("write", tmp_path) == CRASH_EXIT
    assert run_worker("crash-send", tmp_path) == CRASH_EXIT
    before = sent_keys(tmp_path)
    assert sum(before.values()) == 2  # the first was marked sent; the second died in flight

    assert run_worker("send", tmp_path) == 0
    after = sent_keys(tmp_path)
    assert len(after) == 3  # nothing lost
    in_flight = list(before)[1]
    assert after[in_flight] <= 2
    assert all(n == 1 for key, n in after.items() if key != in_flight)
