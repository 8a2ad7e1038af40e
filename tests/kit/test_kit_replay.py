"""Replaying a recorded feed folder: files found by URL suffix, else by their leading word."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import shutil
from pathlib import Path

from typer.testing import CliRunner

from notifier.cli.scraper import app
from notifier.kit.replay import parse_paths, parse_recorded
from notifier.model import Status
from notifier.scraping import fixture_dir, get_scraper
from notifier.testing import smart_feed
from notifier.testing.sites import MASS_VACCINATION_SITES

SMART = get_scraper("smart-scheduling-links")


def cvs_saved_under_plural_names(tmp_path: Path) -> Path:
    """The CVS feed as a recorder that named files by resource type would have saved it."""
    source = fixture_dir(SMART) / "cvs"
    folder = tmp_path / "cvs"
    folder.mkdir()
    shutil.copy(source / "manifest.json", folder / "manifest.json")
    for listed, saved in (("location", "locations"), ("schedule", "schedules"), ("slot", "slots")):
        shutil.copy(source / f"{listed}.ndjson", folder / f"{saved}.ndjson")
    return folder


def test_files_saved_under_other_names_are_found_by_their_leading_word(tmp_path: Path) -> None:
    [store] = parse_paths(SMART(), [cvs_saved_under_plural_names(tmp_path)])
    assert store.location.postal_code == "22306"
    assert {d.isoformat(): n for d, n in store.by_date.items()} == {
        "2021-05-18": 0,
        "2021-05-19": None,
    }


def test_an_ambiguous_fallback_guesses_nothing(tmp_path: Path) -> None:
    folder = cvs_saved_under_plural_names(tmp_path)
    shutil.copy(folder / "slots.ndjson", folder / "slots-copy.ndjson")
    [store] = parse_paths(SMART(), [folder])
    # Two candidate slot files: neither is used, so the slots are unknown rather than doubled.
    assert store.status.value == "unknown"


def two_state_feed(tmp_path: Path, *, record_ri: bool) -> Path:
    """A recorded feed with one Slot file per state (MA, RI); RI's maybe not recorded."""
    base = "https://feed.example.org"
    sites = [s for s in MASS_VACCINATION_SITES if s.source == "smart"]
    sites = [dataclasses.replace(sites[1], state="RI"), sites[0]]
    day = dt.date(2021, 5, 1)
    folder = tmp_path / "feed"
    folder.mkdir()
    document = smart_feed.manifest(
        base_url=base,
        request_url=f"{base}/smart/$bulk-publish",
        transaction_time=dt.datetime(2021, 5, 1, 6, tzinfo=dt.UTC),
        sites=sites,
    )
    (folder / "$bulk-publish").write_text(json.dumps(document))
    (folder / "locations.ndjson").write_text(
        smart_feed.ndjson(smart_feed.location_resource(s, base) for s in sites)
    )
    (folder / "schedules.ndjson").write_text(
        smart_feed.ndjson(smart_feed.schedule_resource(s) for s in sites)
    )
    for site in sites:
        if site.state == "RI" and not record_ri:
            continue
        slots = smart_feed.slot_resources(site, {day: 30}, lambda d: f"{base}/book")
        (folder / smart_feed.slots_file_name(site)).write_text(smart_feed.ndjson(slots))
    return folder


def test_a_state_file_not_recorded_is_an_unknown_scope_not_a_failure(tmp_path: Path) -> None:
    parsed = parse_recorded(SMART(), [two_state_feed(tmp_path, record_ri=False)])
    assert parsed.unknown_scopes == ("RI",)
    by_state = {r.location.state: r for r in parsed.results}
    assert by_state["MA"].status is Status.AVAILABLE and by_state["MA"].appointments == 30
    assert by_state["RI"].status is Status.UNKNOWN


def test_a_complete_recording_has_no_unknown_scope(tmp_path: Path) -> None:
    parsed = parse_recorded(SMART(), [two_state_feed(tmp_path, record_ri=True)])
    assert parsed.unknown_scopes == ()
    assert {r.location.state: r.appointments for r in parsed.results} == {"MA": 30, "RI": 30}


def test_the_parse_command_reports_what_was_not_recorded(tmp_path: Path) -> None:
    folder = two_state_feed(tmp_path, record_ri=False)
    result = CliRunner().invoke(app, ["parse", "smart-scheduling-links", str(folder), "--json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["unknown_scopes"] == ["RI"]
    assert {loc["status"] for loc in document["locations"]} == {"available", "unknown"}
    table = CliRunner().invoke(app, ["parse", "smart-scheduling-links", str(folder)])
    assert table.exit_code == 0 and "unknown (not recorded): RI" in table.stdout
