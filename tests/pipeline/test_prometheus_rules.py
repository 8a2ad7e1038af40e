"""The example alert rules parse and only use metric names that /metrics really serves."""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from prometheus_client import CollectorRegistry

from notifier.db.engine import make_engine, upgrade
from notifier.pipeline.prometheus import metrics_registry

RULES = Path(__file__).parents[2] / "docs" / "prometheus" / "alerts.yml"
_SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum")}


def served_names(registry: CollectorRegistry) -> set[str]:
    names = set()
    for family in registry.collect():
        names.add(family.name)
        names.update(family.name + suffix for suffix in _SUFFIXES.get(family.type, ()))
    return names


def test_alert_rules_are_valid_and_name_existing_metrics(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'rules.db'}")
    upgrade(engine)
    names = served_names(metrics_registry(engine))
    engine.dispose()
    rules = yaml.safe_load(RULES.read_text())
    groups = {group["name"]: group["rules"] for group in rules["groups"]}
    assert set(groups) == {"notifier-providers", "notifier-outbox", "notifier-delivery"}
    alerts = {rule["alert"]: rule["expr"] for group in groups.values() for rule in group}
    assert {"ProviderDown", "OutboxBacklogGrowing", "DeliveryFailureRate"} <= set(alerts)
    for alert, expr in alerts.items():
        used = set(re.findall(r"\bnotifier_[a-z_]+", expr))
        assert used, alert
        assert used <= names, (alert, used - names)
    assert "notifier_provider_last_success_age_seconds" in alerts["ProviderDown"]
    assert "notifier_outbox_backlog" in alerts["OutboxBacklogGrowing"]
    assert 'outcome="failed"' in alerts["DeliveryFailureRate"]
