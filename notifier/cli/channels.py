"""``notifier channels list|test|stats``: what can deliver, does it work, how is it doing.

* ``list``: every registered channel with its audience, limits, and whether config.yaml
  configures and enables it.
* ``test CHANNEL --to ADDRESS``: one real message through the configured channel (a clearly
  labelled test alert); ``--to`` is the recipient of per-recipient channels and is ignored by
  broadcast channels. Prints the message and the result; the address only masked.
* ``stats``: deliveries per channel and state from the outbox (the database), so it works from
  any process; the running service's in-memory ``notifier.pipeline.metrics`` are not reachable here.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table
from sqlalchemy.engine import make_url

from notifier.channel import (
    Audience,
    Channel,
    Message,
    RateLimit,
    Recipient,
    SendResult,
    channel_registry,
    get_channel,
)
from notifier.cli.config import ConfigOption, config_path, load_or_exit
from notifier.config import ChannelConfig, Config, EnvSettings
from notifier.model import Alert, Location
from notifier.privacy import mask

__all__ = ["app", "format_rate", "sample_alert"]

app = typer.Typer(
    help="Delivery channels: list them, send a test message, delivery counts.",
    no_args_is_help=True,
)

_STATES = ("pending", "held", "sending", "sent", "failed", "expired", "cancelled")


def format_rate(rate: RateLimit) -> str:
    """``17 / 24 h``, ``1 / 1 s``, ``20 / 12 min``."""
    seconds = rate.per_seconds
    for unit, size in (("h", 3600.0), ("min", 60.0)):
        if seconds >= size and seconds % size == 0:
            return f"{rate.count} / {seconds / size:g} {unit}"
    return f"{rate.count} / {seconds:g} s"


def sample_alert(now: dt.datetime, booking_url: str) -> Alert:
    """A realistic alert that says it is a test; the time keeps repeated tests distinct (X
    refuses duplicate posts)."""
    today = now.date()
    return Alert(
        provider_id="channel-test",
        location=Location(
            id="channel-test",
            name=f"Channel test {now:%H:%M} UTC (please ignore)",
            city="Boston",
            state="MA",
            postal_code="02215",
            time_zone="America/New_York",
            booking_url=booking_url,
        ),
        kind="opened",
        appointments=1,
        increase=1,
        by_date={today: 1},
        products=(),
        age_groups=(),
        detected_at=now,
        expires_at=now + dt.timedelta(hours=1),
    )


def _load_optional(option: Path | None) -> Config | None:
    """The config when one is given or the default file exists; listing works without one."""
    if option is None and not config_path(None).exists():
        return None
    return load_or_exit(option)


def _instance(cls: type[Channel], section: ChannelConfig | None) -> Channel | None:
    if section is None:
        return None
    try:
        return cls(section.settings)
    except (ValidationError, ValueError):
        return None  # unset ${VAR}s of a disabled channel: fall back to class defaults


def _error(message: str) -> typer.Exit:
    Console(stderr=True, highlight=False).print(message, markup=False, soft_wrap=True)
    return typer.Exit(2)


@app.command("list")
def list_channels(config: ConfigOption = None) -> None:
    """Every registered channel: audience, max length, batch, rate limit, configured/enabled."""
    loaded = _load_optional(config)
    table = Table(title="channels")
    for column in (
        "channel",
        "audience",
        "max length",
        "max batch",
        "rate limit",
        "configured",
        "enabled",
    ):
        table.add_column(column)
    for name, cls in channel_registry().items():
        section = loaded.channels.get(name) if loaded else None
        instance = _instance(cls, section)
        source: Any = instance if instance is not None else cls
        rate = source.rate_limit
        if section is not None and section.rate_limit is not None:
            rate = RateLimit(section.rate_limit.count, section.rate_limit.per_seconds)
        max_length = source.max_length
        audience = cls.audience.value
        table.add_row(
            name,
            audience,
            "-" if max_length is None else str(max_length),
            str(cls.max_batch),
            format_rate(rate),
            "yes" if section is not None else "no",
            "yes" if section is not None and section.enabled else "no",
        )
    Console().print(table)


async def _send(channel: Channel, message: Message) -> SendResult:
    try:
        return await channel.send(message)
    finally:
        await channel.aclose()


@app.command("test")
def send_test(
    channel: Annotated[str, typer.Argument(help="Channel name, as in `notifier channels list`.")],
    to: Annotated[
        str | None,
        typer.Option(
            "--to", help="Recipient address (phone, email); ignored by broadcast channels."
        ),
    ] = None,
    config: ConfigOption = None,
    locale: Annotated[str, typer.Option(help="Language of a per-recipient test.")] = "en",
) -> None:
    """Send one real test message through the configured channel and print the outcome."""
    loaded = load_or_exit(config)
    try:
        cls = get_channel(channel)
    except KeyError as exc:
        raise _error(str(exc.args[0])) from None
    section = loaded.channels.get(channel)
    if section is None:
        raise _error(f"channels.{channel} is not in {config_path(config)}: add it to test it")
    console = Console(highlight=False)
    if not section.enabled:
        console.print(f"note: channels.{channel} is disabled; testing it anyway")
    try:
        instance = cls(section.settings)
    except ValidationError as exc:
        # Each error's place and message only: pydantic's full text may quote a secret input.
        problems = "\n".join(
            f"  channels.{channel}.settings.{'.'.join(map(str, e['loc'])) or '(all)'}: {e['msg']}"
            for e in exc.errors()
        )
        raise _error(f"channels.{channel}.settings are not valid:\n{problems}") from None
    recipient = None
    if cls.audience is Audience.RECIPIENT:
        if not to:
            raise _error(f"{channel} sends to one recipient at a time: pass --to ADDRESS")
        recipient = Recipient(subscriber_id=0, address=to, locale=locale)
        who = mask(to)
    else:
        if to:
            console.print(f"note: {channel} is a broadcast channel; --to is ignored")
        who = "its audience (broadcast)"
    now = dt.datetime.now(dt.UTC)
    alert = sample_alert(now, loaded.web.public_url)
    compose = getattr(instance, "compose_test", instance.compose)
    message = compose([alert], recipient)
    message = replace(message, idempotency_key=f"test:{channel}:{now.timestamp():.0f}")
    console.print(f"sending to {who}:")
    for part in message.parts or (message.text,):
        console.print(f"  {part}", markup=False, soft_wrap=True)
    result = asyncio.run(_send(instance, message))
    if result.ok:
        ident = f" (id {result.provider_message_id})" if result.provider_message_id else ""
        console.print(f"[green]{channel}: sent to {who}{ident}[/green]")
        return
    kind = "will be retried in service" if result.transient else "final"
    console.print(f"[red]{channel}: not sent ({kind}): {result.error}[/red]", soft_wrap=True)
    raise typer.Exit(1)


def _database_exists(url: str) -> bool:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        return database not in ("", ":memory:") and Path(database).exists()
    return True


@app.command("stats")
def stats(
    config: ConfigOption = None,
    hours: Annotated[float, typer.Option(help="Deliveries created in the last HOURS.")] = 24.0,
) -> None:
    """Deliveries per channel and state in the outbox, and each channel's failure rate."""
    from notifier.db.engine import has_table, make_engine
    from notifier.db.outbox import delivery_counts

    loaded = load_or_exit(config)
    url = EnvSettings().database_url or loaded.database.url
    if not _database_exists(url):
        raise _error("no database yet: run `notifier db upgrade` (or the service) first")
    engine = make_engine(url)
    since = dt.datetime.now(dt.UTC) - dt.timedelta(hours=hours)
    try:
        with engine.connect() as conn:
            if not has_table(conn, "delivery"):
                raise _error("the database has no outbox yet: run `notifier db upgrade` first")
            rows = delivery_counts(conn, since)
    finally:
        engine.dispose()
    counts: dict[str, dict[str, int]] = {}
    for (channel, state), n in rows.items():
        counts.setdefault(channel, {})[state] = n
    table = Table(title=f"deliveries of the last {hours:g} h")
    for column in ("channel", *_STATES, "failure rate"):
        table.add_column(column)
    for channel, by_state in sorted(counts.items()):
        finished = by_state.get("sent", 0) + by_state.get("failed", 0)
        rate = f"{by_state.get('failed', 0) / finished:.1%}" if finished else "-"
        table.add_row(channel, *(str(by_state.get(s, 0)) for s in _STATES), rate)
    Console().print(table if counts else "no deliveries in that period")
