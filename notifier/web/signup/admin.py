"""The admin API (``web.admin_token``): subscriber counts, provider health, opening a group.

Every route needs ``Authorization: Bearer <token>``. A missing, malformed or wrong token all
get the same 401 with the same body, and the comparison is constant-time (HMAC digests of
both sides), so the answer leaks nothing about how close a guess was.

* ``GET /admin/subscribers``: active / pending / left per region and channel.
* ``GET /admin/providers``: each provider's last success, last error, down or held state.
* ``POST /admin/eligibility/{group}/open`` with an optional JSON body
  ``{"postal_code": "02115", "country": "US", "regions": ["MA"]}``: open the group.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from sqlalchemy import Engine

from notifier.config import SignupConfig
from notifier.db import providers, signups
from notifier.pipeline.eligibility import open_eligibility

__all__ = ["register_admin"]

_UNAUTHORIZED = {"error": "unauthorized", "fix": "send the header Authorization: Bearer <token>"}
_DIGEST_KEY = b"notifier.web.admin"


def _digest(value: str) -> bytes:
    return hmac.new(_DIGEST_KEY, value.encode("utf-8", "replace"), hashlib.sha256).digest()


def _authorized(request: Request, expected: bytes) -> bool:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    given = token.strip() if scheme.lower() == "bearer" else ""
    # Always compare, even for a missing header, so both paths take the same time.
    return hmac.compare_digest(_digest(given), expected) and bool(given)


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def register_admin(
    app: FastAPI,
    engine: Engine,
    *,
    token: str,
    settings: SignupConfig,
    clock: Callable[[], dt.datetime],
) -> None:
    expected = _digest(token)
    router = APIRouter(prefix="/admin", tags=["admin"])

    def denied(request: Request) -> JSONResponse | None:
        if _authorized(request, expected):
            return None
        return JSONResponse(_UNAUTHORIZED, 401, headers={"WWW-Authenticate": "Bearer"})

    def counts() -> list[dict[str, Any]]:
        with engine.connect() as conn:
            return signups.subscriber_counts(conn)

    def health() -> list[dict[str, Any]]:
        with engine.connect() as conn:
            rows = providers.provider_status(conn)
        return [
            {
                "provider": r.provider_id,
                "scraper": r.scraper,
                "healthy": r.down_since is None and r.held_since is None,
                "last_success_at": _iso(r.last_success_at),
                "last_error_at": _iso(r.last_error_at),
                "last_error_kind": r.last_error_kind,
                "down_since": _iso(r.down_since),
                "held_since": _iso(r.held_since),
                "held_reason": r.held_reason,
                "locations": r.locations,
                "open_appointments": r.open_appointments,
            }
            for r in rows
        ]

    @router.get("/subscribers")
    async def subscriber_counts(request: Request) -> JSONResponse:
        if (answer := denied(request)) is not None:
            return answer
        return JSONResponse({"subscribers": await run_in_threadpool(counts)})

    @router.get("/providers")
    async def provider_health(request: Request) -> JSONResponse:
        if (answer := denied(request)) is not None:
            return answer
        return JSONResponse({"providers": await run_in_threadpool(health)})

    @router.post("/eligibility/{group}/open")
    async def open_group(group: str, request: Request) -> JSONResponse:
        if (answer := denied(request)) is not None:
            return answer
        body = await request.body()
        try:
            options = json.loads(body) if body.strip() else {}
        except ValueError:
            options = None
        if not isinstance(options, dict) or len(body) > 4096:
            return JSONResponse(
                {"error": 'the body must be a small JSON object, e.g. {"postal_code": "02115"}'},
                400,
            )
        regions = options.get("regions") or []
        postal = options.get("postal_code")
        country = options.get("country") or "US"
        if not isinstance(regions, list) or not all(isinstance(r, str) for r in regions):
            return JSONResponse({"error": "regions must be a list of region codes"}, 400)
        if not isinstance(postal, str | None) or not isinstance(country, str):
            return JSONResponse({"error": "postal_code and country must be strings"}, 400)

        def run() -> Any:
            return open_eligibility(
                engine,
                group,
                settings=settings,
                postal_code=postal,
                country=country.upper(),
                regions=regions,
                now=clock(),
            )

        try:
            opening = await run_in_threadpool(run)
        except ValueError as exc:
            return JSONResponse({"error": str(exc)}, 400)
        return JSONResponse(
            {
                "group": opening.group,
                "newly_opened": opening.newly_opened,
                "notices": opening.notices,
                "waves": opening.waves,
            }
        )

    app.include_router(router)
