"""Replaying a recorded feed folder: files found by URL suffix, else by their leading word."""

from __future__ import annotations

import shutil
from pathlib import Path

from notifier.kit.replay import parse_paths
from notifier.scraping import fixture_dir, get_scraper

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
