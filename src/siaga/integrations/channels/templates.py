"""Message texts: good defaults per kind, or the channel's own Jinja templates in a sandbox."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from jinja2 import TemplateError
from jinja2.sandbox import SandboxedEnvironment

from siaga.domain.notifications import Kind, Message
from siaga.spec.channels import MessageTemplate

_PLAIN = SandboxedEnvironment(autoescape=False)
_HTML = SandboxedEnvironment(autoescape=True)


def _duration(since: datetime | None, until: datetime) -> str:
    if since is None:
        return ""
    seconds = max(0, int((until - since).total_seconds()))
    hours, rest = divmod(seconds, 3600)
    minutes = rest // 60
    return f"{hours}h {minutes:02d}m" if hours else f"{minutes}m"


def context(message: Message) -> dict[str, Any]:
    """The variables templates see (documented in docs/notifications.md)."""
    return {
        "kind": message.kind.value,
        "title": message.title,
        "summary": message.summary,
        "url": message.url,
        "severity": message.severity,
        "status": message.status,
        "service": message.service,
        "labels": dict(message.labels),
        "incident_id": message.incident_id,
        "opened_at": message.opened_at,
        "at": message.at,
        "step": message.step,
        "recipient": message.recipient.name if message.recipient else None,
        "project": message.project,
        "duration": _duration(message.opened_at, message.at),
    }


def default_title(message: Message) -> str:
    level = f"[{message.severity}] " if message.severity else ""
    ref = f"#{message.incident_id} " if message.incident_id is not None else ""
    if message.kind is Kind.RESOLVED:
        took = _duration(message.opened_at, message.at)
        return f"Resolved: {ref}{message.title}" + (f" (after {took})" if took else "")
    if message.kind is Kind.ACKNOWLEDGED:
        return f"Acknowledged: {ref}{message.title}"
    if message.kind is Kind.REOPENED:
        return f"{level}Reopened: {ref}{message.title}"
    if message.kind is Kind.ESCALATED:
        return f"{level}Escalated: {ref}{message.title}"
    if message.kind is Kind.TRIGGERED:
        return f"{level}{ref}{message.title}"
    return message.title


def default_body(message: Message) -> str:
    lines = [message.summary]
    if message.service:
        lines.append(f"Service: {message.service}")
    if message.url:
        lines.append(f"Incident: {message.url}")
    if message.project:
        lines.append(f"Project: {message.project}")
    return "\n".join(lines)


def render(message: Message, template: MessageTemplate | None, *, html: bool) -> tuple[str, str]:
    """(title, body) for ``message``; with ``html`` every value is HTML-escaped. A template that fails while
    rendering falls back to the default text, saying so, rather than losing the message."""
    env = _HTML if html else _PLAIN
    escape = env.from_string("{{ v }}")
    title = escape.render(v=default_title(message))
    body = escape.render(v=default_body(message))
    if template is None:
        return title, body
    values = context(message)
    try:
        if template.title:
            title = env.from_string(template.title).render(values).strip() or title
        if template.body:
            body = env.from_string(template.body).render(values).strip() or body
    except TemplateError as error:
        body += f"\n(custom template failed: {type(error).__name__}; default text shown)"
    return title, body
