"""``notifier ops test``: a test notice to every ``ops_notices`` target (a stub on 127.0.0.1)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from notifier.cli.app import app
from notifier.testing.webhook_stub import StubReply, WebhookStub


@pytest.fixture
def hook() -> Iterator[WebhookStub]:
    with WebhookStub() as stub:
        yield stub


def write_config(tmp_path: Path, ops_notices: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(
        "operator:\n  name: Ops Test\n  contact: mailto:ops@example.org\n"
        f"database:\n  url: sqlite:///{tmp_path / 'notifier.db'}\n{ops_notices}"
    )
    return path


def test_sends_a_test_notice_to_every_target(tmp_path: Path, hook: WebhookStub) -> None:
    path = write_config(
        tmp_path,
        "ops_notices:\n  targets:\n"
        f"    - url: json://127.0.0.1:{hook.port}/a\n      label: pager\n"
        f"    - json://127.0.0.1:{hook.port}/b\n",
    )
    result = CliRunner().invoke(app, ["ops", "test", "--config", str(path)])
    assert result.exit_code == 0, result.output
    assert sorted(r.path for r in hook.requests) == ["/a", "/b"]
    assert {r.json["title"] for r in hook.requests} == {"[Ops Test] Test notice (please ignore)"}
    assert "pager: sent" in result.output and "JSON #2: sent" in result.output


def test_a_failing_target_fails_the_command(tmp_path: Path, hook: WebhookStub) -> None:
    hook.route("/down", StubReply(500))
    path = write_config(
        tmp_path, f"ops_notices:\n  targets: ['json://127.0.0.1:{hook.port}/down']\n"
    )
    result = CliRunner().invoke(app, ["ops", "test", "--config", str(path)])
    assert result.exit_code == 1
    assert "JSON #1: not sent" in result.output


def test_without_targets_it_says_notices_go_to_the_log(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["ops", "test", "--config", str(write_config(tmp_path, ""))])
    assert result.exit_code == 2
    assert "no targets" in result.output and "ops_notices.targets" in result.output
