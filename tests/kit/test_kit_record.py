"""``notifier scraper record`` against a loopback HTTP server, through the real PoliteClient."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest
from typer.testing import CliRunner

from notifier.cli.scraper import app
from notifier.kit.record import REDACTED, redact_headers, redact_url
from notifier.kit.replay import load_response
from tests.kit.kit_helpers import KitWorkspace

RECORD_SCRAPER = '''
"""Records from a loopback server. Rate limit: none, it is a test."""

from __future__ import annotations

from pydantic import BaseModel

from notifier.model import LocationAvailability
from notifier.scraping import Request, Response, Scraper, Unparseable


class RecSettings(BaseModel):
    base_url: str = "http://127.0.0.1:9"


class Rec(Scraper[RecSettings]):
    name = "kit-rec"
    provider = "Loopback"
    regions = ("US-MA",)
    maintainer = "@kit-tests"
    source_format = "api"

    def requests(self) -> list[Request]:
        base = self.settings.base_url
        return [Request(url=f"{base}/api/clinics", params={"token": "s3cret", "zip": "01830"})]

    def follow(self, response: Response) -> list[Request]:
        base = self.settings.base_url
        return [Request(url=base + path) for path in response.json().get("next", [])]

    def parse(self, response: Response) -> list[LocationAvailability]:
        raise Unparseable("not needed here")
'''

FIRST_PAGE = {"clinics": [{"id": "c1", "phone": "617-555-1234"}], "next": ["/api/page2.json"]}
SECOND_PAGE = {"clinics": [], "next": ["/api/page2.json"]}  # links to itself: fetched once


class Handler(BaseHTTPRequestHandler):
    hits: ClassVar[list[str]] = []

    def log_message(self, *args: object) -> None:  # keep test output quiet
        pass

    def do_GET(self) -> None:
        type(self).hits.append(self.path)
        if self.path.startswith("/api/clinics"):
            if self.headers.get("If-None-Match") == '"v1"':
                self.send_response(304)
                self.send_header("ETag", '"v1"')
                self.end_headers()
                return
            self.reply(
                FIRST_PAGE,
                {
                    "Set-Cookie": "session=abc123; HttpOnly",
                    "ETag": '"v1"',
                    "X-Api-Key": "k-123",
                    "X-Contact": "jane.doe@example.org",
                },
            )
        elif self.path == "/api/page2.json":
            self.reply(SECOND_PAGE, {})
        else:
            self.send_response(404)
            self.end_headers()

    def reply(self, document: dict, headers: dict[str, str]) -> None:
        body = json.dumps(document).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def server() -> Iterator[str]:
    Handler.hits = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_record_saves_bodies_and_redacted_sidecars(
    kit: KitWorkspace, server: str, tmp_path: Path
) -> None:
    kit.load("kit_fake_rec", RECORD_SCRAPER, "Rec")
    out = tmp_path / "fixtures"
    settings = json.dumps({"base_url": server})
    result = CliRunner().invoke(
        app, ["record", "kit-rec", "--settings", settings, "--out", str(out), "--revalidate"]
    )
    assert result.exit_code == 0, result.output
    [folder] = [p for p in out.iterdir() if p.is_dir()]
    assert folder.name.startswith("recorded-")
    names = sorted(p.name for p in folder.iterdir())
    assert names == [
        "clinics",
        "clinics.304",
        "clinics.304.meta.json",
        "clinics.meta.json",
        "page2.json",
        "page2.json.meta.json",
    ]
    # each request once (page2 links to itself), plus one conditional re-ask of the first
    assert [h.split("?")[0] for h in Handler.hits] == [
        "/api/clinics",
        "/api/clinics",
        "/api/page2.json",
    ]
    # bodies unchanged: the clinic's public phone number is data the scraper parses
    assert json.loads((folder / "clinics").read_bytes()) == FIRST_PAGE
    meta = json.loads((folder / "clinics.meta.json").read_text())
    assert meta["status"] == 200
    assert meta["headers"]["set-cookie"] == REDACTED
    assert meta["headers"]["x-api-key"] == REDACTED
    assert meta["headers"]["x-contact"] == "j***@example.org"
    assert meta["headers"]["etag"] == '"v1"'
    assert "s3cret" not in meta["url"] and f"token={REDACTED}" in meta["url"]
    assert "zip=01830" in meta["url"]
    assert json.loads((folder / "clinics.304.meta.json").read_text())["status"] == 304
    # the sidecar replays offline
    replayed = load_response(folder / "clinics")
    assert replayed.status == 200 and replayed.header("etag") == '"v1"'
    sources = (out / "SOURCES.md").read_text()
    assert f"{folder.name}/clinics" in sources and f"{folder.name}/page2.json" in sources
    assert "s3cret" not in sources
    output = " ".join(result.output.split())
    assert "1 phone/email-like strings, kept" in output
    assert f"Example(files=('{folder.name}/clinics', '{folder.name}/page2.json',))" in output


def test_mask_bodies_masks_personal_data(kit: KitWorkspace, server: str, tmp_path: Path) -> None:
    kit.load("kit_fake_rec", RECORD_SCRAPER, "Rec")
    out = tmp_path / "fixtures"
    args = ["record", "kit-rec", "--settings", json.dumps({"base_url": server})]
    result = CliRunner().invoke(app, [*args, "--out", str(out), "--mask-bodies"])
    assert result.exit_code == 0, result.output
    [folder] = [p for p in out.iterdir() if p.is_dir()]
    assert b"617-555-1234" not in (folder / "clinics").read_bytes()


def test_a_failed_fetch_is_reported_and_nothing_half_saved(
    kit: KitWorkspace, server: str, tmp_path: Path
) -> None:
    kit.load("kit_fake_rec", RECORD_SCRAPER, "Rec")
    out = tmp_path / "fixtures"
    settings = json.dumps({"base_url": server + "/gone"})
    result = CliRunner().invoke(
        app, ["record", "kit-rec", "--settings", settings, "--out", str(out)]
    )
    assert result.exit_code == 1
    assert "failed:" in result.output and "404" in result.output
    assert list(out.iterdir()) == []  # no empty folder, no SOURCES.md line


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["record", "no-such-scraper"], "no scraper named 'no-such-scraper'"),
        (["record", "kit-rec", "--settings", "{nope"], "--settings is not JSON"),
        (["record", "kit-rec", "--settings", "[1]"], "must be a JSON object"),
        (["record", "kit-rec", "--settings", '{"bogus": 1}'], "settings for kit-rec"),
    ],
)
def test_bad_arguments_exit_2(kit: KitWorkspace, args: list[str], message: str) -> None:
    source = RECORD_SCRAPER.replace(
        "class RecSettings(BaseModel):",
        "class RecSettings(BaseModel):\n    model_config = {'extra': 'forbid'}",
    )
    kit.load("kit_fake_rec", source, "Rec")
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2
    assert message in " ".join(result.output.split())


def test_redact_url() -> None:
    url = (
        "https://user:pw@api.example.net/v1/slots?api_key=abc&zip=02120&session_id=9&email=jo@x.org"
    )
    clean = redact_url(url)
    assert "user" not in clean and "pw@" not in clean
    assert "abc" not in clean and "api_key=REDACTED" in clean
    assert "session_id=REDACTED" in clean and "zip=02120" in clean
    assert "jo@x.org" not in clean


def test_redact_headers_keeps_validators() -> None:
    headers = redact_headers(
        {
            "Authorization": "Bearer x",
            "Cookie": "a=b",
            "X-Session-Token": "t",
            "ETag": '"6175551234"',  # looks like a phone number; must stay byte-exact
            "Location": "https://example.net/next?token=abc",
            "Server": "nginx",
        }
    )
    assert headers["authorization"] == headers["cookie"] == headers["x-session-token"] == REDACTED
    assert headers["etag"] == '"6175551234"'
    assert headers["location"] == "https://example.net/next?token=REDACTED"
    assert headers["server"] == "nginx"


def test_settings_come_from_config_yaml(kit: KitWorkspace, server: str, tmp_path: Path) -> None:
    kit.load("kit_fake_rec", RECORD_SCRAPER, "Rec")
    config = tmp_path / "config.yaml"
    config.write_text(
        "operator:\n  contact: https://example.org/ops\n"
        "providers:\n"
        f"  - id: rec-one\n    scraper: kit-rec\n    settings:\n      base_url: {server}\n"
        "  - id: rec-two\n    scraper: kit-rec\n"
    )
    out = tmp_path / "fixtures"
    code, output = _run(["record", "kit-rec", "--config", str(config), "--out", str(out)])
    assert code == 2 and "2 providers use scraper 'kit-rec' (rec-one, rec-two)" in output
    args = ["record", "kit-rec", "--config", str(config), "--provider", "rec-one"]
    code, output = _run([*args, "--out", str(out)])
    assert code == 0, output
    assert (out / "SOURCES.md").exists()


def _run(args: list[str]) -> tuple[int, str]:
    result = CliRunner().invoke(app, args)
    return result.exit_code, " ".join(result.output.split())
