"""Benchmarks as plugins: a name, one line of summary, and a function yielding results.

A benchmark is ``run(quick: bool) -> Iterable[Result]``. ``quick`` shrinks it so the whole
suite stays under three minutes (a smoke run); without it, each runs at the issue's full size.
Each ``Result`` is one figure beside its goal, with ``ok`` saying whether the goal was met.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

__all__ = ["Benchmark", "Result", "benchmark", "discover", "registered", "unregister"]


@dataclass(frozen=True, slots=True)
class Result:
    bench: str
    metric: str
    value: float | None
    unit: str
    #: the goal in words ("<= 1 s"); None for a figure reported without a goal
    goal: str | None
    ok: bool
    note: str = ""

    def as_json(self) -> dict[str, object]:
        """The JSON line of ``notifier bench --json`` (``note`` only when there is one)."""
        data = asdict(self)
        if not self.note:
            del data["note"]
        return data


Runner = Callable[[bool], Iterable[Result]]


@dataclass(frozen=True, slots=True)
class Benchmark:
    name: str
    summary: str
    run: Runner


_REGISTRY: dict[str, Benchmark] = {}


def benchmark(name: str, summary: str) -> Callable[[Runner], Runner]:
    """Register ``run`` under ``name``; a second registration of one name is a mistake."""

    def register(run: Runner) -> Runner:
        if name in _REGISTRY and _REGISTRY[name].run is not run:
            raise ValueError(f"benchmark {name!r} is registered twice")
        _REGISTRY[name] = Benchmark(name, summary, run)
        return run

    return register


def unregister(name: str) -> None:
    _REGISTRY.pop(name, None)


def discover() -> dict[str, Benchmark]:
    """Import every module of ``notifier.bench`` (registering its benchmarks); all, by name."""
    # The modules beside this one; the package itself is not imported here (it imports us).
    for module in pkgutil.iter_modules([str(Path(__file__).parent)]):
        if not module.name.startswith("_") and module.name != "registry":
            importlib.import_module(f"{__package__}.{module.name}")
    return registered()


def registered() -> dict[str, Benchmark]:
    return dict(sorted(_REGISTRY.items()))
