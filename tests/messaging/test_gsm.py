"""GSM-7 detection, transliteration and SMS segment arithmetic."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from notifier.messaging.gsm import (
    Encoding,
    encoding,
    fit,
    fits_one_segment,
    is_gsm7,
    segment_count,
    sms_length,
    to_gsm,
)


@pytest.mark.parametrize(
    ("text", "length", "segments"),
    [
        ("", 0, 0),
        ("a" * 160, 160, 1),
        ("a" * 161, 161, 2),
        ("a" * 306, 306, 2),
        ("a" * 307, 307, 3),
        ("€" * 80, 160, 1),  # extension characters cost two septets
        ("€" * 81, 162, 2),
        ("ó" * 70, 70, 1),  # UCS-2
        ("ó" * 71, 71, 2),
        ("ó" * 134, 134, 2),
        ("ó" * 135, 135, 3),
        ("😀" * 35, 70, 1),  # outside the BMP: two UTF-16 units each
        ("😀" * 36, 72, 2),
    ],
)
def test_lengths_and_segments(text: str, length: int, segments: int) -> None:
    assert sms_length(text) == length
    assert segment_count(text) == segments
    assert fits_one_segment(text) is (segments <= 1)


def test_gsm7_alphabet() -> None:
    assert is_gsm7("Grüße aus München: 5 Termine! ñ é ß Ä @£$¥ {}[]~^|\\€")
    assert not is_gsm7("Clínica")  # í is not in GSM-7
    assert encoding("2/25–2/27") is Encoding.UCS2  # the en dash


@pytest.mark.parametrize(
    ("text", "gsm"),
    [
        ("2/25–2/27", "2/25-2/27"),
        ("“Clínica” San José’s…", '"Clinica" San José\'s...'),
        ("Ça va, Ångström, Øre", "Ça va, Ångström, Øre"),
        ("ﬁve\u00a0sites", "five sites"),
        ("東京", "東京"),  # no GSM-7 form: stays, forcing UCS-2
    ],
)
def test_to_gsm(text: str, gsm: str) -> None:
    assert to_gsm(text) == gsm


@given(st.text(max_size=400))
def test_fit_always_fits_one_segment(text: str) -> None:
    fitted = fit(text)
    assert segment_count(fitted) <= 1
    if segment_count(text) <= 1:
        assert fitted == text


def test_fit_cuts_at_a_word() -> None:
    text = "word " * 40
    fitted = fit(text)
    assert fitted.endswith("word...") and sms_length(fitted) <= 160
