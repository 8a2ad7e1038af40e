"""Scrape helpers: parse /metrics with prometheus-client's own text parser."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

Labels = tuple[tuple[str, str], ...]


def samples(text: str) -> dict[tuple[str, Labels], float]:
    """Every sample of a scrape, keyed by (sample name, sorted labels)."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def value(scrape: dict[tuple[str, Labels], float], name: str, **labels: str) -> float:
    """One sample's value; 0 when the series does not exist yet (a counter never touched)."""
    return scrape.get((name, tuple(sorted(labels.items()))), 0.0)
