"""``notifier eligibility open GROUP``: opens the group and queues its members' notices."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select
from typer.testing import CliRunner

from notifier.cli.app import app
from notifier.db import subscribers
from notifier.db.engine import make_engine, upgrade, write_transaction
from notifier.db.tables import notice_table


def _config(tmp_path: Path) -> tuple[Path, str]:
    url = f"sqlite:///{tmp_path / 'subscribers.db'}"
    path = tmp_path / "config.yaml"
    path.write_text(f"""\
operator: {{name: CLI test, contact: "mailto:ops@example.org"}}
database: {{url: "{url}"}}
web:
  signup: {{eligibility_groups: [65plus, conditions], notice_wave_size: 1}}
""")
    return path, url


def test_opening_a_group_queues_notices_nearest_first(tmp_path: Path) -> None:
    config, url = _config(tmp_path)
    engine = make_engine(url)
    upgrade(engine)
    ids = {}
    with write_transaction(engine) as conn:
        for name, (address, code) in {
            "springfield": ("+14135550101", "01103"),
            "boston": ("+16175550101", "02115"),
        }.items():
            sub_id, token = subscribers.add_subscriber(
                conn,
                channel="sms",
                address=address,
                postal_code=code,
                radius_miles=10,
                eligibility_group="65plus",
            )
            subscribers.confirm(conn, token)
            ids[name] = sub_id
    result = CliRunner().invoke(
        app, ["eligibility", "open", "65plus", "--config", str(config), "--postal-code", "02139"]
    )
    assert result.exit_code == 0, result.output
    assert "group 65plus opened: 2 notice(s) queued in 2 wave(s)" in result.output
    with engine.connect() as conn:
        order = conn.execute(
            select(notice_table.c.subscriber_id).order_by(notice_table.c.rank)
        ).scalars()
        assert list(order) == [ids["boston"], ids["springfield"]]

    again = CliRunner().invoke(app, ["eligibility", "open", "65plus", "--config", str(config)])
    assert again.exit_code == 0 and "was already open: 0 notice(s)" in again.output
    engine.dispose()


def test_an_unknown_group_or_postal_code_exits_2_with_the_fix(tmp_path: Path) -> None:
    config, _ = _config(tmp_path)
    unknown = CliRunner().invoke(app, ["eligibility", "open", "everyone", "--config", str(config)])
    assert unknown.exit_code == 2
    assert "known groups: 65plus, conditions" in unknown.output
    bad_code = CliRunner().invoke(
        app, ["eligibility", "open", "65plus", "--config", str(config), "--postal-code", "0"]
    )
    assert bad_code.exit_code == 2 and "unknown postal code" in bad_code.output
