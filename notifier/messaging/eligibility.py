"""Eligibility groups people can pre-register in, with their names in each language.

The ids are what config (``web.signup.eligibility_groups``), the database and the CLI use;
an operator may configure an id that has no label here, and then the id itself is shown.
The SMS "your group can book now" quotes the name and must stay one segment: ``group_problem``
measures it (``notifier config check`` refuses a group whose text would not fit), and a label
longer than these fails ``tests/messaging/test_sms_budgets.py``, so reword the text or the name.
"""

from __future__ import annotations

from notifier.messaging.gsm import SINGLE_GSM7, fits_one_segment, is_gsm7, sms_length, to_gsm
from notifier.messaging.render import (
    KM_PER_MILE,
    MAX_RADIUS,
    SUPPORTED_LOCALES,
    normalize_locale,
    render,
    widest_radius,
)

__all__ = [
    "GROUP_LABELS",
    "LONGEST_POSTAL_CODE",
    "eligibility_sms",
    "group_label",
    "group_problem",
    "longest_group_id",
    "widest_notice_radius_miles",
]

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

#: the longest stored postal code a notice quotes: US ZIPs and German PLZ are five digits
#: once normalized (``notifier.geo``)
LONGEST_POSTAL_CODE = "00000"


def group_label(group: str, locale: str | None) -> str:
    labels = GROUP_LABELS.get(group)
    if labels is None:
        return group
    return labels.get(normalize_locale(locale), labels["en"])


def eligibility_sms(group: str, locale: str | None, *, radius: str, postal_code: str) -> str:
    """The SMS "your group can book now", as the notice sender sends it (GSM-7 first)."""
    text = render(
        "sms",
        locale,
        "eligibility_opened.txt",
        group=group_label(group, locale),
        radius=radius,
        postal_code=postal_code,
    )
    return to_gsm(text)


def widest_notice_radius_miles(max_radius_miles: float) -> float:
    """The largest radius a subscriber can hold: the web form's ``max_radius_miles``, or the
    largest an SMS sign-up takes in either unit (100 miles; 160 km is less)."""
    by_text = max(MAX_RADIUS["mi"], MAX_RADIUS["km"] / KM_PER_MILE)
    return max(max_radius_miles, by_text)


def _worst_text(group: str, locale: str, max_radius_miles: float) -> str:
    radius = widest_radius(locale, widest_notice_radius_miles(max_radius_miles))
    return eligibility_sms(group, locale, radius=radius, postal_code=LONGEST_POSTAL_CODE)


def longest_group_id(max_radius_miles: float) -> int:
    """How many GSM-7 characters an unlabelled group id may have: what one segment leaves of
    the "your group can book now" text in its longest language, with the widest radius."""
    return min(
        SINGLE_GSM7 - sms_length(_worst_text("", locale, max_radius_miles))
        for locale in SUPPORTED_LOCALES
    )


def group_problem(group: str, max_radius_miles: float) -> tuple[str, str] | None:
    """Why ``group`` cannot be configured, and the fix; None when its "your group can book
    now" text is one SMS segment in every language, with the widest radius and postal code."""
    over = [
        locale
        for locale in SUPPORTED_LOCALES
        if not fits_one_segment(_worst_text(group, locale, max_radius_miles))
    ]
    if not over:
        return None
    labelled = group in GROUP_LABELS
    most = longest_group_id(max_radius_miles)
    name = f"its name in {', '.join(over)}" if labelled else "the id, shown as it is,"
    problem = (
        f"group {group!r}: {name} makes the SMS 'your group can book now' longer than one "
        f"segment ({SINGLE_GSM7} GSM-7 characters, with the widest radius and a 5-digit "
        "postal code)"
    )
    if not labelled and not is_gsm7(to_gsm(group)):
        problem += "; it has characters outside GSM-7, which allow only 70 characters"
    if labelled:
        fix = (
            "shorten its labels in notifier/messaging/eligibility.py (GROUP_LABELS), or "
            "lower web.signup.max_radius_miles"
        )
    else:
        fix = (
            f"use an id of at most {most} characters (GSM-7 letters, digits, '_'), or give it "
            "a label in each language in notifier/messaging/eligibility.py (GROUP_LABELS)"
        )
    return problem, fix
