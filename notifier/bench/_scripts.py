"""Reuse of the standalone scripts in the repository's ``bench/`` folder.

The scripts stay runnable on their own (``python bench/bench_smart.py``); the suite imports
their functions by path, or runs a script built on another branch when it is present.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

__all__ = ["BENCH_DIR", "load_script", "run_script"]

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
