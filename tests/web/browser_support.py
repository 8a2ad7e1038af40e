"""What every browser test shares: Debian's Chromium, its flags on a closed network, the mark
that skips on a laptop without it (never in CI), a free port, and where screenshots go."""

from __future__ import annotations

import os
import shutil
import socket
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
#: headless as root on a machine with no network but loopback: no sandbox, no GPU, and none
#: of the background connections Chromium would otherwise try at every start
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(os.environ.get("TEST_ARTIFACTS", Path(__file__).parents[2] / "test-artifacts"))

if CHROMIUM is None and os.environ.get("CI") != "true":
    BROWSER: list[pytest.MarkDecorator] = [
        pytest.mark.browser,
        pytest.mark.skip(reason="Debian's chromium is not installed"),
    ]
else:
    BROWSER = [pytest.mark.browser]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
