"""Fixtures for the volunteer-kit tests (helpers live in ``kit_helpers``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import notifier.kit.quality
import notifier.scraping
from tests.kit.kit_helpers import KitWorkspace


@pytest.fixture
def kit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[KitWorkspace]:
    """Point fixture folders and quality files at a temporary ``scrapers/``; undo after."""
    workspace = KitWorkspace(tmp_path)
    original: Callable[[str], Path] = notifier.scraping.package_dir

    def package_dir(name: str) -> Path:
        return workspace.scrapers_dir if name == "scrapers" else original(name)

    monkeypatch.setattr(notifier.scraping, "package_dir", package_dir)
    monkeypatch.setattr(notifier.kit.quality, "package_dir", package_dir)
    try:
        yield workspace
    finally:
        workspace.cleanup()
