"""A real SMTP server on 127.0.0.1 (aiosmtpd) for tests, the demo and the email benchmark.

It receives and stores messages (``received``; ``.message`` parses one into an
``email.message.EmailMessage``), counts connections (so a test can see that a client reuses
them), optionally requires AUTH (PLAIN/LOGIN), and speaks STARTTLS or implicit TLS with a
self-signed certificate made at start-up (``cert_path`` is the file a client trusts). A test
scripts refusals per recipient: ``script_recipient("a@example.org", "550 5.1.1 No such user")``;
a ``421`` reply also closes the connection, as a server going away does.

In a test::

    with SmtpTestServer(auth=("alerts", "s3cret"), tls="starttls") as server:
        settings = {"host": server.host, "port": server.port, "ca_file": str(server.cert_path)}

For a benchmark run it in its own process (``python -m notifier.testing.smtp_server``): it
prints ``READY <host> <port>``, keeps no message bodies, and prints ``STATS {json}`` and
exits when its standard input closes.

The listening socket is made here (port 0, so the OS picks a free port) with IPPROTO_TCP:
asyncio disables Nagle's algorithm only on sockets whose protocol says TCP, and every reply
of a server without TCP_NODELAY waits ~40 ms for the client's delayed ACK. Each accepted
connection also sets TCP_NODELAY explicitly.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import email
import email.policy
import ipaddress
import json
import logging
import socket
import ssl
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Iterable
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Literal

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from notifier.testing.inbox import WatchedInbox
from notifier.testing.lifecycle import BackgroundService

__all__ = ["ReceivedMessage", "SmtpTestServer", "main", "make_self_signed_cert"]

Security = Literal["none", "starttls", "ssl"]

# aiosmtpd logs every command line (RCPT TO:<address>) at INFO, and its own deprecations at
# WARNING: keep addresses and noise out of the logs of tests that use this server.
logging.getLogger("mail.log").setLevel(logging.ERROR)


@dataclass
class ReceivedMessage:
    """One accepted message, as the server saw it."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    data: bytes
    connection: int  # which connection (1, 2, ...) carried it
    authenticated_as: str | None
    tls: bool

    @property
    def message(self) -> EmailMessage:
        parsed = email.message_from_bytes(self.data, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


@dataclass
class _Script:
    reply: str
    times: int | None  # None: every time


def make_self_signed_cert(directory: Path, host: str = "127.0.0.1") -> tuple[Path, Path]:
    """A fresh key and self-signed certificate for ``host`` (and localhost); returns
    ``(cert_path, key_path)``. Needs the ``cryptography`` package (tests only)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "notifier test SMTP")])
    now = dt.datetime.now(dt.UTC)
    names: list[x509.GeneralName] = [x509.DNSName("localhost")]
    try:
        names.append(x509.IPAddress(ipaddress.ip_address(host)))
    except ValueError:
        names.append(x509.DNSName(host))
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "smtp-cert.pem", directory / "smtp-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


class _NoDelaySMTP(SMTP):
    """aiosmtpd's protocol, numbering its connection and sending replies without delay."""

    def __init__(self, owner: SmtpTestServer, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.owner = owner
        self.connection_number = 0
        # aiosmtpd offers AUTH only after STARTTLS unless told otherwise, and warns when told
        # otherwise; implicit TLS is encrypted already, and plain "none" is for tests only.
        self._auth_require_tls = owner.tls == "starttls"

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.transport is None:  # called again with the TLS transport after STARTTLS
            self.connection_number = self.owner._connected(self)
        super().connection_made(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self.owner._disconnected(self)
        super().connection_lost(exc)


def _over_tls(server: SMTP) -> bool:
    transport = server.transport
    return transport is not None and transport.get_extra_info("sslcontext") is not None


class _Controller(Controller):
    def __init__(self, owner: SmtpTestServer, **kwargs: Any) -> None:
        self.owner = owner
        super().__init__(owner, **kwargs)

    def factory(self) -> SMTP:
        return _NoDelaySMTP(self.owner, self.handler, **self.SMTP_kwargs)

    def _create_server(self) -> Awaitable[asyncio.AbstractServer]:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.hostname, self.port))
        sock.listen(128)
        self.port = sock.getsockname()[1]  # the OS's choice when port was 0
        return self.loop.create_server(self._factory_invoker, sock=sock, ssl=self.ssl_context)


class SmtpTestServer(BackgroundService):
    """An SMTP server on 127.0.0.1 and a free port, running in a background thread."""

    def __init__(
        self,
        *,
        auth: tuple[str, str] | None = None,
        tls: Security = "none",
        host: str = "127.0.0.1",
        port: int = 0,
        keep_messages: bool = True,
    ) -> None:
        self.host = host
        self.port = port
        self.auth = auth
        self.tls: Security = tls
        self.keep_messages = keep_messages
        self.received: list[ReceivedMessage] = []
        #: messages to watched addresses go to a file (``--watch``), for the demo's resident
        self.inbox: WatchedInbox | None = None
        self.counts: Counter[str] = Counter()  # connections, messages, refused, auth_failed
        self.cert_path: Path | None = None
        self._lock = threading.Lock()
        self._scripts: dict[str, list[_Script]] = {}
        self._open: set[_NoDelaySMTP] = set()
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._controller: _Controller | None = None

    # ------------------------------------------------------------------ scripting

    def script_recipient(self, address: str, reply: str, *, times: int | None = None) -> None:
        """Answer RCPT TO ``address`` with ``reply`` (e.g. ``"451 4.7.1 Try later"``),
        ``times`` times (None: until ``reset``). Scripts queue in order."""
        with self._lock:
            self._scripts.setdefault(address.lower(), []).append(_Script(reply, times))

    def reset(self) -> None:
        """Forget messages, scripts and counts (connections stay open)."""
        with self._lock:
            self.received.clear()
            self._scripts.clear()
            self.counts.clear()

    def drop_connections(self) -> None:
        """Close every open client connection from the server side (a server restart);
        returns once they are closed."""
        assert self._controller is not None
        with self._lock:
            sessions = list(self._open)

        async def close_all() -> None:
            for smtp in sessions:
                if smtp.transport is not None:
                    smtp.transport.close()

        asyncio.run_coroutine_threadsafe(close_all(), self._controller.loop).result(timeout=5)

    def emails(self) -> list[EmailMessage]:
        """Every received message, parsed (a method: aiosmtpd inspects the handler's
        attributes on each connection, and a property would parse them all each time)."""
        with self._lock:
            received = list(self.received)
        return [r.message for r in received]

    # ------------------------------------------------------------------ aiosmtpd hooks

    def _connected(self, smtp: _NoDelaySMTP) -> int:
        with self._lock:
            self._open.add(smtp)
            self.counts["connections"] += 1
            return self.counts["connections"]

    def _disconnected(self, smtp: _NoDelaySMTP) -> None:
        with self._lock:
            self._open.discard(smtp)

    def _scripted(self, address: str) -> str | None:
        with self._lock:
            queue = self._scripts.get(address.lower())
            if not queue:
                return None
            script = queue[0]
            if script.times is not None:
                script.times -= 1
                if script.times <= 0:
                    queue.pop(0)
            return script.reply

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        reply = self._scripted(address)
        if reply is None:
            envelope.rcpt_tos.append(address)
            return "250 OK"
        with self._lock:
            self.counts["refused"] += 1
        if reply.startswith("421") and server.transport is not None:
            # Runs after the reply is written: a 421 server closes the channel.
            asyncio.get_running_loop().call_soon(server.transport.close)
        return reply

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        assert isinstance(server, _NoDelaySMTP)
        data = envelope.original_content or b""
        watched = [r for r in envelope.rcpt_tos if self.inbox is not None and self.inbox.watches(r)]
        if watched and self.inbox is not None:
            parsed = email.message_from_bytes(data, policy=email.policy.default)
            body = parsed.get_body(("plain",)) if isinstance(parsed, EmailMessage) else None
            text = body.get_content() if body is not None else ""
            for rcpt in watched:
                self.inbox.record(rcpt, subject=str(parsed["Subject"] or ""), text=text)
        with self._lock:
            self.counts["messages"] += 1
            if self.keep_messages:
                login = (
                    session.auth_data.login
                    if isinstance(session.auth_data, LoginPassword)
                    else None
                )
                self.received.append(
                    ReceivedMessage(
                        mail_from=envelope.mail_from or "",
                        rcpt_tos=tuple(envelope.rcpt_tos),
                        data=data,
                        connection=server.connection_number,
                        authenticated_as=login.decode() if login else None,
                        tls=session.ssl is not None or _over_tls(server),
                    )
                )
        return f"250 2.0.0 OK queued as {self.counts['messages']}"

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        assert self.auth is not None
        ok = (
            isinstance(data, LoginPassword)
            and (
                data.login.decode(),
                data.password.decode(),
            )
            == self.auth
        )
        if not ok:
            with self._lock:
                self.counts["auth_failed"] += 1
        # handled=False: aiosmtpd itself answers a failure (535); True would leave it unanswered.
        return AuthResult(success=ok, handled=False, auth_data=data if ok else None)

    # ------------------------------------------------------------------ lifecycle

    def _tls_context(self) -> ssl.SSLContext:
        self._tmp = tempfile.TemporaryDirectory(prefix="notifier-smtp-")
        cert, key = make_self_signed_cert(Path(self._tmp.name), self.host)
        self.cert_path = cert
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert, key)
        return context

    def start(self) -> SmtpTestServer:
        kwargs: dict[str, Any] = {
            "hostname": self.host,
            "port": self.port,
            "server_hostname": "notifier-test-smtp",
            "ready_timeout": 10.0,
            "data_size_limit": 10 * 1024 * 1024,
        }
        if self.tls != "none":
            context = self._tls_context()
            if self.tls == "ssl":
                kwargs["ssl_context"] = context
            else:
                kwargs.update(tls_context=context, require_starttls=True)
        if self.auth is not None:
            kwargs.update(authenticator=self._authenticate, auth_required=True)
        self._controller = _Controller(self, **kwargs)
        self._controller.start()
        self.port = self._controller.port
        self.counts.clear()  # the controller's own start-up probe is not a client
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None


def main(argv: Iterable[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="SMTP server on 127.0.0.1 for benchmarks")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--tls", choices=("none", "starttls", "ssl"), default="none")
    parser.add_argument("--auth", help="USER:PASSWORD to require")
    parser.add_argument("--watch", action="append", default=[], help="an address to record")
    parser.add_argument("--watch-file", help="where messages to watched addresses go")
    args = parser.parse_args(list(argv) if argv is not None else None)
    auth: tuple[str, str] | None = None
    if args.auth:
        user, _, password = args.auth.partition(":")
        auth = (user, password)
    server = SmtpTestServer(port=args.port, tls=args.tls, auth=auth, keep_messages=False)
    if args.watch and args.watch_file:
        server.inbox = WatchedInbox(args.watch_file, args.watch)
    with server:
        extra = f" {server.cert_path}" if server.cert_path else ""
        print(f"READY {server.host} {server.port}{extra}", flush=True)
        sys.stdin.read()  # until the benchmark closes our standard input
        stats = {**server.counts, "cpu_seconds": round(time.process_time(), 3)}
        print("STATS " + json.dumps(stats), flush=True)


if __name__ == "__main__":
    main()
