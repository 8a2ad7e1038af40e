"""The benchmark suite behind ``notifier bench``: each module here registers one or more
benchmarks (``@benchmark("name", ...)``); dropping a module in this package adds it.

Benchmarks run on loopback against the provider simulator and the stubs of
``notifier.testing``; they measure speed on purpose and are never run by the tests.
"""

from notifier.bench.registry import Result, benchmark, discover, registered

__all__ = ["Result", "benchmark", "discover", "registered"]
