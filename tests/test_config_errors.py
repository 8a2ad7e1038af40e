"""Config errors that used to print a traceback, hide a line, or come in a second round."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from typer.testing import CliRunner

from channels.sms import LARGEST_COUNT, fit_sms, longest_base_url, short_link
from notifier.cli.app import app
from notifier.config import ConfigError, ConfigProblem, SignupConfig, load_config
from notifier.messaging.eligibility import (
    eligibility_sms,
    longest_group_id,
    widest_notice_radius_miles,
)
from notifier.messaging.gsm import SINGLE_GSM7, fits_one_segment
from notifier.messaging.render import SUPPORTED_LOCALES, alert_facts, widest_radius
from notifier.model import MAX_DB_INT
from tests.channels.channels_support import make_alert
from tests.test_config import GOOD, REPO, write

NINE_LINES = """\
operator:
  name: Test Department
  contact: mailto:ops@example.org
providers:
  - id: ma-prepmod
    scraper: prepmod
    interval_seconds: 120
channels:
  console: {}
"""


def load_problems(tmp_path: Path, raw: bytes | str) -> list[ConfigProblem]:
    path = tmp_path / "config.yaml"
    path.write_bytes(raw.encode() if isinstance(raw, str) else raw)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    return caught.value.problems


def test_nine_line_example_is_valid(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(NINE_LINES)
    assert load_config(path).providers[0].interval_seconds == 120


def test_latin1_byte_in_a_comment_names_line_and_byte(tmp_path: Path) -> None:
    raw = GOOD.encode().replace(b"channels:\n", b"# Gesundheitsamt M\xfcnchen\nchannels:\n")
    [problem] = load_problems(tmp_path, raw)
    assert problem.line == 8
    assert "0xFC" in problem.problem and "not UTF-8" in problem.problem
    assert "'ü'" in problem.problem  # what the byte would be in Latin-1
    assert "UTF-8" in problem.fix


def test_bad_bytes_on_two_lines_are_both_reported_with_the_other_problems(tmp_path: Path) -> None:
    raw = (
        GOOD.encode()
        .replace(b"Test Department", b"Test D\xe9partement")
        .replace(b"interval_seconds: 120", b"interval_seconds: 120 # \xff\xfe")
        + b"bogus: 1\n"
    )
    found = load_problems(tmp_path, raw)
    assert [(p.line, p.where) for p in found] == [(2, "encoding"), (7, "encoding"), (11, "bogus")]


def test_control_character_is_named_not_a_traceback(tmp_path: Path) -> None:
    [problem] = load_problems(tmp_path, GOOD.replace("Test Department", "Test\x01Department"))
    assert problem.line == 2 and "U+0001" in problem.problem


def test_byte_order_mark_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_bytes(b"\xef\xbb\xbf" + GOOD.encode())
    assert load_config(path).operator.name == "Test Department"


def test_unknown_tag_is_named_with_its_line(tmp_path: Path) -> None:
    text = GOOD.replace("interval_seconds: 120", "interval_seconds: !seconds 120")
    [problem] = load_problems(tmp_path, text)
    assert problem.line == 7 and problem.where == "providers[0].interval_seconds"
    assert "unknown YAML tag !seconds" in problem.problem
    assert "delete !seconds" in problem.fix


def test_standard_tag_that_cannot_convert_is_a_problem(tmp_path: Path) -> None:
    found = load_problems(
        tmp_path, GOOD.replace("interval_seconds: 120", "interval_seconds: !!int x")
    )
    assert [p.line for p in found] == [7, 7]  # cannot be read as !!int, then not a number
    assert "cannot be read as !!int" in found[0].problem


def test_python_tags_are_refused_not_executed(tmp_path: Path) -> None:
    text = GOOD.replace("Test Department", "!!python/object/apply:os.system ['true']")
    found = load_problems(tmp_path, text)
    assert found[0].line == 2 and "unknown YAML tag !!python/object/apply:os.system" in str(
        found[0]
    )


def test_duplicate_key_names_both_lines(tmp_path: Path) -> None:
    text = GOOD.replace("    interval_seconds: 120\n", "    interval_seconds: 120\n    id: again\n")
    [problem] = load_problems(tmp_path, text)
    assert problem.line == 8 and problem.where == "providers[0].id"
    assert "appears twice, on lines 5 and 8" in problem.problem
    assert "line 5 or 8" in problem.fix


def test_duplicate_top_level_section(tmp_path: Path) -> None:
    [problem] = load_problems(tmp_path, GOOD + "operator:\n  contact: x\n")
    assert problem.line == 11 and "lines 1 and 11" in problem.problem


def test_unclosed_quote_is_reported_where_it_opens(tmp_path: Path) -> None:
    text = NINE_LINES.replace("interval_seconds: 120", 'interval_seconds: "120')
    [problem] = load_problems(tmp_path, text)
    assert problem.line == 7  # not line 10, the end of the file where YAML gives up
    assert "never closed" in problem.problem and "closing quote" in problem.fix


def test_unclosed_quote_swallowing_later_quotes_is_reported_where_it_opens(
    tmp_path: Path,
) -> None:
    text = NINE_LINES.replace("name: Test Department", "name: 'Test Department").replace(
        "console: {}", "console: {enabled: 'yes'}"
    )
    [problem] = load_problems(tmp_path, text)
    assert problem.line == 2
    assert "runs on to line 9" in problem.problem and "same line" in problem.fix


def test_tab_indentation_says_tabs(tmp_path: Path) -> None:
    [problem] = load_problems(tmp_path, GOOD.replace("  name:", "\tname:"))
    assert problem.line == 2 and "tabs" in problem.fix


def test_unset_variable_is_named_with_its_line_and_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPS_CONTACT", raising=False)
    text = GOOD.replace("contact: mailto:ops@example.org", "contact: ${OPS_CONTACT}")
    [problem] = load_problems(tmp_path, text)  # not "Input should be a valid string"
    assert problem.line == 3 and problem.where == "operator.contact"
    assert "OPS_CONTACT is not set" in problem.problem
    assert "set OPS_CONTACT, or write ${OPS_CONTACT:-default}" in problem.fix


def test_unset_variable_in_a_typed_field_is_reported_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("WEB_PORT", raising=False)
    [problem] = load_problems(tmp_path, GOOD + "web:\n  port: ${WEB_PORT}\n")
    assert problem.line == 12 and "WEB_PORT is not set" in problem.problem


def test_default_in_reference_fills_an_unset_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("WEB_PORT", raising=False)
    path = tmp_path / "config.yaml"
    path.write_text(GOOD + "web:\n  port: ${WEB_PORT:-9090}\n")
    assert load_config(path).web.port == 9090


def test_unset_variables_come_in_the_same_pass_as_other_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for var in ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    text = (
        GOOD.replace("interval_seconds: 120", "interval_seconds: soon")
        + "  sms:\n"
        + "    enabled: true\n"
        + "    settings:\n"
        + "      account_sid: ${TWILIO_ACCOUNT_SID}\n"
        + "      auth_token: ${TWILIO_AUTH_TOKEN}\n"
        + "bogus: 1\n"
    )
    found = load_problems(tmp_path, text)
    lines = {p.line: str(p) for p in found}
    assert "interval_seconds" in lines[7]
    assert "TWILIO_ACCOUNT_SID is not set" in lines[14]
    assert "TWILIO_AUTH_TOKEN is not set" in lines[15]
    assert "bogus" in lines[16]
    assert "disable this section" in lines[14]


def test_disabled_channel_may_leave_variables_unset(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sms = (
        "  sms:\n    enabled: {enabled}\n    settings:\n"
        "      account_sid: AC{x}\n      auth_token: ${{TWILIO_AUTH_TOKEN}}\n"
        "      messaging_service_sid: MG{x}\n      base_url: https://n.example.org\n"
    )
    monkeypatch.delenv("TWILIO_AUTH_TOKEN", raising=False)
    path = tmp_path / "config.yaml"
    path.write_text(GOOD + sms.format(enabled="false", x="0" * 32))
    assert "sms" not in load_config(path).enabled_channels()
    [problem] = load_problems(tmp_path, GOOD + sms.format(enabled="true", x="0" * 32))
    assert problem.line == 15 and "TWILIO_AUTH_TOKEN is not set" in problem.problem


def test_secret_written_in_a_channel_is_refused_even_with_other_errors(tmp_path: Path) -> None:
    text = GOOD + "  sms:\n    enabled: false\n    settings:\n      auth_token: hunter2\nbogus: 1\n"
    found = [str(p) for p in load_problems(tmp_path, text)]
    assert any(":14: channels.sms.settings.auth_token: a secret" in p for p in found)
    assert any(":15: bogus" in p for p in found)


def test_every_kind_of_problem_in_one_cli_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPS_CONTACT", raising=False)
    raw = (
        GOOD.replace("contact: mailto:ops@example.org", "contact: ${OPS_CONTACT}")
        .replace("interval_seconds: 120", "interval_seconds: !seconds 120")
        .replace("    enabled: true\n", "    enabled: true\n    enabled: false\n")
        .encode()
        .replace(b"Test Department", b"Stadt K\xf6ln")
    )
    path = tmp_path / "config.yaml"
    path.write_bytes(raw)
    result = CliRunner().invoke(app, ["config", "check", "--config", str(path)])
    assert result.exit_code == 2
    assert "Traceback" not in result.output and result.exception is not None  # SystemExit only
    assert isinstance(result.exception, SystemExit)
    assert "4 problem(s)" in result.output
    for where in (":2: encoding", ":3: operator.contact", ":7: providers", ":11: channels"):
        assert f"{path}{where}" in result.output


def test_key_without_colon_on_the_last_line_is_reported_on_that_line(tmp_path: Path) -> None:
    [problem] = load_problems(tmp_path, GOOD + "bogus\n")  # YAML fails past the end
    assert problem.line == 11 and problem.where == "syntax"


def test_plugin_settings_of_the_wrong_shape_are_a_problem_not_a_crash(tmp_path: Path) -> None:
    text = GOOD + "  - id: cvs-ma\n    scraper: smart-scheduling-links\n    settings: {states: 5}\n"
    text = text.replace("channels:\n  console:\n    enabled: true\n", "") + (
        "channels:\n  console:\n    enabled: true\n"
    )
    found = load_problems(tmp_path, text)
    assert found and all(p.line is not None and 8 <= p.line <= 10 for p in found), found


def _sms_channel(base_url: str) -> str:
    """An enabled SMS channel whose ``base_url`` is on line 17 after GOOD."""
    x = "0" * 32
    return (
        "  sms:\n    enabled: true\n    settings:\n"
        f"      account_sid: AC{x}\n      auth_token: ${{TWILIO_AUTH_TOKEN}}\n"
        f"      messaging_service_sid: MG{x}\n      base_url: {base_url}\n"
    )


def test_an_sms_base_url_too_long_for_whole_links_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Seen: from about 112 characters the text of a large opening cut its short link.
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", "token")
    most = longest_base_url()
    assert 60 < most < SINGLE_GSM7  # what one segment leaves around the link

    def base_url(length: int) -> str:
        return "https://" + "x" * (length - len("https://.org")) + ".org"

    assert load_config(write(tmp_path, GOOD + _sms_channel(base_url(most))))
    # the longest accepted URL keeps the link of the longest alert whole, in every language
    longest = make_alert(0, alert_id=MAX_DB_INT, appointments=LARGEST_COUNT)
    longest = dataclasses.replace(
        longest, location=dataclasses.replace(longest.location, name="N" * 200)
    )
    link = short_link(base_url(most), MAX_DB_INT)
    for locale in SUPPORTED_LOCALES:
        assert link in fit_sms(alert_facts([longest]), locale, link), locale
    too_long = short_link(base_url(most + 1), MAX_DB_INT)
    assert too_long not in fit_sms(alert_facts([longest]), "en", too_long)

    [problem] = load_problems(tmp_path, GOOD + _sms_channel(base_url(most + 1)))
    assert (problem.line, problem.where) == (17, "channels.sms.settings.base_url")
    assert f"is {most + 1} characters long" in problem.problem
    assert "cut its short link" in problem.problem
    assert f"at most {most} characters" in problem.fix

    result = CliRunner().invoke(
        app,
        ["config", "check", "--config", str(write(tmp_path, GOOD + _sms_channel(base_url(150))))],
    )
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert f"{tmp_path / 'config.yaml'}:17: channels.sms.settings.base_url" in result.output

    for doc in ("docs/sms.md", "config.yaml"):  # the limit the docs quote is this one
        assert f"{most} characters" in (REPO / doc).read_text(), doc

    [odd] = load_problems(tmp_path, GOOD + _sms_channel("https://impfen.例え.jp"))
    assert odd.line == 17 and "outside the GSM-7 alphabet (例え)" in odd.problem
    assert "punycode" in odd.fix


def test_an_eligibility_group_id_too_long_for_one_text_is_refused(tmp_path: Path) -> None:
    # Seen: an unlabelled group id is shown as it is, and a long one pushed "your group can
    # book now" past one segment.
    most = longest_group_id(SignupConfig().max_radius_miles)
    assert 20 < most < 60  # what one segment leaves of the text in its longest language
    fits, over = "g" * most, "g" * (most + 1)
    widest = widest_notice_radius_miles(SignupConfig().max_radius_miles)
    web = "web:\n  signup:\n    eligibility_groups:\n      - 65plus\n      - {group}\n"
    config = load_config(write(tmp_path, GOOD + web.format(group=fits)))
    assert config.web.signup.eligibility_groups == ["65plus", fits]
    for locale in SUPPORTED_LOCALES:  # the longest id and radius still make one segment
        text = eligibility_sms(
            fits, locale, radius=widest_radius(locale, widest), postal_code="50667"
        )
        assert fits in text and fits_one_segment(text), text

    for doc in ("docs/sms.md", "config.yaml"):  # the limit the docs quote is this one
        assert f"at most {most}" in (REPO / doc).read_text(), doc

    [problem] = load_problems(tmp_path, GOOD + web.format(group=over))
    assert (problem.line, problem.where) == (15, "web.signup.eligibility_groups[1]")
    assert "longer than one segment" in problem.problem and over in problem.problem
    assert f"at most {most} characters" in problem.fix and "GROUP_LABELS" in problem.fix
    # a wider radius leaves less room: the limit follows web.signup.max_radius_miles
    wide = web.format(group=fits) + "    max_radius_miles: 5000\n"
    assert longest_group_id(5000) < most
    assert [p.line for p in load_problems(tmp_path, GOOD + wide)] == [15]
    # characters outside GSM-7 make a 70-character UCS-2 text
    [cyrillic] = load_problems(tmp_path, GOOD + web.format(group="группа"))
    assert "outside GSM-7" in cyrillic.problem
