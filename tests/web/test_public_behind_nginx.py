"""The nginx configuration of docs/web.md, run for real in front of the app: published files
come from the folder, everything else is passed to the app. Skipped without nginx (never in
CI)."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine

from notifier.web.app import create_app
from notifier.web.serve import start_web
from tests.web.public_fixtures import public_config
from tests.web.public_support import NOW, seed

NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
DOCS = Path(__file__).parents[2] / "docs" / "web.md"

if NGINX is None and os.environ.get("CI") != "true":
    pytestmark = pytest.mark.skip(reason="nginx is not installed")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def nginx_conf(prefix: Path, root: Path, listen: int, app: int) -> str:
    server = DOCS.read_text().split("```nginx\n", 1)[1].split("```", 1)[0]
    server = (
        server.replace("listen 443 ssl http2;", f"listen 127.0.0.1:{listen};")
        .replace("/var/lib/notifier/public", str(root))
        .replace("server 127.0.0.1:8080;", f"server 127.0.0.1:{app};")
    )
    temp = " ".join(f"{kind}_temp_path {prefix / kind};" for kind in ("client_body", "proxy"))
    temp += " ".join(f" {kind}_temp_path {prefix / kind};" for kind in ("fastcgi", "uwsgi", "scgi"))
    return (
        f"daemon off; pid {prefix / 'nginx.pid'}; error_log {prefix / 'error.log'};\n"
        f"events {{}}\nhttp {{ access_log off; {temp}\n{server}\n}}\n"
    )


@pytest.fixture
def workdir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="notifier-nginx-"))
    path.chmod(0o755)  # nginx's worker may run as another user
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
async def behind_nginx(sqlite_engine: Engine, workdir: Path) -> AsyncIterator[str]:
    seed(sqlite_engine)
    root = workdir / "public"
    app = create_app(public_config(root), engine=sqlite_engine, clock=lambda: NOW)
    app.state.public_site.publisher().publish_now()
    app_port, nginx_port = free_port(), free_port()
    server, task = await start_web(app, "127.0.0.1", app_port)
    prefix = workdir / "nginx"
    prefix.mkdir()
    (prefix / "nginx.conf").write_text(nginx_conf(prefix, root, nginx_port, app_port))
    assert NGINX is not None
    command = [NGINX, "-p", str(prefix), "-c", str(prefix / "nginx.conf")]
    process = subprocess.Popen([*command, "-e", str(prefix / "error.log")])
    try:
        for _ in range(200):
            try:
                _reader, writer = await asyncio.open_connection("127.0.0.1", nginx_port)
                writer.close()
                break
            except OSError:
                await asyncio.sleep(0.05)
        yield f"http://127.0.0.1:{nginx_port}"
    finally:
        process.terminate()
        process.wait(timeout=10)
        server.should_exit = True
        await task


async def test_the_documented_nginx_config_serves_files_and_proxies_the_rest(
    behind_nginx: str,
) -> None:
    async with httpx.AsyncClient(base_url=behind_nginx, timeout=10) as client:
        page = await client.get("/")
        assert page.status_code == 200 and "Fenway Park" in page.text
        assert page.headers["server"].startswith("nginx")
        assert page.headers["cache-control"].startswith("public, max-age=10")
        again = await client.get("/", headers={"If-None-Match": page.headers["etag"]})
        assert again.status_code == 304
        assert 'lang="de"' in (await client.get("/de/")).text
        locations = await client.get("/api/v1/locations")
        assert locations.headers["content-type"].startswith("application/json")
        assert len(locations.json()["locations"]) == 4
        assert locations.headers["access-control-allow-origin"] == "*"
        manifest = await client.get("/smart/$bulk-publish")
        assert manifest.status_code == 200 and manifest.json()["output"]
        assert (await client.get("/feeds/us-ma.xml")).status_code == 200
        for path in ("/de/feeds/atom.xml", "/es/feeds/us-ma.xml"):
            feed = await client.get(path)
            assert feed.status_code == 200, path
            assert feed.headers["content-type"].startswith("application/atom+xml"), path
            assert feed.headers["access-control-allow-origin"] == "*", path
            assert feed.headers["cache-control"].startswith("public, max-age=10"), path
            assert f'xml:lang="{path[1:3]}"'.encode() in feed.content, path
        # dynamic routes reach the app
        search = await client.get("/search", params={"postal_code": "02215", "radius": "30"})
        assert search.status_code == 200 and "Gillette Stadium" in search.text
        api = await client.get("/api/v1/availability", params={"postal_code": "02139"})
        assert api.status_code == 200 and api.json()["locations"][0]["id"] == "ma:fenway"
        assert (await client.get("/healthz/live")).json() == {"status": "ok"}
        assert (await client.get("/openapi.json")).status_code == 200
