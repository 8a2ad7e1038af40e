"""Benchmarks that run a standalone script of ``bench/`` in a child process: ``web`` (public
pages), ``multi-node`` (procrastinate workers), ``signup`` and ``buckland`` (fair waves). Each
runs its scripts (``SCRIPTS``) when present, and reports ``ok: false`` with a "not available"
note otherwise.

Such a script takes ``--quick`` and ``--json`` (``_scripts.add_suite_options``) and prints result
lines in the suite's JSON format (``{"bench", "metric", "value", "unit", "goal", "ok"}``,
``_scripts.print_json_lines``); a non-zero exit status is reported as a failure too. Lines that
are not JSON are ignored, so a script may print progress on stdout.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

from notifier.bench._scripts import BENCH_DIR, run_script
from notifier.bench.registry import Result, benchmark

__all__ = ["SCRIPTS", "script_results"]

#: each benchmark's scripts in ``bench/``, run in this order
SCRIPTS: dict[str, tuple[str, ...]] = {
    "web": ("bench_web_page", "bench_publish"),
    "multi-node": ("bench_multi_node",),
    "signup": ("bench_signup",),
    "buckland": ("bench_buckland",),
}


def script_results(name: str, script: str, quick: bool, timeout: float = 900) -> Iterator[Result]:
    if not (BENCH_DIR / f"{script}.py").exists():
        yield Result(name, "available", None, "", None, False, f"not available: bench/{script}.py")
        return
    args = ["--json", *(["--quick"] if quick else [])]
    done = run_script(script, *args, timeout=timeout)
    found = 0
    for line in done.stdout.splitlines():
        try:
            data = json.loads(line)
        except ValueError:
            continue
        if not isinstance(data, dict) or "metric" not in data:
            continue
        found += 1
        yield Result(
            name,
            str(data["metric"]),
            None if data.get("value") is None else float(data["value"]),
            str(data.get("unit", "")),
            None if data.get("goal") is None else str(data["goal"]),
            bool(data.get("ok")),
            str(data.get("note", "")),
        )
    if done.returncode != 0 or not found:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or [""]
        note = f"bench/{script}.py exited {done.returncode}: {tail[0][:200]}"
        yield Result(name, "exit_status", float(done.returncode), "", "0", False, note)


def _scripts_of(name: str, quick: bool) -> Iterator[Result]:
    for script in SCRIPTS[name]:
        yield from script_results(name, script, quick)


@benchmark("web", "public web pages (bench/bench_web_page.py, bench/bench_publish.py)")
def web(quick: bool) -> Iterator[Result]:
    yield from _scripts_of("web", quick)


@benchmark("multi-node", "procrastinate workers on PostgreSQL (bench/bench_multi_node.py)")
def multi_node(quick: bool) -> Iterator[Result]:
    yield from _scripts_of("multi-node", quick)


@benchmark("signup", "subscriber sign-up (bench/bench_signup.py)")
def signup(quick: bool) -> Iterator[Result]:
    yield from _scripts_of("signup", quick)


@benchmark("buckland", "fair waves for a small-town clinic (bench/bench_buckland.py)")
def buckland(quick: bool) -> Iterator[Result]:
    yield from _scripts_of("buckland", quick)
