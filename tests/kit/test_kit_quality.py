"""The quality scale: reading quality files, and grading claims against evidence."""

from __future__ import annotations

from pathlib import Path

import pytest

from notifier.kit.quality import (
    EXEMPTABLE,
    RULES,
    QualityFileError,
    find_quality_file,
    grade,
    load_quality,
)
from notifier.kit.quality_rules import verify_rules
from tests.kit.kit_helpers import GOOD_SCRAPER, KitWorkspace, quality_yaml

# --------------------------------------------------------------------------- the file format


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "x.quality.yaml"
    path.write_text(text)
    return path


def test_brief_style_exemption_is_read_although_it_is_not_strict_yaml(tmp_path: Path) -> None:
    text = quality_yaml("kit-good", "gold").replace(
        "structured-source: done", "structured-source: exempt: HTML only   # platinum"
    )
    quality = load_quality(write(tmp_path, text))
    assert quality.rules["structured-source"].state == "exempt"
    assert quality.rules["structured-source"].reason == "HTML only"
    assert quality.tier == "gold" and quality.scraper == "kit-good"


@pytest.mark.parametrize(
    "spelling",
    [
        '"exempt: the provider sends no validators"',
        "{exempt: the provider sends no validators}",
        "exempt: 'the provider sends no validators'  # gold",
    ],
)
def test_every_exemption_spelling(tmp_path: Path, spelling: str) -> None:
    text = quality_yaml("kit-good", "gold").replace(
        "conditional-requests: done", f"conditional-requests: {spelling}"
    )
    state = load_quality(write(tmp_path, text)).rules["conditional-requests"]
    assert (state.state, state.reason) == ("exempt", "the provider sends no validators")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("tier: gold", "tier: diamond"), "tier 'diamond' is not one of bronze"),
        (("  fuzz-safe: done", "  fuzz-safe: done\n  speedy: done"), "unknown rule ids ['speedy']"),
        (("  tz-aware: done\n", ""), "rules missing (paste under rules:):\n  tz-aware: todo"),
        (("tz-aware: done", "tz-aware: maybe"), "rule 'tz-aware' is 'maybe'"),
        (("tz-aware: done", "tz-aware: {exempt: ''}"), "an exemption needs a reason"),
        (("scraper: kit-good", "scraper: ''"), "'scraper' must be the registered scraper name"),
        (("tier: gold", "tier: [gold"), "not valid YAML"),
    ],
)
def test_bad_files_fail_with_the_file_named(
    tmp_path: Path, change: tuple[str, str], message: str
) -> None:
    path = write(tmp_path, quality_yaml("kit-good", "gold").replace(*change))
    with pytest.raises(QualityFileError) as raised:
        load_quality(path)
    assert str(path) in str(raised.value)
    assert message in str(raised.value)


def test_unknown_top_level_key_is_rejected(tmp_path: Path) -> None:
    path = write(tmp_path, quality_yaml("kit-good", "gold") + "owner: me\n")
    with pytest.raises(QualityFileError, match="unknown keys"):
        load_quality(path)


def test_rule_catalogue_has_four_tiers_and_two_exemptable_rules() -> None:
    assert len(RULES) == 14
    assert {tier for tier, _ in RULES.values()} == {"bronze", "silver", "gold", "platinum"}
    assert set(EXEMPTABLE) == {"conditional-requests", "optional-fields"}


# --------------------------------------------------------------------------- grading


def test_a_scraper_with_all_evidence_earns_platinum(kit: KitWorkspace) -> None:
    cls = kit.good()
    path = kit.quality("kit_fake_good", quality_yaml("kit-good", "platinum"))
    assert find_quality_file(cls) == path
    result = grade(load_quality(path), cls)
    assert result.ok, result.report()
    assert result.earned == "platinum"


def test_missing_rules_are_listed_ready_to_paste(kit: KitWorkspace) -> None:
    cls = kit.good()
    (kit.scrapers_dir / "fixtures" / "kit-good" / "rev" / "clinics.json.304.meta.json").unlink()
    text = quality_yaml("kit-good", "gold", rate_limits="todo")
    result = grade(load_quality(kit.quality("kit_fake_good", text)), cls)
    assert not result.ok
    assert result.earned == "silver"
    assert set(result.missing) == {"conditional-requests", "rate-limits"}
    report = result.report()
    assert "claims gold, earns silver" in report
    assert "  conditional-requests: todo  # no *.meta.json with status 304" in report
    assert "  rate-limits: todo  # marked todo" in report


def test_a_false_done_claim_above_the_claimed_tier_still_fails(kit: KitWorkspace) -> None:
    cls = kit.good()
    (kit.scrapers_dir / "fixtures" / "kit-good" / "SOURCES.md").write_text("nothing useful\n")
    path = kit.quality("kit_fake_good", quality_yaml("kit-good", "bronze"))
    result = grade(load_quality(path), cls)
    assert not result.ok
    assert "recorded-fixture" in result.false_claims
    assert "SOURCES.md does not mention open.json" in result.report()


def test_exemption_only_where_allowed(kit: KitWorkspace) -> None:
    cls = kit.good()
    allowed = quality_yaml("kit-good", "gold", conditional_requests="exempt: no validators sent")
    assert grade(load_quality(kit.quality("kit_fake_good", allowed)), cls).ok
    refused = quality_yaml("kit-good", "platinum", fuzz_safe="exempt: too slow")
    result = grade(load_quality(kit.quality("kit_fake_good", refused)), cls)
    assert result.earned == "gold"
    assert "fuzz-safe may not be exempt" in result.report()


def test_todo_rules_that_already_hold_are_pointed_out(kit: KitWorkspace) -> None:
    cls = kit.good()
    text = quality_yaml("kit-good", "silver", rate_limits="todo", structured_source="todo")
    result = grade(load_quality(kit.quality("kit_fake_good", text)), cls)
    assert result.ok
    assert set(result.already_true) >= {"rate-limits", "structured-source"}


def test_quality_file_for_another_scraper_is_refused(kit: KitWorkspace) -> None:
    cls = kit.good()
    path = kit.quality("kit_fake_good", quality_yaml("someone-else", "bronze"))
    with pytest.raises(QualityFileError, match="names scraper 'someone-else'"):
        grade(load_quality(path), cls)


# --------------------------------------------------------------------------- the evidence


def test_http_import_breaks_the_io_rules(kit: KitWorkspace) -> None:
    source = GOOD_SCRAPER.format(cls="Leaky", name="kit-leaky").replace(
        "import datetime as dt\n", "import datetime as dt\nfrom urllib import request as _request\n"
    )
    kit.basic_fixtures("kit-leaky")
    cls = kit.load("kit_fake_leaky", source, "Leaky")
    evidence = verify_rules(cls, fuzz=False)
    assert any("imports urllib.request" in p for p in evidence["parse-no-io"])
    assert any("imports urllib.request" in p for p in evidence["core-client-only"])


def test_network_use_during_parse_is_caught(kit: KitWorkspace) -> None:
    source = GOOD_SCRAPER.format(cls="Phoner", name="kit-phoner").replace(
        "        data: Any = response.json()",
        "        import socket as _s\n"
        "        try:\n"
        "            _s.create_connection(('192.0.2.1', 80), timeout=0.01)\n"
        "        except Exception:\n"
        "            pass\n"
        "        data: Any = response.json()",
    )
    kit.basic_fixtures("kit-phoner")
    cls = kit.load("kit_fake_phoner", source, "Phoner")
    evidence = verify_rules(cls, fuzz=False)
    # swallowed NetworkBlocked is still caught: every attempt is recorded
    assert any("tried to reach 192.0.2.1:80" in p for p in evidence["parse-no-io"])
    assert any("imports socket" in p for p in evidence["core-client-only"])


def test_fuzz_finds_a_crash(kit: KitWorkspace) -> None:
    source = GOOD_SCRAPER.format(cls="Fragile", name="kit-fragile").replace(
        '        if not isinstance(data, dict):\n            raise Unparseable("not an object")\n',
        "",
    )
    kit.basic_fixtures("kit-fragile")
    cls = kit.load("kit_fake_fragile", source, "Fragile")
    problems = verify_rules(cls, fuzz=True)["fuzz-safe"]
    # "[]" and "null" bodies are valid JSON that is not an object: .get() crashes
    assert any("body replaced by b'[]'" in p and "AttributeError" in p for p in problems)


def test_an_empty_result_is_no_evidence_of_a_none_page(kit: KitWorkspace) -> None:
    source = GOOD_SCRAPER.format(cls="Hollow", name="kit-hollow").replace(
        'expect={"locations": 1, "status": "none"}', 'expect={"status": "none"}'
    )
    kit.basic_fixtures("kit-hollow")
    kit.fixture("kit-hollow", "none.json", {"clinics": []})
    cls = kit.load("kit_fake_hollow", source, "Hollow")
    evidence = verify_rules(cls, fuzz=False)
    assert evidence["none-fixture"] and "status 'none'" in evidence["none-fixture"][0]
    assert evidence["error-fixture"] == []
