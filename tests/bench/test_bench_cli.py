"""``notifier bench`` plumbing with fake benchmarks: JSON lines, exit codes, ``--quick``.

Nothing here is timed: the fake benchmarks report fixed figures.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from notifier.bench import registry
from notifier.bench.registry import Result, benchmark
from notifier.cli.app import app

runner = CliRunner()
seen_quick: list[bool] = []


@pytest.fixture
def fakes() -> Iterator[None]:
    @benchmark("fake-ok", "a benchmark that meets its goal")
    def fake_ok(quick: bool) -> Iterable[Result]:
        seen_quick.append(quick)
        yield Result("fake-ok", "widgets_per_second", 1500.0, "widgets/s", ">= 1000", True)
        yield Result("fake-ok", "widgets_made", 3.0, "widgets", None, True, "a note")

    @benchmark("fake-slow", "a benchmark that misses its goal")
    def fake_slow(quick: bool) -> Iterable[Result]:
        yield Result("fake-slow", "latency_p99", 2.5, "s", "<= 1 s", False)

    @benchmark("fake-broken", "a benchmark that crashes")
    def fake_broken(quick: bool) -> Iterable[Result]:
        raise RuntimeError("the stub did not start")

    seen_quick.clear()
    yield
    for name in ("fake-ok", "fake-slow", "fake-broken"):
        registry.unregister(name)


def json_lines(output: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in output.splitlines() if line.startswith("{")]


def test_json_lines_and_a_zero_exit_when_every_goal_is_met(fakes: None) -> None:
    result = runner.invoke(app, ["bench", "fake-ok", "--json"])
    assert result.exit_code == 0, result.output
    assert json_lines(result.output) == [
        {
            "bench": "fake-ok",
            "metric": "widgets_per_second",
            "value": 1500.0,
            "unit": "widgets/s",
            "goal": ">= 1000",
            "ok": True,
        },
        {
            "bench": "fake-ok",
            "metric": "widgets_made",
            "value": 3.0,
            "unit": "widgets",
            "goal": None,
            "ok": True,
            "note": "a note",
        },
    ]
    assert result.output.count("\n") == 2  # nothing but the JSON lines
    assert seen_quick == [False]


def test_quick_reaches_the_benchmark(fakes: None) -> None:
    result = runner.invoke(app, ["bench", "fake-ok", "--quick", "--json"])
    assert result.exit_code == 0
    assert seen_quick == [True]


def test_a_missed_goal_or_a_crash_exits_1_and_the_others_still_run(fakes: None) -> None:
    result = runner.invoke(app, ["bench", "fake-broken", "fake-slow", "fake-ok", "--json"])
    assert result.exit_code == 1
    lines = json_lines(result.output)
    assert [(line["bench"], line["metric"], line["ok"]) for line in lines] == [
        ("fake-broken", "error", False),
        ("fake-slow", "latency_p99", False),
        ("fake-ok", "widgets_per_second", True),
        ("fake-ok", "widgets_made", True),
    ]
    assert "the stub did not start" in str(lines[0]["note"])


def test_human_output_names_the_goal_and_the_verdict(fakes: None) -> None:
    result = runner.invoke(app, ["bench", "fake-slow"])
    assert result.exit_code == 1
    assert "latency_p99" in result.output and "goal <= 1 s" in result.output
    assert "MISSED" in result.output


def test_unknown_names_are_refused_with_the_list(fakes: None) -> None:
    result = runner.invoke(app, ["bench", "fake-ok", "nope"])
    assert result.exit_code == 2
    assert "unknown benchmark(s): nope" in result.output
    assert "fake-ok" in result.output and "detection" in result.output


def test_the_suite_registers_its_benchmarks_by_module() -> None:
    names = set(registry.discover())
    assert {"detection", "poll-scale", "fanout", "web", "parse", "multi-node"} <= names
    assert {"signup", "buckland"} <= names


def test_a_benchmark_built_elsewhere_reports_not_available(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from notifier.bench import external

    monkeypatch.setattr(external, "BENCH_DIR", tmp_path)
    [result] = external.script_results("web", "bench_web_page", quick=True)
    assert not result.ok and result.note == "not available: bench/bench_web_page.py"


def test_a_script_benchmark_reports_its_json_lines_and_its_exit_status(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from notifier.bench import _scripts, external

    folder = tmp_path
    (folder / "bench_thing.py").write_text(
        "import json, sys\n"
        "print('warming up')\n"
        "quick = '--quick' in sys.argv\n"
        "print(json.dumps({'bench': 'x', 'metric': 'm', 'value': 2 if quick else 9,"
        " 'unit': 's', 'goal': '<= 5 s', 'ok': quick}))\n"
        "sys.exit(0 if quick else 1)\n"
    )
    monkeypatch.setattr(external, "BENCH_DIR", folder)
    monkeypatch.setattr(_scripts, "BENCH_DIR", folder)
    quick = list(external.script_results("thing", "bench_thing", quick=True))
    assert [(r.bench, r.metric, r.value, r.ok) for r in quick] == [("thing", "m", 2.0, True)]
    full = list(external.script_results("thing", "bench_thing", quick=False))
    assert [(r.metric, r.ok) for r in full] == [("m", False), ("exit_status", False)]
