"""Reading the sign-up form: E.164 numbers, the SMS allow-list, postal codes by the number's
country, email validation without DNS, and messages in the person's language."""

from __future__ import annotations

import pytest

from notifier.db.signups import SignupRequest
from notifier.web.signup.forms import FormProblem, FormRules, phone_prefix, read_signup

RULES = FormRules(sms_countries=("US", "DE"), eligibility_groups=("65plus",))


def _read(locale: str = "en", rules: FormRules = RULES, **form: str) -> SignupRequest | list:
    base = {"radius": "10", "postal_code": "02115"}
    return read_signup({**base, **form}, locale, rules)


@pytest.mark.parametrize("written", ["(617) 555-0123", "617.555.0123", "+1 617 555 0123"])
def test_us_numbers_become_e164(written: str) -> None:
    read = _read(channel="sms", phone=written)
    assert isinstance(read, SignupRequest)
    assert (read.address, read.country, read.postal_code) == ("+16175550123", "US", "02115")


def test_a_german_mobile_takes_a_german_postal_code() -> None:
    read = _read("de", channel="sms", phone="0151 23456789", postal_code="10115")
    assert isinstance(read, SignupRequest)
    assert (read.address, read.country, read.postal_code, read.locale) == (
        "+4915123456789",
        "DE",
        "10115",
        "de",
    )


def test_numbers_outside_the_allow_list_are_refused_with_a_way_out() -> None:
    (problem,) = _read(channel="sms", phone="+44 7911 123456")
    assert problem == FormProblem(
        "phone",
        "We can only send text messages to numbers in the United States, Germany. "
        "Sign up by email instead.",
    )


def test_a_german_landline_cannot_take_texts() -> None:
    (problem,) = _read("de", channel="sms", phone="+49 30 1234567", postal_code="10115")
    assert problem.field == "phone" and "keine SMS" in problem.message


def test_every_problem_is_reported_at_once_in_spanish() -> None:
    found = _read("es", channel="email", email="ana@", postal_code="00000", radius="500")
    assert isinstance(found, list)
    assert [p.field for p in found] == ["email", "postal_code", "radius"]
    assert found[0].message == (
        "Esta dirección de correo no parece correcta. Revísela y envíe el formulario de nuevo."
    )
    assert found[1].message.startswith("No conocemos el código postal '00000'")
    assert found[2].message == "Elija una distancia entre 1 y 50 millas."


def test_email_is_normalised_and_filters_kept() -> None:
    read = _read(
        channel="email",
        email="Ana.Lopez@Example.ORG",
        products=["Moderna", "Pfizer"],  # type: ignore[arg-type]
        age_group="Adults",
        eligibility_group="65plus",
    )
    assert isinstance(read, SignupRequest)
    assert read.address == "Ana.Lopez@example.org"
    assert read.filters == {"products": ["Moderna", "Pfizer"], "age_groups": ["Adults"]}
    assert read.eligibility_group == "65plus"


@pytest.mark.parametrize(
    ("field", "value"),
    [("products", "Sputnik"), ("age_group", "Martians"), ("eligibility_group", "everyone")],
)
def test_choices_outside_the_form_are_refused(field: str, value: str) -> None:
    (problem,) = _read(channel="email", email="ana@example.org", **{field: value})
    assert problem.field == field and "choose one of the options" in problem.message


def test_a_channel_that_is_not_enabled_is_refused() -> None:
    email_only = FormRules(sms_countries=(), channels=("email",))
    (problem,) = _read(rules=email_only, channel="sms", phone="+16175550123")
    assert problem.field == "channel"


def test_the_phone_prefix_drops_the_last_four_digits() -> None:
    assert phone_prefix("+16175550123") == "+1617555"
