"""The one Retry-After reader shared by the polite client, the scrapers and the channels."""

from __future__ import annotations

import datetime as dt
import email.utils

import pytest
from hypothesis import given
from hypothesis import strategies as st

from notifier.http_rules import MAX_RETRY_AFTER_SECONDS, parse_retry_after

NOW = dt.datetime(2021, 2, 18, 13, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("120", 120.0),
        (" 30 ", 30.0),
        ("0", 0.0),
        ("1.5", 1.5),
        ("-5", 0.0),  # a negative wait means "now", not "never"
        ("999999999", MAX_RETRY_AFTER_SECONDS),
        ("Thu, 18 Feb 2021 13:01:00 GMT", 60.0),
        ("Thursday, 18-Feb-21 13:02:00 GMT", 120.0),  # the obsolete RFC 850 form
        ("Thu, 18 Feb 2021 12:00:00 GMT", 0.0),  # already past
        ("Sat, 18 Feb 2051 13:00:00 GMT", MAX_RETRY_AFTER_SECONDS),
        ("soon", None),
        ("", None),
        ("   ", None),
        ("nan", None),
        ("inf", None),
        ("Thu, 99 Foo 2021 25:61:00 GMT", None),
        (None, None),
    ],
)
def test_both_forms_garbage_negative_and_cap(value: str | None, seconds: float | None) -> None:
    assert parse_retry_after(value, NOW) == seconds


def test_cap_can_be_lowered_by_the_caller() -> None:
    assert parse_retry_after("600", NOW, cap=60) == 60


def test_without_now_a_date_is_measured_from_the_current_time() -> None:
    soon = email.utils.format_datetime(dt.datetime.now(dt.UTC) + dt.timedelta(hours=1), True)
    seconds = parse_retry_after(soon)
    assert seconds is not None and 3500 < seconds <= 3600


@given(st.integers(min_value=0, max_value=10**12))
def test_any_delta_seconds_is_read_and_bounded(delta: int) -> None:
    assert parse_retry_after(str(delta), NOW) == min(float(delta), MAX_RETRY_AFTER_SECONDS)


@given(st.integers(min_value=-(10**6), max_value=10**6))
def test_any_http_date_is_its_distance_from_now(offset: int) -> None:
    header = email.utils.format_datetime(NOW + dt.timedelta(seconds=offset), usegmt=True)
    assert parse_retry_after(header, NOW) == min(max(0.0, float(offset)), MAX_RETRY_AFTER_SECONDS)


@given(st.text(max_size=60))
def test_any_text_is_none_or_a_bounded_wait(value: str) -> None:
    seconds = parse_retry_after(value, NOW)
    assert seconds is None or 0.0 <= seconds <= MAX_RETRY_AFTER_SECONDS
