"""Every script a benchmark runs in ``bench/`` accepts the suite's ``--json`` and ``--quick``.

``notifier bench`` runs these scripts with those options; a script that lost them would only
show up as a failed benchmark in a run made on purpose. Here each one is asked for its
``--help`` in a child process (nothing is measured, nothing timed).
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from notifier.bench._scripts import BENCH_DIR, print_json_lines
from notifier.bench.external import SCRIPTS
from notifier.bench.registry import Result, discover

SCRIPT_NAMES = sorted({script for scripts in SCRIPTS.values() for script in scripts})


def test_every_script_benchmark_is_registered_and_its_scripts_exist() -> None:
    assert set(SCRIPTS) <= set(discover())
    missing = [name for name in SCRIPT_NAMES if not (BENCH_DIR / f"{name}.py").exists()]
    assert missing == []


@pytest.mark.parametrize("script", SCRIPT_NAMES)
def test_the_script_takes_json_and_quick(script: str) -> None:
    done = subprocess.run(
        [sys.executable, str(BENCH_DIR / f"{script}.py"), "--help"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "--json" in done.stdout and "--quick" in done.stdout


def test_json_lines_are_what_the_suite_reads(capsys: pytest.CaptureFixture[str]) -> None:
    print_json_lines([Result("web", "page_p99_ms", 12.5, "ms", "< 50 ms", True, "a note")])
    [line] = capsys.readouterr().out.splitlines()
    assert json.loads(line) == {
        "bench": "web",
        "metric": "page_p99_ms",
        "value": 12.5,
        "unit": "ms",
        "goal": "< 50 ms",
        "ok": True,
        "note": "a note",
    }
