"""``notifier worker`` and ``notifier web``: the processes of multi-node mode.

Run any number of each, on any number of machines, against one PostgreSQL database
(``engine: procrastinate``; see docs/deployment.md). ``notifier db upgrade`` first: workers
never migrate on start, so a fleet starting at once cannot race on the schema.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Annotated

import typer
from pydantic import ValidationError

from notifier.cli.config import ConfigOption, load_or_exit
from notifier.config import Config, EnvSettings, WorkersConfig
from notifier.heap import freeze_startup_heap
from notifier.logs import setup_logging

__all__ = ["web", "worker"]


def _with_env_database(loaded: Config) -> Config:
    url = EnvSettings().database_url or loaded.database.url
    return loaded.model_copy(update={"database": loaded.database.model_copy(update={"url": url})})


def _with_concurrency(loaded: Config, concurrency: int) -> Config:
    """The config with ``--concurrency`` in place of ``workers.concurrency``, held to the
    same rules as the file's value (the database pool needs a connection for every job)."""
    try:
        workers = WorkersConfig.model_validate(
            {**loaded.workers.model_dump(), "concurrency": concurrency}
        )
    except ValidationError as error:
        messages = [e["msg"] for e in error.errors()]
        typer.echo(f"error: --concurrency {concurrency}: {'; '.join(messages)}", err=True)
        raise typer.Exit(2) from None
    changed = loaded.model_copy(update={"workers": workers})
    broken = changed.broken_rules()
    for _where, problem, fix in broken:
        typer.echo(f"error: --concurrency {concurrency}: {problem}. Fix: {fix}", err=True)
    if broken:
        raise typer.Exit(2)
    return changed


def _require_procrastinate(loaded: Config, command: str) -> None:
    if loaded.engine != "procrastinate":
        typer.echo(
            f"error: `notifier {command}` is for multi-node mode. Fix: set `engine: procrastinate`"
            " and a postgresql+psycopg:// database.url in the config, or use `notifier run`"
            " for the single-process setup.",
            err=True,
        )
        raise typer.Exit(2)


def worker(
    config: ConfigOption = None,
    queues: Annotated[
        str,
        typer.Option(
            "--queues",
            help="Comma-separated queues to work: poll (ticks, polls, the failure-rate watch),"
            " send (alerts, confirmations and eligibility notices).",
        ),
    ] = "poll,send",
    concurrency: Annotated[
        int | None,
        typer.Option(
            "--concurrency",
            min=1,
            help="Jobs this process runs at once. Default: workers.concurrency in the config.",
        ),
    ] = None,
    name: Annotated[str | None, typer.Option("--name", help="Worker name in logs.")] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log debug details.")] = False,
) -> None:
    """Run a job-queue worker: polls providers, sends alerts and notices, watches the channels'
    failure rates, until SIGTERM."""
    from notifier.pipeline.engine_procrastinate import (
        POLL_QUEUE,
        SEND_QUEUE,
        WorkerSettings,
        run_worker,
    )
    from notifier.pipeline.runtime import Runtime

    setup_logging(logging.DEBUG if verbose else logging.INFO)
    loaded = _with_env_database(load_or_exit(config))
    _require_procrastinate(loaded, "worker")
    chosen = [q.strip() for q in queues.split(",") if q.strip()]
    unknown = sorted(set(chosen) - {POLL_QUEUE, SEND_QUEUE})
    if unknown or not chosen:
        typer.echo(
            f"error: unknown queue(s) {', '.join(unknown) or '(none)'}; use poll, send", err=True
        )
        raise typer.Exit(2)
    if concurrency is not None:
        loaded = _with_concurrency(loaded, concurrency)
    settings = WorkerSettings(queues=tuple(chosen), name=name)

    async def main() -> None:
        runtime = Runtime.build(loaded, migrate=False, shared_limits=True)
        freeze_startup_heap()  # everything loaded; see notifier.heap
        try:
            await run_worker(runtime, settings)
        finally:
            await runtime.aclose()

    asyncio.run(main())


def web(
    config: ConfigOption = None,
    host: Annotated[str | None, typer.Option("--host", help="Default: web.host.")] = None,
    port: Annotated[int | None, typer.Option("--port", help="Default: web.port.")] = None,
) -> None:
    """Serve the residents' pages, the API and the provider webhooks (no polling, no sending)."""
    from notifier.web.app import create_app
    from notifier.web.serve import serve_web

    setup_logging(logging.INFO)
    loaded = _with_env_database(load_or_exit(config))
    app = create_app(loaded)
    serve_web(app, host or loaded.web.host, port or loaded.web.port, proxy_headers=True)
