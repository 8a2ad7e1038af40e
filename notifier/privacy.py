"""Personal data never reaches a log: phone numbers and email addresses are masked.

``mask_text`` runs on every log record, so it must stay fast on any input, including a
hostile 60,000-character form field. It therefore uses no regular expressions (a regex with
nested optional parts can backtrack quadratically): two scanners walk the text once each,
and every character is looked at a bounded number of times.

What counts as a phone number (digits may be grouped by spaces, ``.``, ``-``, ``/`` and
parentheses, and must not continue a word such as ``SM123...`` or ``/b/123``):

* international: ``+`` (or ``00``, or ``%2B`` in a URL) then 7-15 digits (E.164);
* national with a trunk zero, as in Germany (``0221 1234567``): 0 then 8-12 more digits;
* North American: 10 digits grouped 3-3-4 (``(617) 555-4567``), optionally after a ``1``.

Dates (``2021-02-24``, ``24.02.2021``), times, ZIP codes, counts and ids do not have these
shapes and stay readable.
"""

from __future__ import annotations

import logging

__all__ = ["MaskingFilter", "mask", "mask_text"]

_DIGITS = frozenset("0123456789")
_SEPARATORS = frozenset(" .-/()")
_NO_DIGITS = str.maketrans("", "", "0123456789")
_LOCAL_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._%+-")
_DOMAIN_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-")
_MAX_SEPARATOR_RUN = 2  # ") " or " (" between digit groups, never more
_MAX_PHONE_DIGITS = 17  # "00" + the 15 digits of E.164


def mask(address: str | None) -> str:
    """``+16175554567`` -> ``+1617***4567``; ``jane@example.org`` -> ``j***@example.org``.

    At least three digits are always hidden, whatever the length of the number.
    """
    if not address:
        return ""
    if "@" in address:
        local, _, domain = address.partition("@")
        return f"{local[:1]}***@{domain}"
    digits = "".join(c for c in address if c in _DIGITS or c == "+")
    if len(digits) <= 6:
        return "***"
    head = min(5, len(digits) - 4 - 3)
    return f"{digits[:head]}***{digits[-4:]}"


def mask_text(text: str) -> str:
    """Mask every phone number and email address found in free text (linear time)."""
    if "@" in text:
        text = _mask_emails(text)
    # Fewer than 7 digits cannot make a phone number: skip the scan (counted at C speed).
    if len(text) - len(text.translate(_NO_DIGITS)) < 7:
        return text
    return _mask_phones(text)


# ----------------------------------------------------------------------------- emails


def _mask_emails(text: str) -> str:
    """``jane.doe@example.org`` -> ``j***@example.org``.

    Each ``@`` extends left over local-part characters and right over domain characters;
    neither set contains ``@``, so no character is visited from two different ``@``.
    """
    out: list[str] = []
    done = 0  # text[:done] is already in out
    at = text.find("@")
    while at != -1:
        start = at
        while start > done and text[start - 1] in _LOCAL_CHARS:
            start -= 1
        if start == at:  # nothing before the @ can be a mailbox name
            at = text.find("@", at + 1)
            continue
        end = at + 1
        while end < len(text) and text[end] in _DOMAIN_CHARS:
            end += 1
        domain_end = _domain_end(text, at + 1, end)
        if start < at and domain_end > 0:
            out.append(text[done:start])
            out.append(f"{text[start]}***@{text[at + 1 : domain_end]}")
            done = domain_end
        at = text.find("@", max(end, at + 1))
    out.append(text[done:])
    return "".join(out)


def _domain_end(text: str, start: int, end: int) -> int:
    """Where a domain ``example.org`` in ``text[start:end]`` ends (after a >=2-letter top
    label), or 0 when there is none."""
    while end > start and text[end - 1] in ".-":
        end -= 1
    dot = text.rfind(".", start, end)
    if dot <= start:
        return 0
    top = text[dot + 1 : end]
    return end if len(top) >= 2 and top.isascii() and top.isalpha() else 0


# ----------------------------------------------------------------------------- phones


def _mask_phones(text: str) -> str:
    out: list[str] = []
    done = 0
    i, n = 0, len(text)
    while i < n:
        if not _may_start(text, i):
            i += 1
            continue
        run = _read_run(text, i)
        for first, last in _phone_spans(run):
            span_start = i if first == 0 else run.groups[first][1]
            span_end = run.groups[last][2]
            if text[span_start] == "(" and span_end < n and text[span_end] == ")":
                span_end += 1
            number = text[span_start:span_end]
            if number.startswith("%"):
                number = "+" + number[3:]  # %2B is a URL-encoded +
            out.append(text[done:span_start])
            out.append(mask(number))
            done = span_end
        i = max(run.end, i + 1)
    out.append(text[done:])
    return "".join(out)


def _may_start(text: str, i: int) -> bool:
    """A number may start at ``i``: a digit, ``+``, ``(`` or ``%2B`` that does not continue
    a word, a path (``/b/123``), a decimal or another number."""
    char = text[i]
    plus_in_url = char == "%" and text[i + 1 : i + 3].upper() == "2B"
    if not (char in _DIGITS or char in "+(" or plus_in_url):
        return False
    if i == 0:
        return True
    before = text[i - 1]
    return not (before.isalnum() or before in "_/+%" or (before == "." and char in _DIGITS))


class _Run:
    """Digit groups separated by at most two separator characters each, as read from text.

    ``groups`` holds ``(digits, start, end)``; ``international`` says the run began with a
    ``+`` (or ``%2B``); ``end`` is where scanning stopped.
    """

    __slots__ = ("end", "groups", "international")

    def __init__(self) -> None:
        self.groups: list[tuple[str, int, int]] = []
        self.international = False
        self.end = 0


def _read_run(text: str, start: int) -> _Run:
    run = _Run()
    i, n = start, len(text)
    if text[i] == "%":
        run.international, i = True, i + 3
    elif text[i] == "+":
        run.international, i = True, i + 1
    separators = 0
    while i < n:
        char = text[i]
        if char in _DIGITS:
            digit_start = i
            while i < n and text[i] in _DIGITS:
                i += 1
            run.groups.append((text[digit_start:i], digit_start, i))
            separators = 0
        elif char in _SEPARATORS and separators < _MAX_SEPARATOR_RUN:
            separators += 1
            i += 1
        else:
            break
    run.end = max(i, start + 1)
    return run


def _phone_spans(run: _Run) -> list[tuple[int, int]]:
    """Which consecutive groups of ``run`` are phone numbers (first and last index each).

    Two numbers may share a run ("617 555 4567, 617 555 0000" has one), so the longest
    phone-shaped stretch of groups is taken from each position. A stretch holds at most
    ``_MAX_PHONE_DIGITS`` digits and is judged incrementally, so this stays linear.
    """
    spans: list[tuple[int, int]] = []
    groups = [g[0] for g in run.groups]
    j = 0
    while j < len(groups):
        international = run.international and j == 0
        if not international and _is_date(groups, j):
            j += 3
            continue
        best = _longest_phone(groups, j, international)
        if best >= 0:
            spans.append((j, best))
            j = best + 1
        else:
            j += 1
    return spans


def _longest_phone(groups: list[str], j: int, international: bool) -> int:
    """The last index of the longest phone number made of ``groups[j:]``, or -1."""
    first = groups[j]
    if international:
        low, high = 7, 15
    elif first.startswith("00"):
        low, high = 9, _MAX_PHONE_DIGITS
    elif first.startswith("0"):
        # a trunk zero opens an area code ("0221", "030"); "0.123456789" is a decimal
        low, high = (9, 13) if len(first) >= 2 else (0, -1)
    else:
        return _longest_north_american(groups, j)
    best, digits = -1, 0
    for k in range(j, len(groups)):
        digits += len(groups[k])
        if digits > high:
            break
        if digits >= low:
            best = k
    return best


def _longest_north_american(groups: list[str], j: int) -> int:
    """10 digits grouped (3)(3)(4) in any joining, optionally after a country code 1:
    the groups may only be cut after 3 and 6 digits (not counting the 1)."""
    first = groups[j]
    if len(first) == 11 and first[0] == "1":
        return j
    best, digits = -1, 0
    plain_ok = True
    after_one_ok = first == "1"
    for k in range(j, len(groups)):
        if k > j:
            plain_ok = plain_ok and digits in (3, 6)
            after_one_ok = after_one_ok and (k == j + 1 or digits - 1 in (3, 6))
        if not (plain_ok or after_one_ok):
            break
        digits += len(groups[k])
        if (plain_ok and digits == 10) or (after_one_ok and digits == 11):
            best = k
        if digits >= 11:
            break
    return best


_DATE_SHAPES = frozenset({(4, 2, 2), (2, 2, 4), (1, 2, 4), (2, 1, 4), (1, 1, 4)})


def _is_date(groups: list[str], j: int) -> bool:
    """``groups[j:j+3]`` is 2021-02-24, 24.02.2021 or 2/25/2021."""
    if j + 3 > len(groups):
        return False
    return (len(groups[j]), len(groups[j + 1]), len(groups[j + 2])) in _DATE_SHAPES


class MaskingFilter(logging.Filter):
    """A logging filter that masks personal data in every record, as a last line of defence.

    It masks the formatted message and the traceback text, so an exception that quotes a
    phone number (a database error echoing a parameter) is masked too.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask_text(message)
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask_text(record.exc_text)
        if record.stack_info:
            record.stack_info = mask_text(record.stack_info)
        return True
