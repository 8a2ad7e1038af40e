"""``notifier run``, ``poll``, ``status`` and ``db upgrade``: operating the service."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from notifier.cli.config import ConfigOption, load_or_exit
from notifier.config import Config, EnvSettings
from notifier.heap import freeze_startup_heap
from notifier.logs import setup_logging
from notifier.pipeline.coordinator import PollOutcome, ProviderCoordinator
from notifier.pipeline.fetch import PoliteClient
from notifier.scraping import get_scraper

__all__ = ["db_app", "demo", "poll", "run", "status"]

logger = logging.getLogger("notifier.run")

db_app = typer.Typer(help="Manage the database.", no_args_is_help=True)


def _database_url(config: Config) -> str:
    return EnvSettings().database_url or config.database.url


@db_app.command("upgrade")
def db_upgrade(config: ConfigOption = None) -> None:
    """Create or migrate the database schema to the newest version (SQLite or PostgreSQL)."""
    from notifier.db.engine import upgrade

    loaded = load_or_exit(config)
    url = _database_url(loaded)
    change = upgrade(url)
    where = url.split("@")[-1]  # never print the password part of the URL
    Console(highlight=False).print(f"[green]{change.describe()}[/green] ({where})")


def _listening_on(web: Any, host: str, port: int) -> str:
    """http://host:port as bound (port 0 in the config means any free port)."""
    for server in getattr(web, "servers", None) or ():
        for sock in server.sockets:
            bound_host, bound_port = sock.getsockname()[:2]
            return f"http://{_url_host(bound_host)}:{bound_port}"
    return f"http://{_url_host(host)}:{port}"


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def run(
    config: ConfigOption = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log debug details.")] = False,
) -> None:
    """Run the service: poll providers, deliver alerts and serve the web endpoints until SIGTERM."""
    from notifier.pipeline.poll import Runtime
    from notifier.pipeline.service import Service

    setup_logging(logging.DEBUG if verbose else logging.INFO)
    loaded = load_or_exit(config)
    loaded = loaded.model_copy(
        update={"database": loaded.database.model_copy(update={"url": _database_url(loaded)})}
    )
    if loaded.engine == "procrastinate":
        typer.echo(
            "error: engine: procrastinate runs as `notifier worker` and `notifier web`"
            " processes (see docs/deployment.md); `notifier run` is the single-process mode."
            " Fix: start those, or set engine: apscheduler.",
            err=True,
        )
        raise typer.Exit(2)

    async def main() -> None:
        from notifier.web.app import create_app
        from notifier.web.public.routes import start_publisher
        from notifier.web.serve import start_web

        runtime = Runtime.build(loaded)
        app = create_app(loaded, engine=runtime.engine)
        web, web_task = await start_web(app, loaded.web.host, loaded.web.port)
        logger.info(
            "web app listening on %s, public URL %s",
            _listening_on(web, loaded.web.host, loaded.web.port),
            loaded.web.public_url,
        )
        freeze_startup_heap()  # the runtime and the web app have loaded everything
        stop_publishing = asyncio.Event()
        publishing = start_publisher(app, runtime.on_poll, stop_publishing)
        try:
            await Service(runtime).run_until_signalled()
        finally:
            stop_publishing.set()
            await publishing
            web.should_exit = True
            await web_task
            await runtime.aclose()

    asyncio.run(main())


def poll(
    provider: Annotated[str, typer.Argument(help="A provider id from the config file.")],
    config: ConfigOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Poll one provider once, as a dry run: nothing is stored and nobody is alerted."""
    setup_logging(logging.WARNING)
    loaded = load_or_exit(config)
    matches = [p for p in loaded.providers if p.id == provider]
    if not matches:
        known = ", ".join(p.id for p in loaded.providers) or "none"
        typer.echo(f"error: no provider {provider!r} in the config; known: {known}", err=True)
        raise typer.Exit(2)
    chosen = matches[0]
    scraper_cls = get_scraper(chosen.scraper)

    async def once() -> PollOutcome:
        async with PoliteClient(loaded.http) as client:
            coordinator = ProviderCoordinator(
                chosen.id, scraper_cls(chosen.settings), client, interval=0
            )
            return await coordinator.poll()

    with Console(stderr=True).status(f"polling {chosen.id}…"):
        outcome = asyncio.run(once())
    if as_json:
        json.dump(
            {
                "provider": chosen.id,
                "outcome": outcome.outcome,
                "error": outcome.error,
                "http_status": outcome.http_status,
                "bytes": outcome.bytes,
                "duration_ms": outcome.duration_ms,
                "locations": [r.to_json() for r in outcome.results or ()],
            },
            sys.stdout,
            indent=2,
        )
        sys.stdout.write("\n")
    else:
        table = Table(title=f"{chosen.id}: {outcome.outcome} in {outcome.duration_ms} ms")
        for column in ("location", "postal code", "status", "appointments", "booking link"):
            table.add_column(column)
        for r in outcome.results or ():
            table.add_row(
                r.location.name,
                r.location.postal_code or "",
                r.status.value,
                "" if r.appointments is None else f"{r.appointments:,}",
                r.location.booking_url or "",
            )
        Console().print(table)
    if outcome.results is None:
        typer.echo(f"{outcome.outcome}: {outcome.error}", err=True)
        raise typer.Exit(2)


def status(config: ConfigOption = None) -> None:
    """Every configured provider: up, partial, down (since when) or never polled, and its
    numbers; the numbers of a provider that is down are the last known ones, marked stale."""
    import datetime as dt

    from notifier.db.engine import make_engine, upgrade
    from notifier.db.health import provider_health

    loaded = load_or_exit(config)
    engine = make_engine(_database_url(loaded))
    upgrade(engine)
    now = dt.datetime.now(dt.UTC)
    with engine.connect() as conn:
        reports = provider_health(conn, [p.id for p in loaded.providers], now)
    table = Table(title="providers")
    for column in ("provider", "state", "last success", "note", "locations", "open appointments"):
        table.add_column(column)
    for report in reports:
        state = report.state.upper() if report.state in ("down", "held") else report.state
        if report.since is not None:
            state += f" since {report.since:%Y-%m-%d %H:%M:%S}"
        down_for = report.down_for(now)
        if down_for is not None:
            state += f" ({_duration(down_for)})"
        never = report.state == "never polled"
        stale = " (stale)" if report.stale and not never else ""
        table.add_row(
            report.provider_id,
            state,
            f"{report.last_success_at:%Y-%m-%d %H:%M:%S}" if report.last_success_at else "never",
            report.last_error or "",
            "" if never else f"{report.available_locations}/{report.locations} open{stale}",
            "" if never else f"{report.open_appointments:,}{stale}",
        )
    Console().print(table)
    engine.dispose()


def _duration(span: Any) -> str:
    minutes = int(span.total_seconds() // 60)
    return f"{minutes // 60} h {minutes % 60} min" if minutes >= 60 else f"{minutes} min"


def demo(
    duration: Annotated[
        float, typer.Option("--duration", min=15, help="Seconds the whole demo takes.")
    ] = 60.0,
    subscribers: Annotated[
        int, typer.Option("--subscribers", min=0, help="Synthetic subscribers to create.")
    ] = 3000,
    database: Annotated[
        Path | None, typer.Option("--db", help="Keep the demo database here (default: temp).")
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Also print the summary as JSON.")
    ] = False,
) -> None:
    """Replay the 8 a.m. release against a local simulator and watch the whole chain run."""
    from notifier.demo.run import report_as_dict, run_demo

    setup_logging(logging.WARNING)
    report = asyncio.run(run_demo(duration, subscriber_count=subscribers, database=database))
    if as_json:
        typer.echo(json.dumps(report_as_dict(report), indent=2))
