"""Reading the sign-up and manage forms (pure: a form in, a request or a list of problems out).

Phone numbers become E.164 with ``phonenumbers``; the number's country decides whether the
postal code is a US ZIP or a German PLZ, and must be on the SMS allow-list. Email addresses
are checked by ``email-validator`` without DNS lookups (the form answers at once; a mailbox
that does not exist shows up as a bounce of the confirmation email).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import phonenumbers
from email_validator import EmailNotValidError, validate_email

from notifier.db.signups import Preferences, SignupRequest
from notifier.geo import lookup_postal_code, normalize_postal_code
from notifier.messaging.render import (
    KM_PER_MILE,
    distance_unit,
    normalize_locale,
    postal_country,
    radius_value,
    shown_radius,
)
from notifier.web.signup.messages import say

__all__ = [
    "AGE_GROUPS",
    "PRODUCTS",
    "FormProblem",
    "FormRules",
    "phone_prefix",
    "read_preferences",
    "read_signup",
]

PRODUCTS = ("Pfizer", "Moderna", "Janssen", "Novavax")
AGE_GROUPS = ("Adults", "Children", "Seniors")
_COUNTRY_NAMES = {"US": "the United States", "DE": "Germany"}
_MOBILE_TYPES = {
    phonenumbers.PhoneNumberType.MOBILE,
    phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
}


@dataclass(frozen=True, slots=True)
class FormRules:
    sms_countries: Sequence[str] = ("US", "DE")
    #: the channels people may sign up for (enabled in config)
    channels: Sequence[str] = ("sms", "email")
    max_radius_miles: float = 50.0
    eligibility_groups: Sequence[str] = ()


@dataclass(frozen=True, slots=True)
class FormProblem:
    field: str
    message: str


@dataclass(slots=True)
class _Reader:
    form: Mapping[str, Any]
    locale: str
    rules: FormRules
    problems: list[FormProblem] = field(default_factory=list)

    def text(self, name: str, limit: int = 200) -> str:
        value = self.form.get(name)
        if isinstance(value, list):
            value = value[0] if value else ""
        return str(value or "").strip()[:limit]

    def values(self, name: str) -> list[str]:
        value = self.form.get(name)
        if value is None:
            return []
        items = value if isinstance(value, list) else [value]
        return [str(v).strip() for v in items if str(v).strip()]

    def fail(self, name: str, code: str, **fields: Any) -> None:
        self.problems.append(FormProblem(name, say(code, self.locale, **fields)))

    def choices(self, name: str, allowed: Sequence[str], label: str) -> list[str]:
        picked = self.values(name)
        if any(p not in allowed for p in picked):
            self.fail(name, "choice", field=label)
            return []
        return list(dict.fromkeys(picked))

    def postal(self, country: str) -> str | None:
        given = self.text("postal_code", 20)
        code = normalize_postal_code(given, country) if given else None
        if code is None or lookup_postal_code(code, country) is None:
            self.fail("postal_code", "postal_code", given=given)
            return None
        return code

    def radius(self) -> float | None:
        """The radius in miles (as stored), read in the unit of the reader's language."""
        given = self.text("radius", 10)
        km = distance_unit(self.locale) == "km"
        most = self.rules.max_radius_miles * KM_PER_MILE if km else self.rules.max_radius_miles
        # the form offers the limit rounded as people read it (80 km for 50 miles): take it
        most = max(most, radius_value(self.rules.max_radius_miles, self.locale))
        try:
            value = float(given)
        except ValueError:
            value = -1.0
        if not 1 <= value <= most or value != value:  # NaN
            self.fail(
                "radius",
                "radius",
                max_radius=shown_radius(self.rules.max_radius_miles, self.locale),
            )
            return None
        return value / KM_PER_MILE if km else value

    def filters(self) -> dict[str, list[str]] | None:
        products = self.choices("products", PRODUCTS, "products")
        ages = self.choices("age_group", AGE_GROUPS, "age group")
        found = {k: v for k, v in (("products", products), ("age_groups", ages)) if v}
        return found or None

    def group(self) -> str | None:
        picked = self.text("eligibility_group", 60)
        if not picked:
            return None
        if picked not in self.rules.eligibility_groups:
            self.fail("eligibility_group", "choice", field="eligibility group")
            return None
        return picked


def phone_prefix(e164: str) -> str:
    """The number without its last four digits: the unit SMS-pumping fraud works in."""
    return e164[:-4] if len(e164) > 8 else e164


def _read_phone(reader: _Reader) -> tuple[str, str] | None:
    given = reader.text("phone", 40)
    region = "DE" if reader.locale == "de" and not given.startswith(("+", "00")) else "US"
    try:
        number = phonenumbers.parse(given, region)
    except phonenumbers.NumberParseException:
        number = None
    if number is None or not phonenumbers.is_valid_number(number):
        reader.fail("phone", "phone")
        return None
    country = phonenumbers.region_code_for_number(number) or ""
    if country not in reader.rules.sms_countries:
        names = ", ".join(_COUNTRY_NAMES.get(c, c) for c in reader.rules.sms_countries)
        reader.fail("phone", "phone_country", countries=names)
        return None
    if phonenumbers.number_type(number) not in _MOBILE_TYPES:
        reader.fail("phone", "phone_mobile")
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164), country


def _read_email(reader: _Reader) -> str | None:
    given = reader.text("email", 254)
    try:
        checked = validate_email(given, check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError as exc:
        reader.fail("email", "email", reason=str(exc))
        return None
    return str(checked.normalized)


def read_signup(
    form: Mapping[str, Any], locale: str | None, rules: FormRules
) -> SignupRequest | list[FormProblem]:
    """The sign-up in ``form``, or every problem with it (each in the page's language)."""
    reader = _Reader(form, normalize_locale(locale), rules)
    channel = reader.text("channel", 10)
    address: str | None = None
    country = postal_country(reader.locale)
    if channel not in reader.rules.channels:
        reader.fail("channel", "channel")
    elif channel == "sms":
        phone = _read_phone(reader)
        if phone is not None:
            address, country = phone
    elif channel == "email":
        address = _read_email(reader)
        chosen = reader.text("country", 2).upper()
        country = chosen if chosen in ("US", "DE") else country
    code = reader.postal(country)
    miles = reader.radius()
    filters = reader.filters()
    group = reader.group()
    if reader.problems or address is None or code is None or miles is None:
        return reader.problems
    return SignupRequest(
        channel=channel,
        address=address,
        postal_code=code,
        country=country,
        radius_miles=miles,
        locale=reader.locale,
        filters=filters,
        eligibility_group=group,
    )


def _hour(reader: _Reader, name: str) -> int | None:
    given = reader.text(name, 3)
    if not given:
        return None
    if not given.isdigit() or not 0 <= int(given) <= 23:
        reader.fail(name, "hours")
        return None
    return int(given)


def read_preferences(
    form: Mapping[str, Any], locale: str | None, rules: FormRules, country: str
) -> Preferences | list[FormProblem]:
    """The manage form: area, filters, group, digest and quiet hours."""
    reader = _Reader(form, normalize_locale(locale), rules)
    code = reader.postal(country)
    miles = reader.radius()
    filters = reader.filters()
    group = reader.group()
    digest_given = reader.text("digest_minutes", 5) or "0"
    digest = int(digest_given) if digest_given in ("0", "60", "240", "1440") else None
    if digest is None:
        reader.fail("digest_minutes", "choice", field="digest")
    start, end = _hour(reader, "quiet_start"), _hour(reader, "quiet_end")
    if (start is None) != (end is None):
        reader.fail("quiet_start", "hours")
    if reader.problems or code is None or miles is None:
        return reader.problems
    return Preferences(
        postal_code=code,
        country=country,
        radius_miles=miles,
        filters=filters,
        eligibility_group=group,
        digest_minutes=digest or None,
        quiet_start_hour=start,
        quiet_end_hour=end,
    )
