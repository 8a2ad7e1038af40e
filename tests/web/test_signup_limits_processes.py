"""Two real ``notifier web`` processes on one PostgreSQL database, sign-ups fired at both at
once: together they allow each IP address and each phone prefix its limit once."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine

from tests.db.conftest import pg_engine, pg_engine_session, pg_server_url
from tests.web.signup_support import EMAIL_SECRET, WEB_SECRET
from tests.web.sms_web_support import ACCOUNT_SID, AUTH_TOKEN, OUR_NUMBER, PUBLIC_BASE

__all__ = ["pg_engine", "pg_engine_session", "pg_server_url"]  # fixtures used below

pytestmark = pytest.mark.postgres

PER_IP = 4
PER_PREFIX = 3

CONFIG = """\
operator:
  name: Test Department
  contact: mailto:ops@example.org
engine: procrastinate
database:
  url: {database_url}
channels:
  sms:
    settings:
      account_sid: {account_sid}
      auth_token: ${{SMS_AUTH_TOKEN}}
      from_number: "{from_number}"
      base_url: {public_url}
  email:
    settings:
      host: 127.0.0.1
      security: none
      from_address: alerts@alerts.example.org
      base_url: {public_url}
      secret: ${{EMAIL_SECRET}}
web:
  public_url: {public_url}
  secret_key: ${{NOTIFIER_SECRET_KEY}}
  signup:
    per_ip: {{count: {per_ip}, per_seconds: 3600}}
    per_phone_prefix: {{count: {per_prefix}, per_seconds: 3600}}
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_until_up(proc: subprocess.Popen[bytes], base: str, log: Path) -> None:
    deadline = time.monotonic() + 120  # each process indexes the postal codes on start
    while True:
        try:
            if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert proc.poll() is None, log.read_text()
        assert time.monotonic() < deadline, f"notifier web did not start:\n{log.read_text()}"
        time.sleep(0.2)


@pytest.fixture
def two_web_processes(pg_engine: Engine, pg_server_url: str, tmp_path: Path) -> Iterator[list[str]]:
    config = tmp_path / "config.yaml"
    config.write_text(
        CONFIG.format(
            database_url=pg_server_url,
            account_sid=ACCOUNT_SID,
            from_number=OUR_NUMBER,
            public_url=PUBLIC_BASE,
            per_ip=PER_IP,
            per_prefix=PER_PREFIX,
        )
    )
    env = {k: v for k, v in os.environ.items() if k != "NOTIFIER_DATABASE_URL"}
    env["FORWARDED_ALLOW_IPS"] = "127.0.0.1"  # the tests play the proxy: X-Forwarded-For
    env.update(SMS_AUTH_TOKEN=AUTH_TOKEN, EMAIL_SECRET=EMAIL_SECRET, NOTIFIER_SECRET_KEY=WEB_SECRET)
    procs: list[tuple[subprocess.Popen[bytes], str, Path]] = []
    try:
        for name in ("web-a", "web-b"):
            port = _free_port()
            log = tmp_path / f"{name}.log"
            command = [sys.executable, "-c", "from notifier.cli.app import main; main()", "web"]
            proc = subprocess.Popen(
                [*command, "--config", str(config), "--host", "127.0.0.1", "--port", str(port)],
                stdout=log.open("wb"),
                stderr=subprocess.STDOUT,
                env=env,
            )
            procs.append((proc, f"http://127.0.0.1:{port}", log))
        for proc, base, log in procs:
            _wait_until_up(proc, base, log)
        yield [base for _proc, base, _log in procs]
    finally:
        for proc, _base, _log in procs:
            proc.send_signal(signal.SIGTERM)
        for proc, _base, _log in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


async def _csrf(client: httpx.AsyncClient, base: str) -> tuple[str, str]:
    """The CSRF token and its cookie's nonce (the cookie is Secure: sent by hand over http)."""
    page = await client.get(f"{base}/signup")
    assert page.status_code == 200, page.text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    nonce = re.search(r"notifier_csrf=([^;]+)", page.headers["set-cookie"])
    assert token is not None and nonce is not None
    return token.group(1), nonce.group(1)


async def _burst(bases: list[str], forms: list[tuple[str, dict[str, str]]]) -> list[httpx.Response]:
    """POST every (client IP, form) at once, spread over the processes in turn."""
    async with httpx.AsyncClient(timeout=30) as client:
        tokens = [await _csrf(client, base) for base in bases]

        async def post(index: int, ip: str, form: dict[str, str]) -> httpx.Response:
            base = bases[index % len(bases)]
            token, nonce = tokens[index % len(bases)]
            return await client.post(
                f"{base}/signup",
                data={"csrf_token": token, "postal_code": "02115", "radius": "10", **form},
                headers={"Cookie": f"notifier_csrf={nonce}", "X-Forwarded-For": ip},
            )

        return await asyncio.gather(*(post(i, ip, form) for i, (ip, form) in enumerate(forms)))


def test_two_processes_allow_one_ip_its_limit_once(two_web_processes: list[str]) -> None:
    forms = [
        ("198.51.100.7", {"channel": "email", "email": f"r{i}@example.org"}) for i in range(12)
    ]
    answers = asyncio.run(_burst(two_web_processes, forms))
    codes = sorted(a.status_code for a in answers)
    # 6 to each process: with buckets in memory each would have let 4 through, 8 in all
    assert codes == [200] * PER_IP + [429] * (12 - PER_IP)
    refused = next(a for a in answers if a.status_code == 429)
    assert 800 < int(refused.headers["Retry-After"]) <= 901  # 4 an hour: 15 minutes
    assert "Please wait 15 minutes" in refused.text


def test_two_processes_allow_one_phone_prefix_its_limit_once(
    two_web_processes: list[str],
) -> None:
    forms = [
        (f"198.51.100.{10 + n}", {"channel": "sms", "phone": f"+1617555{n:04d}"}) for n in range(10)
    ]
    answers = asyncio.run(_burst(two_web_processes, forms))
    codes = sorted(a.status_code for a in answers)
    # 5 to each process, each from its own address: only the prefix limit can refuse them
    assert codes == [200] * PER_PREFIX + [429] * (10 - PER_PREFIX)
    refused = next(a for a in answers if a.status_code == 429)
    assert "numbers like this one" in refused.text
    assert 1100 < int(refused.headers["Retry-After"]) <= 1201  # 3 an hour: 20 minutes
