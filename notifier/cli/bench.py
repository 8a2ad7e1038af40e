"""``notifier bench``: run the benchmark suite (or some of it) and compare with the goals."""

from __future__ import annotations

import json
import time
import traceback
from typing import Annotated

import typer

from notifier.bench.registry import Benchmark, Result, discover

__all__ = ["bench"]


def bench(
    names: Annotated[
        list[str] | None, typer.Argument(help="benchmarks to run, or 'all' (the default)")
    ] = None,
    quick: Annotated[
        bool, typer.Option("--quick", help="smaller sizes: the whole suite in under 3 minutes")
    ] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="one JSON object a line: bench, metric, value, ...")
    ] = False,
    list_only: Annotated[bool, typer.Option("--list", help="list the benchmarks and exit")] = False,
) -> None:
    """Run benchmarks on loopback (simulator and stubs); exit 1 if any goal is missed."""
    available = discover()
    if list_only:
        for item in available.values():
            typer.echo(f"{item.name:12} {item.summary}")
        return
    wanted = [n for n in names or ["all"] if n != "all"] or list(available)
    unknown = [n for n in wanted if n not in available]
    if unknown:
        typer.echo(
            f"unknown benchmark(s): {', '.join(unknown)}; choose from: {', '.join(available)}",
            err=True,
        )
        raise typer.Exit(2)
    all_ok = True
    for name in wanted:
        started = time.monotonic()
        for result in _run(available[name], quick):
            all_ok &= result.ok
            typer.echo(json.dumps(result.as_json()) if as_json else _line(result))
        if not as_json:
            typer.echo(f"  ({name}: {time.monotonic() - started:.1f} s)")
    raise typer.Exit(0 if all_ok else 1)


def _run(item: Benchmark, quick: bool) -> list[Result]:
    """A benchmark's results; one that crashes reports that, and the suite goes on."""
    try:
        return list(item.run(quick))
    except Exception as error:  # noqa: BLE001 - a broken benchmark must not hide the others
        note = "".join(traceback.format_exception_only(error)).strip()
        return [Result(item.name, "error", None, "", None, False, note)]


def _line(result: Result) -> str:
    value = "-" if result.value is None else f"{result.value:,.4g}"
    goal = f"goal {result.goal}" if result.goal else ""
    verdict = "ok" if result.ok else "MISSED"
    note = f"  ({result.note})" if result.note else ""
    figure = f"{value:>10} {result.unit:9}"
    return f"{result.bench:11} {result.metric:40} {figure} {goal:14} {verdict}{note}"
