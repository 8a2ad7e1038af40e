"""Reuse of the standalone scripts in the repository's ``bench/`` folder.

The scripts stay runnable on their own (``python bench/bench_smart.py``); the suite imports
their functions by path, or runs a script as a child process (``external.py``). A script the
suite runs takes ``--json`` and ``--quick`` (``add_suite_options``) and, given ``--json``,
prints its figures with ``print_json_lines``: the same lines as ``notifier bench --json``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path
from types import ModuleType

from notifier.bench.registry import Result

__all__ = ["BENCH_DIR", "add_suite_options", "load_script", "print_json_lines", "run_script"]

BENCH_DIR = Path(__file__).resolve().parents[2] / "bench"


def load_script(name: str) -> ModuleType:
    """``bench/<name>.py`` as a module (cached in ``sys.modules`` under ``bench_scripts.*``)."""
    key = f"bench_scripts.{name}"
    if key in sys.modules:
        return sys.modules[key]
    path = BENCH_DIR / f"{name}.py"
    spec = importlib.util.spec_from_file_location(key, path)
    if spec is None or spec.loader is None:
        raise FileNotFoundError(f"no benchmark script {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[key] = module
    spec.loader.exec_module(module)
    return module


def run_script(name: str, *args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    """Run ``bench/<name>.py`` with this interpreter; its output is captured."""
    return subprocess.run(
        [sys.executable, str(BENCH_DIR / f"{name}.py"), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def add_suite_options(parser: argparse.ArgumentParser, quick: str) -> None:
    """``--json`` and ``--quick`` as ``notifier bench`` passes them; ``quick``: what shrinks."""
    parser.add_argument(
        "--json",
        action="store_true",
        help="print one JSON object a line (bench, metric, value, unit, goal, ok, note)",
    )
    parser.add_argument("--quick", action="store_true", help=f"a short smoke run: {quick}")


def print_json_lines(results: Iterable[Result]) -> None:
    for result in results:
        print(json.dumps(result.as_json()), flush=True)
