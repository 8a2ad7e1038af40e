"""A small pool of open SMTP connections (aiosmtplib), reused across sends.

Opening a connection costs a TCP handshake, often a TLS handshake and a login: several round
trips and far more CPU than the message itself. The pool keeps up to ``size`` connections
open, hands each to one sender at a time (SMTP is one transaction at a time per connection),
and replaces a connection that broke. A connection idle for longer than ``idle_check_seconds``
is checked with NOOP before use, because servers close idle sessions without telling us.

``send_transaction`` runs one MAIL / RCPT / DATA exchange on such a connection.

The pool binds to the running event loop on first use; used from a new loop, it forgets the
old loop's connections (they cannot be closed from another loop).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass

import aiosmtplib

__all__ = ["PooledConnection", "SmtpPool", "send_transaction"]

# Errors after which the connection is still in a clean state: the server answered a command
# with a refusal, and aiosmtplib has already reset the envelope (RSET).
_CLEAN_FAILURES = (aiosmtplib.SMTPResponseException, aiosmtplib.SMTPRecipientsRefused)


@dataclass
class PooledConnection:
    smtp: aiosmtplib.SMTP
    last_used: float
    #: True when the connection came from the pool rather than being opened for this use
    reused: bool = False


class SmtpPool:
    """Up to ``size`` open connections made by ``factory`` (an unconnected ``SMTP``)."""

    def __init__(
        self,
        factory: Callable[[], aiosmtplib.SMTP],
        size: int,
        *,
        idle_check_seconds: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if size < 1:
            raise ValueError("an SMTP pool needs at least one connection")
        self.size = size
        self.idle_check_seconds = idle_check_seconds
        self._factory = factory
        self._clock = clock
        self._idle: list[PooledConnection] = []
        self._slots: asyncio.Semaphore | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        #: connections opened so far (a reused pool opens few)
        self.opened = 0

    @property
    def idle_connected(self) -> int:
        """Idle connections whose transport is still open (a server may close the others)."""
        return sum(1 for conn in self._idle if conn.smtp.is_connected)

    def _bind(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        if self._slots is None or self._loop is not loop:
            self._idle.clear()
            self._slots = asyncio.Semaphore(self.size)
            self._loop = loop
        return self._slots

    @asynccontextmanager
    async def connection(self, *, fresh: bool = False) -> AsyncIterator[PooledConnection]:
        """Borrow a connected ``SMTP`` (a newly opened one when ``fresh``).

        Connection errors (``SMTPConnectError``, ``SMTPAuthenticationError``, timeouts) are
        raised from here. The connection goes back to the pool unless it broke: an SMTP
        refusal leaves it usable, anything else (a timeout, a cancelled send halfway through
        a command) closes it, so the next sender never reads a stale reply.
        """
        async with self._bind():
            conn = await self._checkout(fresh)
            try:
                yield conn
            except BaseException as exc:
                if not isinstance(exc, _CLEAN_FAILURES):
                    conn.smtp.close()
                raise
            finally:
                self._checkin(conn)

    async def _checkout(self, fresh: bool) -> PooledConnection:
        now = self._clock()
        while self._idle and not fresh:
            conn = self._idle.pop()  # the most recently used is the least likely to be stale
            if not conn.smtp.is_connected:
                continue
            if now - conn.last_used > self.idle_check_seconds:
                try:
                    await conn.smtp.noop()
                except (aiosmtplib.SMTPException, OSError):
                    conn.smtp.close()
                    continue
            conn.reused = True
            return conn
        smtp = self._factory()
        try:
            await smtp.connect()
        except BaseException:
            smtp.close()
            raise
        self.opened += 1
        return PooledConnection(smtp, now)

    def _checkin(self, conn: PooledConnection) -> None:
        if conn.smtp.is_connected and len(self._idle) < self.size:
            conn.last_used = self._clock()
            self._idle.append(conn)
        else:
            conn.smtp.close()

    async def aclose(self) -> None:
        """Say QUIT on every idle connection (politely, briefly) and forget them."""
        idle, self._idle = self._idle, []
        if self._loop is not asyncio.get_running_loop():
            return  # another loop's transports: closing them from here would raise
        for conn in idle:
            if conn.smtp.is_connected:
                with suppress(aiosmtplib.SMTPException, OSError):
                    await conn.smtp.quit(timeout=2.0)
            conn.smtp.close()


async def send_transaction(smtp: aiosmtplib.SMTP, sender: str, recipient: str, data: bytes) -> str:
    """MAIL FROM, RCPT TO and DATA for one recipient; returns the server's final reply.

    ``SMTP.sendmail`` does the same but parses each address with ``email.utils.parseaddr``
    several times a message, which costs more CPU than the rest of the exchange. Callers
    pass plain, already validated ``local@domain`` addresses, so they are sent as they are.
    Raises what ``sendmail`` raises (``SMTPSenderRefused``, ``SMTPRecipientsRefused``,
    ``SMTPDataError``, ``SMTPServerDisconnected``, ...), after resetting the envelope on a
    refusal so the connection stays usable.
    """
    if smtp.last_ehlo_response is None and smtp.last_helo_response is None:
        try:
            await smtp.ehlo()
        except aiosmtplib.SMTPHeloError:
            await smtp.helo()
    try:
        reply = await smtp.execute_command(b"MAIL", b"FROM:<" + sender.encode("ascii") + b">")
        if reply.code != 250:
            raise aiosmtplib.SMTPSenderRefused(reply.code, reply.message, sender)
        reply = await smtp.execute_command(b"RCPT", b"TO:<" + recipient.encode("ascii") + b">")
        if reply.code not in (250, 251):
            refused = aiosmtplib.SMTPRecipientRefused(reply.code, reply.message, recipient)
            raise aiosmtplib.SMTPRecipientsRefused([refused])
        final = await smtp.data(data)
    except _CLEAN_FAILURES:
        if smtp.is_connected:
            with suppress(aiosmtplib.SMTPException, OSError):
                await smtp.rset()
        raise
    return final.message
