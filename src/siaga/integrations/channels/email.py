"""E-mail through SMTP (aiosmtplib): text and HTML parts, STARTTLS when offered or required, or SMTPS."""

from __future__ import annotations

import hashlib
import ssl
from email.message import EmailMessage
from urllib.parse import parse_qs, unquote, urlsplit

import aiosmtplib

from siaga.domain.notifications import Message
from siaga.integrations.channels.base import Outcome, RateLimit, Receipt
from siaga.integrations.channels.http import DEFAULT_TIMEOUT
from siaga.integrations.channels.templates import render
from siaga.spec.channels import EmailChannel


def compose(message: Message, config: EmailChannel, sender: str) -> EmailMessage:
    title, text = render(message, config.template, html=False)
    _, html_body = render(message, config.template, html=True)
    mail = EmailMessage()
    mail["Subject"] = title.replace("\n", " ")[:250]
    mail["From"] = sender
    to = [message.recipient.email] if message.recipient and message.recipient.email else list(config.to)
    mail["To"] = ", ".join(to)
    digest = hashlib.sha256(message.idempotency_key.encode()).hexdigest()[:32]
    mail["Message-ID"] = f"<{digest}@siaga>"
    mail["X-Siaga-Idempotency-Key"] = message.idempotency_key
    mail.set_content(text)
    mail.add_alternative(
        f"<html><body><p>{html_body.replace(chr(10), '<br>')}</p></body></html>", subtype="html"
    )
    return mail


class EmailSender:
    def __init__(self, name: str, config: EmailChannel, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.name, self._config, self._timeout = name, config, timeout
        url = urlsplit(config.smtp_url.get_secret_value())
        options = {k: v[-1] for k, v in parse_qs(url.query).items()}
        self._implicit_tls = url.scheme == "smtps"
        self._host = url.hostname or "localhost"
        self._port = url.port or (465 if self._implicit_tls else 25)
        self._user = unquote(url.username) if url.username else None
        self._password = unquote(url.password) if url.password else None
        self._starttls = options.get("starttls", "auto")  # auto | require | no
        self._verify = options.get("verify", "yes") != "no"  # verify=no: test servers only
        self._sender = config.sender or (
            self._user if self._user and "@" in self._user else "siaga@localhost"
        )

    def limits(self, message: Message) -> list[RateLimit]:
        return []

    async def send(self, message: Message) -> Receipt:
        mail = compose(message, self._config, self._sender)
        context = ssl.create_default_context()
        if not self._verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        try:
            await aiosmtplib.send(
                mail,
                hostname=self._host,
                port=self._port,
                username=self._user,
                password=self._password,
                use_tls=self._implicit_tls,
                start_tls=None if self._starttls == "auto" else self._starttls == "require",
                tls_context=context,
                timeout=self._timeout,
            )
        except aiosmtplib.SMTPResponseException as error:
            outcome = Outcome.PERMANENT if 500 <= error.code < 600 else Outcome.TEMPORARY
            return Receipt(outcome, error.code, error.message[:200])
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as error:
            return Receipt(Outcome.TEMPORARY, None, f"SMTP: {type(error).__name__}")
        return Receipt(Outcome.SENT, 250, "")
