"""``GET /metrics``: the Prometheus scrape endpoint of the web app.

What it reports is described in ``notifier.pipeline.prometheus``; the example alert rules are
in ``docs/prometheus/alerts.yml``. Keep it off the public internet (a reverse proxy rule or a
separate listener): it names providers and channel volumes, though never a person.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from sqlalchemy import Engine

from notifier.config import Config
from notifier.pipeline.prometheus import CONTENT_TYPE, metrics_registry, render_metrics

__all__ = ["register_metrics"]


def register_metrics(app: FastAPI, engine: Engine | None, config: Config | None) -> None:
    registry = metrics_registry(engine, config)

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        body = await run_in_threadpool(render_metrics, registry)  # reads the database
        return Response(body, media_type=CONTENT_TYPE)
