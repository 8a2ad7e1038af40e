"""Reading a Twilio webhook: the form body, checked against ``X-Twilio-Signature``.

Twilio signs the exact URL it called (scheme, host, path, query) plus the sorted form fields
with the account's auth token. Behind a proxy the app sees another URL, so the public one is
rebuilt from configuration, never from the request's Host header (which a caller controls).
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from fastapi import HTTPException, Request
from starlette.datastructures import ImmutableMultiDict
from twilio.request_validator import RequestValidator

__all__ = ["MAX_FORM_BYTES", "public_url", "read_signed_form", "require"]

MAX_FORM_BYTES = 64 * 1024  # Twilio's webhooks are a few hundred bytes; an SMS body <= 1,600 chars
MAX_FIELDS = 200


def public_url(base_url: str, request: Request) -> str:
    """The URL Twilio called: the configured public base plus this request's path and query."""
    url = base_url.rstrip("/") + request.url.path
    if request.url.query:
        url += "?" + request.url.query
    return url


async def read_signed_form(
    request: Request, auth_token: str, signed_url: str
) -> ImmutableMultiDict[str, str]:
    """The form fields of a genuine Twilio request; raises 4xx ``HTTPException`` otherwise.

    415 for a body that is not a form, 413 when too large, 400 when unreadable, 403 when the
    signature is missing or does not match ``signed_url``.
    """
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        raise HTTPException(
            415,
            "expected a form (application/x-www-form-urlencoded) as Twilio sends, "
            f"got {content_type or 'no content type'}",
        )
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise HTTPException(413, f"form larger than {MAX_FORM_BYTES} bytes")
    try:
        pairs = parse_qsl(
            body.decode("utf-8"),
            keep_blank_values=True,
            strict_parsing=bool(body),
            max_num_fields=MAX_FIELDS,
            errors="strict",  # a mis-encoded field is an error, not U+FFFD
        )
    except (UnicodeDecodeError, ValueError) as exc:
        raise HTTPException(400, f"unreadable form body: {exc}") from None
    form: ImmutableMultiDict[str, str] = ImmutableMultiDict(pairs)
    signature = request.headers.get("x-twilio-signature")
    if not signature:
        raise HTTPException(403, "missing X-Twilio-Signature header: only Twilio may call this")
    if not RequestValidator(auth_token).validate(signed_url, form, signature):
        raise HTTPException(
            403,
            "X-Twilio-Signature does not match this request. If Twilio sent it, check that "
            "auth_token is the account's and that base_url is the public URL Twilio calls.",
        )
    return form


def require(form: ImmutableMultiDict[str, str], *names: str) -> list[str]:
    """The values of required fields; 400 naming every missing one."""
    missing = [name for name in names if not form.get(name, "").strip()]
    if missing:
        raise HTTPException(400, f"missing form field(s): {', '.join(missing)}")
    return [form[name].strip() for name in names]
