"""Every SMS template, in every language, fits the one segment the SMS channel allows.

The SMS channel never splits a text (a second segment doubles the bill for a million
texts): ``notifier.messaging.gsm.fits_one_segment`` is its budget, 160 GSM-7 septets or 70
UCS-2 units. This meta-test renders every ``templates/<locale>/sms/*.j2`` the way its sender
does (``to_gsm(render(...))``) with the longest values the service can really put in, taken
from the code's own limits rather than typed here: the longest eligibility-group name, the
widest radius a reader can be shown, the longest city of the postal-code tables, the longest
public URL that manage links support, the longest SMS base URL and unlabelled group id that
``notifier config check`` accepts, the largest database id. A new template is measured
as soon as it exists; one that needs values this test does not give fails it (the templates
refuse missing context), so a new text cannot ship unmeasured.

Two templates are fitted by their sender and are measured through it: ``alert.txt`` (the
channel drops details, then shortens the place name) and ``manage_link.txt`` (the bare link
when the worded text would not fit a very long public URL).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import cache

import zipcodes

from channels.sms import fit_sms, longest_base_url, short_link
from notifier.config import SignupConfig, WebConfig
from notifier.geo.de import DATA_FILE
from notifier.messaging.eligibility import GROUP_LABELS, group_label, longest_group_id
from notifier.messaging.gsm import (
    SINGLE_GSM7,
    encoding,
    fits_one_segment,
    segment_count,
    sms_length,
    to_gsm,
)
from notifier.messaging.render import (
    KM_PER_MILE,
    SUPPORTED_LOCALES,
    TEMPLATE_DIR,
    alert_facts,
    distance_unit,
    render,
    shown_radius,
)
from notifier.messaging.signed_links import SHORT_MANAGE_TOKEN_MAX_LENGTH
from notifier.web.edge import MAX_DB_INT
from notifier.web.sms_commands import MAX_GIVEN_SHOWN, MAX_POSTAL_CODE, MAX_RADIUS
from notifier.web.sms_routes import (
    MANAGE_PATH_LENGTH,
    manage_link_for,
    manage_links_off,
    manage_reply,
)
from tests.channels.channels_support import PLACES, make_alert

SECRET = "budget-test-secret-key"
LONG_PUBLIC_URL = "https://appointments.department-of-public-health.example.org/notifier"

#: Templates that may take more than one segment on purpose, with the reason. None do: every
#: text the service sends is one segment. Add an entry only with a reason a reviewer accepts.
MULTI_SEGMENT: dict[str, str] = {}


def _longest(values: Iterable[str]) -> str:
    """The value that costs the most units once transliterated (``to_gsm``)."""
    return max(values, key=lambda v: sms_length(to_gsm(v)))


@cache
def longest_city() -> str:
    """The longest city name a confirmation can quote, from both countries' tables."""
    us = (row.get("city") or "" for row in zipcodes.list_all())
    with DATA_FILE.open(encoding="utf-8") as table:
        next(table)  # the header
        de = [line.split("\t")[1] for line in table if line.strip()]
    return _longest([*us, *de])


def longest_group(locale: str) -> str:
    """The longest group name in ``locale``: every labelled group, every default id, and the
    longest unlabelled id ``notifier config check`` accepts."""
    accepted = "g" * longest_group_id(SignupConfig().max_radius_miles)
    groups = {*GROUP_LABELS, *SignupConfig().eligibility_groups, accepted}
    return _longest(group_label(g, locale) for g in groups)


def widest_radius(locale: str) -> str:
    """The widest radius a reader of ``locale`` is shown: an SMS sign-up accepts whole numbers
    up to ``MAX_RADIUS`` in either unit (shown as typed in the reader's unit, converted and
    rounded otherwise: "0.6" miles for 1 km); the web form's largest radius too."""
    unit = distance_unit(locale)
    shown = [shown_radius(SignupConfig().max_radius_miles, locale)]
    for typed_unit, most in MAX_RADIUS.items():
        for radius in range(1, most + 1):
            miles = radius / KM_PER_MILE if typed_unit == "km" else float(radius)
            shown.append(str(radius) if typed_unit == unit else shown_radius(miles, locale))
    return _longest(shown)


def longest_public_url() -> str:
    """The longest ``web.public_url`` for which SMS still carries manage links."""
    length = SINGLE_GSM7 - MANAGE_PATH_LENGTH - SHORT_MANAGE_TOKEN_MAX_LENGTH
    url = "https://" + "x" * (length - len("https://.org")) + ".org"
    assert manage_links_off(WebConfig(public_url=url, secret_key=SECRET)) is None
    return url


def worst_alert_texts(locale: str) -> list[str]:
    """The alert as the channel fits it: the longest place name, every detail, the largest id;
    with a long public URL of the kind health departments have and with the longest SMS
    ``base_url`` config check accepts (the link must stay whole in both), and with the
    longest public URL manage links allow (one segment still, even if the link is cut)."""
    longest = max(range(len(PLACES)), key=lambda i: len(PLACES[i][1]) + len(PLACES[i][2]))
    alert = make_alert(
        longest,
        alert_id=MAX_DB_INT,
        appointments=1_234_567,
        products=("Pfizer-BioNTech", "Moderna", "Johnson & Johnson", "Novavax"),
        age_groups=("65+", "16-64 with conditions"),
    )
    facts = alert_facts([alert])
    texts = []
    longest_accepted = "https://" + "x" * (longest_base_url() - len("https://.org")) + ".org"
    for base_url in (LONG_PUBLIC_URL, longest_accepted):  # config check refuses longer ones
        link = short_link(base_url, MAX_DB_INT)
        texts.append(fit_sms(facts, locale, link))
        assert link in texts[-1], texts[-1]
    texts.append(fit_sms(facts, locale, short_link(longest_public_url(), MAX_DB_INT)))
    return texts


def worst_manage_link_texts(locale: str) -> list[str]:
    link = manage_link_for(longest_public_url(), SECRET)(MAX_DB_INT)
    return [manage_reply(locale, link)]


def worst_rendered_texts(name: str, locale: str) -> list[str]:
    """Every variant of template ``name`` with the longest values it can be given."""
    postal_code = "50667" if locale == "de" else "02115"  # codes are 5 digits in both countries
    radius = widest_radius(locale)
    variants: dict[str, list[dict[str, object]]] = {
        "bad_miles.txt": [
            {"given": "9" * MAX_GIVEN_SHOWN, "max_radius": MAX_RADIUS[distance_unit(locale)]}
        ],
        "bad_zip.txt": [{"given": "W" * MAX_POSTAL_CODE}, {"given": ""}],
        "confirm_request.txt": [
            {"postal_code": postal_code, "radius": radius, "city": city}
            for city in (longest_city(), None)
        ],
        "confirmed.txt": [
            {"postal_code": postal_code, "radius": radius, "manage": manage}
            for manage in (True, False)
        ],
        "eligibility_opened.txt": [
            {"group": longest_group(locale), "radius": radius, "postal_code": postal_code}
        ],
        "help.txt": [{"manage": True}, {"manage": False}],
        "status.txt": [
            {"subscriptions": subscriptions}
            for subscriptions in (
                [],
                *(
                    [
                        {
                            "postal_code": postal_code,
                            "radius": radius,
                            "confirmed": confirmed,
                            "opted_out": opted_out,
                        }
                    ]
                    for confirmed, opted_out in ((True, False), (False, False), (True, True))
                ),
            )
        ],
    }
    contexts = variants.get(name, [{}])  # a template without values (or one we do not know)
    return [to_gsm(render("sms", locale, name, **context)) for context in contexts]


#: how each template's text is made when its sender fits it to one segment itself
FITTED_BY_SENDER: dict[str, Callable[[str], list[str]]] = {
    "alert.txt": worst_alert_texts,
    "manage_link.txt": worst_manage_link_texts,
}


def sms_templates() -> set[str]:
    """``alert.txt``, ``help.txt``, ...: every SMS template of any language."""
    return {
        path.name.removesuffix(".j2")
        for path in TEMPLATE_DIR.glob("*/sms/*.j2")
        if path.parent.parent.name in SUPPORTED_LOCALES
    }


def test_every_sms_template_fits_one_segment_with_the_longest_values() -> None:
    names = sms_templates()
    assert {"alert.txt", "eligibility_opened.txt", "help.txt"} <= names
    assert set(MULTI_SEGMENT) <= names, "MULTI_SEGMENT lists a template that does not exist"
    over: list[str] = []
    measured = 0
    for locale in SUPPORTED_LOCALES:
        for name in sorted(names - set(MULTI_SEGMENT)):
            make = FITTED_BY_SENDER.get(name)
            texts = make(locale) if make else worst_rendered_texts(name, locale)
            for text in texts:
                measured += 1
                if not fits_one_segment(text):
                    over.append(
                        f"{locale}/sms/{name}: {sms_length(text)} units of {encoding(text)}, "
                        f"{segment_count(text)} segments: {text!r}"
                    )
    assert not over, "\n".join(over)
    assert measured >= len(SUPPORTED_LOCALES) * len(names)
