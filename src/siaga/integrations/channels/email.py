"""E-mail through SMTP (aiosmtplib): a text and an HTML part, to the recipient or the channel's list.

``smtp_url`` forms (user and password percent-encoded):

- ``smtp://user:password@host[:port]`` — port 587 when a user is given, else 25; STARTTLS when the server
  offers it. ``?starttls=require`` refuses to send without it, ``?starttls=no`` never uses it.
- ``smtps://user:password@host[:port]`` — implicit TLS, port 465.
- ``?verify=no`` skips certificate verification: for test servers only.

SMTP replies 4xx, connection errors and timeouts are temporary; 5xx replies and a server lacking something
the URL requires (STARTTLS, AUTH) are permanent.

A connection that delivered a mail is kept for the next (a few per channel, for up to 30 s): an incident
storm's mails cost one SMTP conversation each, not a connection, TLS and login each. A kept connection that
the server closed meanwhile (or answers 421) is replaced once, at once; any other failure closes it.
"""

from __future__ import annotations

import asyncio
import errno
import hashlib
import ssl
import time
from dataclasses import dataclass
from email import charset as mime_charset
from email.header import Header
from email.message import Message as MimeMessage
from email.mime.multipart import MIMEMultipart
from email.mime.nonmultipart import MIMENonMultipart
from email.utils import format_datetime
from urllib.parse import parse_qsl, unquote, urlsplit

import aiosmtplib
import markupsafe

from siaga.domain.notifications import Message
from siaga.integrations.channels.base import Outcome, RateLimit, Receipt
from siaga.integrations.channels.templates import render
from siaga.integrations.channels.webhook import DEFAULT_TIMEOUT, scrub
from siaga.spec.channels import EmailChannel

_STARTTLS = {"auto": None, "require": True, "no": False}
# The classic MIME classes, not EmailMessage: built the same way, a mail costs ~0.05 ms instead of ~0.8 ms
# (the modern policy parses every header it is given), and it is built on the event loop.
_UTF8 = mime_charset.Charset("utf-8")
_UTF8.body_encoding = mime_charset.QP


@dataclass(frozen=True)
class SmtpServer:
    host: str
    port: int
    username: str | None
    password: str | None
    implicit_tls: bool
    starttls: bool | None  # None: when offered
    verify: bool


def parse_smtp_url(url: str) -> SmtpServer:
    """The server ``url`` names; raises ValueError (whose text never quotes the URL) when it is unusable."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        raise ValueError("smtp_url is not a valid URL") from None
    if parts.scheme not in ("smtp", "smtps"):
        raise ValueError("smtp_url must start with smtp:// or smtps://")
    if not parts.hostname:
        raise ValueError("smtp_url has no host")
    options = dict(parse_qsl(parts.query))
    unknown = set(options) - {"starttls", "verify"}
    if unknown:
        raise ValueError(f"smtp_url has unknown options: {', '.join(sorted(unknown))}")
    starttls = options.get("starttls", "auto")
    if starttls not in _STARTTLS:
        raise ValueError("smtp_url option starttls must be auto, require or no")
    if options.get("verify", "yes") not in ("yes", "no"):
        raise ValueError("smtp_url option verify must be yes or no")
    implicit = parts.scheme == "smtps"
    if implicit and "starttls" in options:
        raise ValueError("smtps:// uses implicit TLS: the starttls option does not apply")
    username = unquote(parts.username) if parts.username else None
    return SmtpServer(
        host=parts.hostname,
        port=port or (465 if implicit else 587 if username else 25),
        username=username,
        password=unquote(parts.password) if parts.password is not None else None,
        implicit_tls=implicit,
        starttls=None if implicit else _STARTTLS[starttls],
        verify=options.get("verify", "yes") == "yes",
    )


def recipients(message: Message, config: EmailChannel) -> list[str]:
    if message.recipient is not None and message.recipient.email:
        return [message.recipient.email]
    return list(config.to)


def compose(message: Message, config: EmailChannel, sender: str) -> MimeMessage:
    """The multipart/alternative mail: text, then HTML."""
    title, text = render(message, config.template, html=False)
    html_title, html_body = render(message, config.template, html=True)
    link_text = link_html = ""
    if message.url:
        link_text = f"\n\nOpen the incident: {message.url}"
        href = markupsafe.escape(message.url)
        link_html = f'<p><a href="{href}">Open incident #{message.incident_id} in Siaga</a></p>\n'
    mail = MIMEMultipart("alternative")
    subject = " ".join(title.split())[:250]
    mail["Subject"] = subject if subject.isascii() else Header(subject, "utf-8")  # type: ignore[assignment]
    mail["From"] = _address_header(sender)
    mail["To"] = _address_header(", ".join(recipients(message, config)))
    mail["Date"] = format_datetime(message.at)
    mail["Message-ID"] = f"<{hashlib.sha256(message.idempotency_key.encode()).hexdigest()[:32]}@siaga>"
    mail["X-Siaga-Idempotency-Key"] = message.idempotency_key
    mail["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies to alerts
    paragraphs = html_body.replace("\n", "<br>\n")
    html = (
        "<!DOCTYPE html>\n<html><body>\n"
        f"<h2>{html_title}</h2>\n<p>{paragraphs}</p>\n{link_html}</body></html>\n"
    )
    mail.attach(_text_part(f"{text}{link_text}\n", "plain"))
    mail.attach(_text_part(html, "html"))
    return mail


def _text_part(body: str, subtype: str) -> MIMENonMultipart:
    part = MIMENonMultipart("text", subtype)
    part.set_payload(body, _UTF8)  # quoted-printable: readable in the raw mail, unlike base64
    return part


def _address_header(value: str) -> str:
    """Addresses as a header value; refused (ValueError) when they would break the header."""
    if any(char in value for char in "\r\n\0"):
        raise ValueError("an address with a line break")
    if not value.isascii():
        raise ValueError("a non-ASCII address (SMTPUTF8 is not used)")
    return value


_KEEP = 4  # idle connections kept per channel
_KEEP_FOR = 30.0  # seconds an idle connection waits for the next mail before it is dropped


class EmailSender:
    """One SMTP server, with a few connections kept between mails."""

    def __init__(self, name: str, config: EmailChannel, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.name = name
        self._config = config
        self._timeout = timeout
        self._server: SmtpServer | None = None
        self._problem = ""
        try:
            self._server = parse_smtp_url(config.smtp_url.get_secret_value())
        except ValueError as error:
            self._problem = str(error)  # reported by every send: a bad URL must not stop the other channels
        user = self._server.username if self._server else None
        self._sender = config.sender or (user if user and "@" in user else "siaga@localhost")
        self._idle: list[tuple[aiosmtplib.SMTP, float]] = []

    def limits(self, message: Message) -> list[RateLimit]:
        return []

    async def send(self, message: Message) -> Receipt:
        server = self._server
        if server is None:
            return Receipt(Outcome.PERMANENT, None, self._problem)
        try:
            mail = compose(message, self._config, self._sender)
        except (ValueError, TypeError) as error:  # e.g. an address the e-mail package refuses
            return Receipt(
                Outcome.PERMANENT, None, f"the mail could not be composed ({type(error).__name__})"
            )
        try:
            async with asyncio.timeout(self._timeout):
                await self._deliver(server, mail)
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as error:
            return self._failure(error, server)
        return Receipt(Outcome.SENT, 250, "")

    async def close(self) -> None:
        """Drop the kept connections."""
        idle, self._idle = self._idle, []
        for client, _since in idle:
            client.close()

    async def _deliver(self, server: SmtpServer, mail: MimeMessage) -> None:
        client, kept = await self._client(server)
        try:
            try:
                await client.send_message(mail)
            except (aiosmtplib.SMTPServerDisconnected, aiosmtplib.SMTPResponseException) as error:
                stale = isinstance(error, aiosmtplib.SMTPServerDisconnected) or error.code == 421
                if not (kept and stale):
                    raise
                client.close()  # the server dropped the kept connection meanwhile: once more, afresh
                client = await self._connect(server)
                await client.send_message(mail)
        except BaseException:
            client.close()  # a failed or cut-short conversation is not reused
            raise
        if len(self._idle) < _KEEP and client.is_connected:
            self._idle.append((client, time.monotonic()))
        else:
            client.close()

    async def _client(self, server: SmtpServer) -> tuple[aiosmtplib.SMTP, bool]:
        """A kept connection (True) or a new one (False)."""
        while self._idle:
            client, since = self._idle.pop()
            if client.is_connected and time.monotonic() - since < _KEEP_FOR:
                return client, True
            client.close()
        return await self._connect(server), False

    async def _connect(self, server: SmtpServer) -> aiosmtplib.SMTP:
        client = aiosmtplib.SMTP(
            hostname=server.host,
            port=server.port,
            username=server.username,
            password=server.password,
            use_tls=server.implicit_tls,
            start_tls=server.starttls,
            validate_certs=server.verify,
            timeout=self._timeout,
        )
        await client.connect()  # TLS and login, as the URL asks
        return client

    def _failure(self, error: Exception, server: SmtpServer) -> Receipt:
        secrets = [server.password or "", self._config.smtp_url.get_secret_value()]
        if isinstance(error, TimeoutError):  # aiosmtplib's timeouts are TimeoutErrors too
            return Receipt(Outcome.TEMPORARY, None, f"timeout after {self._timeout:g} s")
        if isinstance(error, aiosmtplib.SMTPRecipientsRefused):
            codes = [refused.code for refused in error.recipients]
            permanent = all(500 <= code < 600 for code in codes)
            first = error.recipients[0] if error.recipients else None
            detail = f"SMTP {first.code}: {first.message}" if first else "recipients refused"
            return Receipt(
                Outcome.PERMANENT if permanent else Outcome.TEMPORARY,
                codes[0] if codes else None,
                scrub(f"all recipients refused ({detail})", secrets),
            )
        if isinstance(error, aiosmtplib.SMTPResponseException):
            outcome = Outcome.PERMANENT if 500 <= error.code < 600 else Outcome.TEMPORARY
            return Receipt(outcome, error.code, scrub(f"SMTP {error.code}: {error.message}", secrets))
        if isinstance(error, aiosmtplib.SMTPConnectError | aiosmtplib.SMTPServerDisconnected | OSError):
            return Receipt(Outcome.TEMPORARY, None, _connection_problem(error))
        if type(error) is aiosmtplib.SMTPException or isinstance(error, aiosmtplib.SMTPNotSupported):
            # The server lacks what the URL asks for (STARTTLS, AUTH): retrying will not add it.
            return Receipt(Outcome.PERMANENT, None, scrub(f"SMTP: {error}", secrets))
        return Receipt(Outcome.TEMPORARY, None, f"SMTP error: {type(error).__name__}")


def _connection_problem(error: BaseException) -> str:
    cause: BaseException | None = error
    while cause is not None:
        if isinstance(cause, ssl.SSLError):
            return "TLS handshake failed"
        if isinstance(cause, ConnectionRefusedError) or getattr(cause, "errno", None) == errno.ECONNREFUSED:
            return "connection refused"
        cause = cause.__cause__
    if isinstance(error, aiosmtplib.SMTPServerDisconnected):
        return "server disconnected"
    return "connection failed"
