"""Eligibility groups people can pre-register in, with their names in each language.

The ids are what config (``web.signup.eligibility_groups``), the database and the CLI use;
an operator may configure an id that has no label here, and then the id itself is shown.
The SMS "your group can book now" quotes the name and must stay one segment: a name longer
than these fails ``tests/messaging/test_sms_budgets.py``, so reword the text or the name.
"""

from __future__ import annotations

from notifier.messaging.render import normalize_locale

__all__ = ["GROUP_LABELS", "group_label"]

GROUP_LABELS: dict[str, dict[str, str]] = {
    "65plus": {"en": "65 and older", "de": "65 Jahre und älter", "es": "65 años o más"},
    "conditions": {
        "en": "two or more medical conditions",
        "de": "zwei oder mehr Vorerkrankungen",
        "es": "dos o más condiciones médicas",
    },
    "senior_housing_staff": {
        "en": "staff of senior housing",
        "de": "Personal in Senioreneinrichtungen",
        "es": "personal de residencias de mayores",
    },
}


def group_label(group: str, locale: str | None) -> str:
    labels = GROUP_LABELS.get(group)
    if labels is None:
        return group
    return labels.get(normalize_locale(locale), labels["en"])
