"""The network block and the import scan that make "parse does no I/O" checkable."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from notifier.kit.netblock import NetworkBlocked, block_network
from notifier.kit.source_scan import HTTP_LIBRARIES, NETWORK_MODULES, forbidden_imports


@pytest.fixture
def listener() -> Iterator[tuple[str, int]]:
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(4)  # the kernel completes connects into the backlog: no accept() needed
    yield server.getsockname()
    server.close()


def test_connections_and_lookups_fail_while_blocked(listener: tuple[str, int]) -> None:
    with block_network() as log:
        with pytest.raises(NetworkBlocked):
            socket.create_connection(listener, timeout=1)
        with pytest.raises(NetworkBlocked):
            socket.socket(socket.AF_INET, socket.SOCK_STREAM).connect(listener)
        with pytest.raises(NetworkBlocked):
            socket.getaddrinfo("example.org", 443)
    assert log.attempts == [f"{listener[0]}:{listener[1]}"] * 2 + ["example.org:443"]
    assert not issubclass(NetworkBlocked, OSError)  # retry-on-OSError code must not swallow it


def test_network_works_again_after_the_block(listener: tuple[str, int]) -> None:
    with block_network():
        pass
    socket.create_connection(listener, timeout=2).close()


def test_unix_sockets_stay_allowed(tmp_path: Path) -> None:
    path = str(tmp_path / "s")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(1)
    try:
        with block_network() as log:
            client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            client.connect(path)
            client.close()
        assert log.attempts == []
    finally:
        server.close()


def scan(tmp_path: Path, source: str, banned: tuple[str, ...] = NETWORK_MODULES) -> list[str]:
    package = tmp_path / "scrapers"
    package.mkdir(exist_ok=True)
    path = package / "probe.py"
    path.write_text(source)
    return [i.module for i in forbidden_imports(path, banned)]


@pytest.mark.parametrize(
    ("source", "found"),
    [
        ("import httpx\n", ["httpx"]),
        ("import requests.adapters\n", ["requests.adapters"]),
        ("from urllib import request\n", ["urllib.request"]),
        ("from urllib.request import urlopen\n", ["urllib.request", "urllib.request.urlopen"]),
        ("import importlib\nimportlib.import_module('aiohttp')\n", ["aiohttp"]),
        ("def f():\n    import socket\n", ["socket"]),
        ("from notifier.pipeline import fetch\n", ["notifier.pipeline.fetch"]),
        ("from urllib.parse import urljoin\nimport json\nfrom http import HTTPStatus\n", []),
    ],
)
def test_import_scan(tmp_path: Path, source: str, found: list[str]) -> None:
    assert scan(tmp_path, source) == found


def test_http_libraries_are_a_subset_and_socket_is_not_http(tmp_path: Path) -> None:
    assert set(HTTP_LIBRARIES) < set(NETWORK_MODULES)
    assert scan(tmp_path, "import socket\n", HTTP_LIBRARIES) == []


def test_an_import_hidden_in_a_package_helper_is_found(tmp_path: Path) -> None:
    package = tmp_path / "scrapers"
    package.mkdir()
    (package / "_engine.py").write_text("import httpx\n")
    (package / "_other.py").write_text("from scrapers._engine import thing\n")
    path = package / "probe.py"
    path.write_text("from ._other import thing\n")
    found = forbidden_imports(path, NETWORK_MODULES)
    assert [(i.path.name, i.module) for i in found] == [("_engine.py", "httpx")]
    assert str(found[0]) == "_engine.py:1 imports httpx"
