"""``notifier channels list|test|stats`` against real stubs on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import update
from typer.testing import CliRunner

from notifier.channel import RateLimit
from notifier.cli.channels import app, format_rate
from notifier.db.engine import make_engine, upgrade
from notifier.db.fanout import ChannelPlan, write_alert
from notifier.db.tables import delivery_table
from notifier.testing.twilio_stub import TwilioStub
from notifier.testing.webhook_stub import WebhookStub
from notifier.testing.x_stub import XStub
from tests.channels.channels_support import NOW, make_alert

NUMBER = "+16175550123"
WIDE = {"COLUMNS": "200"}


@pytest.fixture(scope="module")
def cli_x_stub() -> Iterator[XStub]:
    with XStub(consumer_key="cli-consumer-key") as stub:
        yield stub


@pytest.fixture(scope="module")
def cli_hook() -> Iterator[WebhookStub]:
    with WebhookStub() as stub:
        yield stub


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "X_CONSUMER_KEY": "cli-consumer-key",
        "X_CONSUMER_SECRET": "cli-consumer-secret",
        "X_ACCESS_TOKEN": "cli-access-token",
        "X_ACCESS_TOKEN_SECRET": "cli-access-secret",
        "TWILIO_AUTH_TOKEN": "stub-auth-token-0000000000000000",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("NOTIFIER_DATABASE_URL", raising=False)


def write_config(
    tmp_path: Path, x_stub: XStub, hook: WebhookStub, twilio: TwilioStub | None = None
) -> Path:
    sms = ""
    if twilio is not None:
        sms = f"""
  sms:
    enabled: true
    settings:
      account_sid: {twilio.account_sid}
      auth_token: ${{TWILIO_AUTH_TOKEN}}
      from_number: "+16175550000"
      base_url: https://alerts.example.org
      api_base_url: {twilio.url}
      timeout: 2
"""
    path = tmp_path / "config.yaml"
    path.write_text(
        f"""
operator:
  name: CLI test
  contact: mailto:ops@example.org
database:
  url: sqlite:///{tmp_path / "notifier.db"}
web:
  public_url: https://alerts.example.org
channels:
  console:
    enabled: true
  x:
    enabled: true
    rate_limit: {{count: 10, per_seconds: 86400}}
    settings:
      consumer_key: ${{X_CONSUMER_KEY}}
      consumer_secret: ${{X_CONSUMER_SECRET}}
      access_token: ${{X_ACCESS_TOKEN}}
      access_token_secret: ${{X_ACCESS_TOKEN_SECRET}}
      api_base_url: {x_stub.url}
  apprise:
    enabled: false
    settings:
      targets:
        - json://127.0.0.1:{hook.port}/all
        - url: json://127.0.0.1:{hook.port}/nh
          regions: [NH]
{sms}"""
    )
    return path


def test_format_rate() -> None:
    assert format_rate(RateLimit(17, 86400)) == "17 / 24 h"
    assert format_rate(RateLimit(20, 720)) == "20 / 12 min"
    assert format_rate(RateLimit(1, 1.0)) == "1 / 1 s"
    assert format_rate(RateLimit(10, 0.1)) == "10 / 0.1 s"


def test_list_shows_every_channel_and_the_config(
    tmp_path: Path, env: None, cli_x_stub: XStub, cli_hook: WebhookStub
) -> None:
    path = write_config(tmp_path, cli_x_stub, cli_hook)
    result = CliRunner().invoke(app, ["list", "--config", str(path)], env=WIDE)
    assert result.exit_code == 0, result.output
    rows = {line.split("│")[1].strip(): line for line in result.output.splitlines() if "│" in line}
    cells = {name: [c.strip() for c in line.split("│")[2:-1]] for name, line in rows.items()}
    assert cells["x"] == ["broadcast", "280", "25", "10 / 24 h", "yes", "yes"]  # config's limit
    assert cells["apprise"] == ["broadcast", "1000", "10", "20 / 12 min", "yes", "no"]
    assert cells["sms"] == ["recipient", "160", "1", "1 / 1 s", "no", "no"]
    assert cells["console"][-2:] == ["yes", "yes"]


def test_list_works_without_a_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("NOTIFIER_CONFIG", raising=False)
    result = CliRunner().invoke(app, ["list"], env=WIDE)
    assert result.exit_code == 0, result.output
    assert "4 / 24 h" in result.output  # X's default for the free tier


def test_test_posts_to_x(
    tmp_path: Path, env: None, cli_x_stub: XStub, cli_hook: WebhookStub
) -> None:
    cli_x_stub.reset()
    path = write_config(tmp_path, cli_x_stub, cli_hook)
    result = CliRunner().invoke(app, ["test", "x", "--to", NUMBER, "--config", str(path)], env=WIDE)
    assert result.exit_code == 0, result.output
    (post,) = cli_x_stub.posts
    assert "(please ignore)" in post.text and "https://alerts.example.org" in post.text
    assert "--to is ignored" in result.output
    assert f"x: sent to its audience (broadcast) (id {post.id})" in result.output
    assert NUMBER not in result.output


def test_test_reports_a_final_failure(
    tmp_path: Path,
    env: None,
    cli_x_stub: XStub,
    cli_hook: WebhookStub,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("X_CONSUMER_KEY", "revoked-key")
    path = write_config(tmp_path, cli_x_stub, cli_hook)
    result = CliRunner().invoke(app, ["test", "x", "--config", str(path)], env=WIDE)
    assert result.exit_code == 1
    assert "x: not sent (final): X HTTP 401: Unauthorized" in result.output


def test_test_reaches_every_apprise_target_even_a_disabled_channel(
    tmp_path: Path, env: None, cli_x_stub: XStub, cli_hook: WebhookStub
) -> None:
    cli_hook.reset()
    path = write_config(tmp_path, cli_x_stub, cli_hook)
    result = CliRunner().invoke(app, ["test", "apprise", "--config", str(path)], env=WIDE)
    assert result.exit_code == 0, result.output
    assert "channels.apprise is disabled; testing it anyway" in result.output
    # The test alert is in Massachusetts, yet the New Hampshire target hears it too.
    assert sorted(r.path for r in cli_hook.requests) == ["/all", "/nh"]
    assert all("Channel test" in r.json["message"] for r in cli_hook.requests)


def test_test_sms_masks_the_number(
    tmp_path: Path, env: None, cli_x_stub: XStub, cli_hook: WebhookStub, twilio_stub: TwilioStub
) -> None:
    path = write_config(tmp_path, cli_x_stub, cli_hook, twilio_stub)
    result = CliRunner().invoke(
        app, ["test", "sms", "--to", NUMBER, "--config", str(path), "--locale", "es"], env=WIDE
    )
    assert result.exit_code == 0, result.output
    (request,) = twilio_stub.requests
    assert request.to == NUMBER and "Channel test" in (request.body or "")
    assert "1 cita" in (request.body or "")
    assert f"sms: sent to +1617***0123 (id {request.sid})" in result.output
    assert NUMBER not in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["test", "sms"], "sms sends to one recipient at a time: pass --to ADDRESS"),
        (["test", "email", "--to", "a@example.org"], "channels.email is not in"),
        (["test", "pigeon"], "no channel named 'pigeon'"),
    ],
)
def test_test_refuses_clearly(
    tmp_path: Path,
    env: None,
    cli_x_stub: XStub,
    cli_hook: WebhookStub,
    twilio_stub: TwilioStub,
    args: list[str],
    message: str,
) -> None:
    path = write_config(tmp_path, cli_x_stub, cli_hook, twilio_stub)
    result = CliRunner().invoke(app, [*args, "--config", str(path)], env=WIDE)
    assert result.exit_code == 2
    assert message in result.stderr
    assert twilio_stub.requests == []


def test_stats_counts_the_outbox(
    tmp_path: Path, env: None, cli_x_stub: XStub, cli_hook: WebhookStub
) -> None:
    path = write_config(tmp_path, cli_x_stub, cli_hook)
    runner = CliRunner()
    missing = runner.invoke(app, ["stats", "--config", str(path)], env=WIDE)
    assert missing.exit_code == 2 and "no database yet" in missing.stderr
    engine = make_engine(f"sqlite:///{tmp_path / 'notifier.db'}")
    upgrade(engine)
    plans = [ChannelPlan("x", "broadcast"), ChannelPlan("apprise", "broadcast")]
    with engine.begin() as conn:
        for i in range(4):
            write_alert(conn, make_alert(i), channels=plans, now=NOW)
        d = delivery_table.c
        conn.execute(update(delivery_table).where(d.channel == "x").values(state="sent"))
        conn.execute(
            update(delivery_table).where(d.channel == "x", d.alert_id == 1).values(state="failed")
        )
    engine.dispose()
    recent = runner.invoke(app, ["stats", "--config", str(path)], env=WIDE)
    assert recent.exit_code == 0 and "no deliveries in that period" in recent.output  # 2021
    result = runner.invoke(app, ["stats", "--config", str(path), "--hours", "1e6"], env=WIDE)
    assert result.exit_code == 0, result.output
    rows = {
        line.split("│")[1].strip(): [c.strip() for c in line.split("│")[2:-1]]
        for line in result.output.splitlines()
        if "│" in line
    }
    # pending held sending sent failed expired cancelled | failure rate
    assert rows["x"] == ["0", "0", "0", "3", "1", "0", "0", "25.0%"]
    assert rows["apprise"] == ["4", "0", "0", "0", "0", "0", "0", "-"]


def test_test_reports_invalid_settings_without_their_values(
    tmp_path: Path,
    env: None,
    cli_x_stub: XStub,
    cli_hook: WebhookStub,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A disabled channel may leave ${VAR}s unset, so `config check` passes; `test` must not.
    monkeypatch.delenv("OPS_URL", raising=False)
    path = write_config(tmp_path, cli_x_stub, cli_hook)
    targets = f"        - json://127.0.0.1:{cli_hook.port}/all\n"
    path.write_text(path.read_text().replace(targets, targets + "        - ${OPS_URL}\n"))
    result = CliRunner().invoke(app, ["test", "apprise", "--config", str(path)], env=WIDE)
    assert result.exit_code == 2, result.output
    assert (
        "channels.apprise.settings.targets.1: Value error, the target is empty: is its "
        "${ENV_VAR} set?" in result.stderr
    )


def test_x_without_its_variables_says_so(
    tmp_path: Path,
    env: None,
    cli_x_stub: XStub,
    cli_hook: WebhookStub,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("X_CONSUMER_KEY", "X_CONSUMER_SECRET", "X_ACCESS_TOKEN", "X_ACCESS_TOKEN_SECRET"):
        monkeypatch.delenv(name)
    path = write_config(tmp_path, cli_x_stub, cli_hook)
    path.write_text(path.read_text().replace("  x:\n    enabled: true", "  x:\n    enabled: false"))
    result = CliRunner().invoke(app, ["test", "x", "--config", str(path)], env=WIDE)
    assert result.exit_code == 1
    assert "x: not sent (final): no X credentials: are their ${ENV_VAR}s set?" in result.output
