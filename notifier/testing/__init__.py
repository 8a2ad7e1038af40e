"""Test helpers shipped with the package: stub servers and the provider simulator.

Tests, ``notifier demo`` and the benchmarks reuse these; nothing here is used in production.
"""
