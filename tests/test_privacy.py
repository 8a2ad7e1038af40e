"""notifier.privacy carries the promise that no phone number or email address reaches a log."""

from __future__ import annotations

import ast
import io
import logging
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import notifier.privacy
from notifier.privacy import MaskingFilter, mask, mask_text

PHONES = [
    ("+16175554567", "+1617***4567"),
    ("+1 617 555 4567", "+1617***4567"),
    ("+1 (617) 555-4567", "+1617***4567"),
    ("(617) 555-4567", "617***4567"),
    ("617-555-4567", "617***4567"),
    ("617.555.4567", "617***4567"),
    ("6175554567", "617***4567"),
    ("1-617-555-4567", "1617***4567"),
    ("16175554567", "1617***4567"),
    ("+49 221 1234567", "+4922***4567"),
    ("+4922112345678", "+4922***5678"),
    ("0221 1234567", "0221***4567"),
    ("0221/1234567", "0221***4567"),
    ("030 12345678", "0301***5678"),
    ("0049 221 1234567", "00492***4567"),
    ("%2B16175554567", "+1617***4567"),  # a URL-encoded +, as in a logged query string
]


@pytest.mark.parametrize(("number", "masked"), PHONES)
def test_phone_numbers_in_many_formats_are_masked(number: str, masked: str) -> None:
    text = f"sms to {number}: delivered"
    assert mask_text(text) == f"sms to {masked}: delivered"
    assert mask_text(number) == masked


@pytest.mark.parametrize(
    "text",
    [
        "From=+16175554567&To=+16175550000",
        "twilio error 21211: The 'To' number +16175554567 is not valid.",
        "numbers: 617-555-4567, 617-555-0000 and (508) 555-1212",
        "617 555 4567 617 555 0000",  # two numbers sharing one run of digits and spaces
        "Rückruf unter 0221 1234567 oder +49 (0) 221 7654321 erbeten",
        "{'From': '+16175554567', 'Body': 'SUBSCRIBE 02115'}",
        "psycopg.DataError: PostgreSQL text fields cannot contain NUL (0x00) bytes\n"
        "[parameters: ('+16175554567', 'sms')]",
    ],
)
def test_no_digits_of_a_number_survive_in_longer_texts(text: str) -> None:
    masked = mask_text(text)
    for secret in ("5554567", "555-4567", "555 4567", "5550000", "555-0000", "555 0000"):
        assert secret not in masked
    for secret in ("1234567", "7654321", "555-1212"):
        assert secret not in masked
    assert "***" in masked


@pytest.mark.parametrize(
    ("address", "masked"),
    [
        ("jane@example.org", "j***@example.org"),
        ("Jane.Doe+alerts@mail.example.co.uk", "J***@mail.example.co.uk"),
        ("16175554567@txt.example.net", "1***@txt.example.net"),
    ],
)
def test_email_addresses_are_masked(address: str, masked: str) -> None:
    assert mask_text(f"bounce from <{address}>.") == f"bounce from <{masked}>."
    assert mask(address) == masked


@pytest.mark.parametrize(
    "text",
    [
        "ZIP 02115, 10 miles",
        "PLZ 50667 im Umkreis von 15 km",
        "sent 1234 of 5678 alerts (12 failed)",
        "alert 123456 at 2021-02-24 15:00:00+00:00",
        "window 24.02.2021 - 27.02.2021",
        "dates 2/25/2021 and 02/27/2021",
        "GET /b/2147483647 took 0.123456789 s",
        "MessageSid SM" + "9" * 32,
        "poll of 127.0.0.1:8080 returned 503",
        "version 1.2.3, 3 providers, 120 locations",
        "user@localhost is not a mailbox of a domain",
        "a@b without a top-level domain",
    ],
)
def test_non_personal_data_stays_readable(text: str) -> None:
    assert mask_text(text) == text


def test_mask_hides_at_least_three_digits_of_any_number() -> None:
    assert mask("6175554567") == "617***4567"
    assert mask("+16175554567") == "+1617***4567"
    assert mask("1234567") == "***4567"
    assert mask("12345") == "***"
    assert mask("") == mask(None) == ""


def test_the_masking_code_uses_no_regular_expressions() -> None:
    # A regular expression with optional parts can backtrack quadratically on hostile input
    # (a 60,000-character field froze the event loop for seconds); the scanners are plain
    # loops that never step back further than the last '@' or the start of a digit run.
    tree = ast.parse(Path(notifier.privacy.__file__).read_text(encoding="utf-8"))
    imported = {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    } | {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert not imported & {"re", "regex"}


# Adversarial inputs: each is the shape that makes a backtracking matcher retry from every
# position. The scanner must still give the exact answer on 60,000 characters.
ADVERSARIAL = [
    ("1 " * 30_000, "1 " * 30_000),
    ("(1" * 30_000, "(1" * 30_000),
    ("1-" * 30_000, "1-" * 30_000),
    ("@" * 60_000, "@" * 60_000),
    ("a@" * 30_000, "a@" * 30_000),
    ("a." * 30_000 + "@", "a." * 30_000 + "@"),
    ("9" * 60_000, "9" * 60_000),
    ("+" + "1" * 59_999, "+" + "1" * 59_999),
    ("617 " * 15_000, "617 " * 15_000),
    ("617 555 4567 " * 4_000, "617***4567 " * 4_000),
    ("x@example.org " * 4_000, "x***@example.org " * 4_000),
    ("a" * 59_990 + "@example.org", "a***@example.org"),
]


@pytest.mark.parametrize(("text", "expected"), ADVERSARIAL, ids=lambda v: repr(v[:8]))
def test_adversarial_long_inputs_are_masked_exactly(text: str, expected: str) -> None:
    assert mask_text(text) == expected


_NOISE = st.text(alphabet=st.sampled_from("ab 1-.()+@/%:,\n"), max_size=400)
_NUMBERS = st.from_regex(r"\+1[2-9][0-9]{2}[2-9][0-9]{6}", fullmatch=True)


@settings(max_examples=60, deadline=None)
@given(before=_NOISE, number=_NUMBERS, after=_NOISE, repeat=st.integers(1, 200))
def test_a_number_between_any_noise_never_survives(
    before: str, number: str, after: str, repeat: int
) -> None:
    # Glued to a word or another digit a number is an identifier ("SM123..."), so the test
    # puts a space on each side, as a log line would.
    text = (before + " " + number + " " + after) * repeat
    masked = mask_text(text)
    assert number not in masked
    assert number[1:] not in masked


@settings(max_examples=60, deadline=None)
@given(text=st.text(max_size=3000), repeat=st.integers(1, 20))
def test_masking_any_text_is_idempotent_and_keeps_the_rest(text: str, repeat: int) -> None:
    long = text * repeat
    once = mask_text(long)
    assert mask_text(once) == once
    if "@" not in long and sum(c.isdigit() for c in long) < 7:
        assert once == long


def test_filter_masks_messages_arguments_and_tracebacks() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(MaskingFilter())
    logger = logging.getLogger("tests.privacy")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("sms to %s from %s", "+16175554567", "jane@example.org")
        try:
            raise ValueError("bad parameter '+4922112345678'")
        except ValueError:
            logger.exception("failed for %s", "617-555-4567")
    finally:
        logger.removeHandler(handler)
    output = stream.getvalue()
    assert "+1617***4567" in output and "j***@example.org" in output
    assert "ValueError: bad parameter '+4922***5678'" in output
    for secret in ("5554567", "555-4567", "jane@", "12345678"):
        assert secret not in output
