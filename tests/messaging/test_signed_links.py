"""Signed manage links: the long form and the short one a text carries name one subscriber of
one channel, and anything edited, foreign or malformed is a ``BadLink``, never another error."""

from __future__ import annotations

import contextlib
import datetime as dt
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from notifier.messaging.signed_links import (
    SHORT_MANAGE_TOKEN_MAX_LENGTH,
    BadLink,
    ExpiredLink,
    make_manage_token,
    make_short_manage_token,
    read_manage_token,
)

SECRET = "signed-links-secret-0123456789"
OTHER = "another-secret-0123456789abcdef"


def test_short_tokens_round_trip_and_stay_short() -> None:
    for subscriber_id, channel in ((1, "sms"), (2**31 - 1, "sms"), (42, "email")):
        token = make_short_manage_token(SECRET, subscriber_id, channel)
        assert len(token) <= SHORT_MANAGE_TOKEN_MAX_LENGTH
        assert re.fullmatch(r"[se][0-9]+\.[A-Za-z0-9_-]{16}", token)  # URL-safe as it is
        assert read_manage_token(SECRET, token) == (subscriber_id, channel)
    longest = make_short_manage_token(SECRET, 2**31 - 1, "sms")
    assert len(longest) == SHORT_MANAGE_TOKEN_MAX_LENGTH  # ten digits: the longest there is


def test_both_forms_name_the_same_subscriber() -> None:
    short = make_short_manage_token(SECRET, 7, "sms")
    long = make_manage_token(SECRET, 7, "sms")
    assert read_manage_token(SECRET, short) == read_manage_token(SECRET, long) == (7, "sms")
    assert len(short) < len(long)


def test_edited_and_foreign_short_tokens_are_bad_links() -> None:
    token = make_short_manage_token(SECRET, 123, "sms")
    ident, signature = token.split(".")
    last = "B" if signature[-1] == "A" else "A"
    for bad in (
        f"{ident}.{signature[:-1]}{last}",
        f"s124.{signature}",
        f"e123.{signature}",
        f"x123.{signature}",
        make_short_manage_token(OTHER, 123, "sms"),
        f"{ident}.{signature}=",
        "",
    ):
        with pytest.raises(BadLink):
            read_manage_token(SECRET, bad)


def test_a_short_token_has_no_age_so_a_max_age_refuses_it() -> None:
    token = make_short_manage_token(SECRET, 5, "sms")
    with pytest.raises(ExpiredLink):
        read_manage_token(SECRET, token, max_age=dt.timedelta(days=30))


def test_a_short_secret_is_refused_when_signing() -> None:
    with pytest.raises(ValueError, match="at least 16"):
        make_short_manage_token("too-short", 1, "sms")


@given(st.text(max_size=60) | st.from_regex(r"[a-z][0-9]{1,10}\.[A-Za-z0-9_-]{16}", fullmatch=True))
def test_reading_anything_raises_only_bad_link(token: str) -> None:
    with contextlib.suppress(BadLink):  # anything else fails the test
        read_manage_token(SECRET, token)
