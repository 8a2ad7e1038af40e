"""What each route answers, for ``/openapi.json``: every status and content type it can send.

The schema is a contract that the tests check every route against (schemathesis), so a
route that answers a status it does not declare here fails them, as does a 5xx.
"""

from __future__ import annotations

from typing import Any

__all__ = ["HTML", "JSON_ERROR", "TEXT", "XML", "answers", "form_body"]

TEXT = {"text/plain": {"schema": {"type": "string"}}}
HTML = {"text/html": {"schema": {"type": "string"}}}
XML = {"application/xml": {"schema": {"type": "string"}}}
JSON_ERROR = {
    "application/json": {
        "schema": {
            "type": "object",
            "properties": {"detail": {"type": "string"}},
            "required": ["detail"],
        }
    }
}

_WHY = {
    200: "OK",
    204: "Recorded",
    302: "Redirect to the booking page",
    400: "Unreadable or invalid input (the message says which)",
    403: "Not signed by Twilio for this URL",
    404: "Not found",
    408: "The request body did not arrive in time",
    413: "The request body is too large",
    415: "The body is not a form",
    503: "The database is unreachable",
}


def answers(content: dict[str, Any] | None, *statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route that answers ``statuses``, each with ``content``
    (``None``: no body). Body limits (408, 413: plain text) apply to every route."""
    documented: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        entry: dict[str, Any] = {"description": _WHY.get(status, "Answer")}
        if content is not None:
            entry["content"] = content
        documented[status] = entry
    for status in (408, 413):
        documented.setdefault(status, {"description": _WHY[status], "content": TEXT})
    return documented


def form_body(fields: dict[str, dict[str, Any]], required: list[str]) -> dict[str, Any]:
    """``openapi_extra`` describing an ``application/x-www-form-urlencoded`` body that the
    route reads itself (to check a signature over the exact fields)."""
    schema = {"type": "object", "properties": fields, "required": required}
    return {
        "requestBody": {
            "required": True,
            "content": {"application/x-www-form-urlencoded": {"schema": schema}},
        }
    }
