"""Message texts: a default per kind, or the channel's own Jinja templates, rendered in one sandbox.

Templates come from the spec, but the values they show come from alerts (labels, titles), so both are
handled as untrusted: templates run in a ``SandboxedEnvironment`` without a loader (no files, no imports, no
``{% include %}``), and a template that fails while rendering never costs the message — the default text is
used and its last line says so. The links to the incident are not part of the body: each channel places the
link its own way (a Telegram ``<a>``, a Slack link, an e-mail paragraph…).
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import markupsafe
from jinja2 import Template
from jinja2.exceptions import SecurityError
from jinja2.runtime import Context
from jinja2.sandbox import SandboxedEnvironment

from siaga.domain.notifications import Kind, Message
from siaga.spec.channels import MessageTemplate

Escape = Callable[[str], str]

_INCIDENT_VERBS = {
    Kind.TRIGGERED: "triggered",
    Kind.ESCALATED: "escalated",
    Kind.UPDATED: "new alerts",
    Kind.ACKNOWLEDGED: "acknowledged",
    Kind.RESOLVED: "resolved",
    Kind.REOPENED: "reopened",
}
_PREFIXES = {Kind.ANNOUNCEMENT: "[Announcement]", Kind.NOTICE: "[Siaga]", Kind.TEST: "[Test]"}
_MAX_REPEAT = 100_000  # longest string/list a template may build with * (a typo must not eat the memory)
_MAX_LABELS = 30


class _Sandbox(SandboxedEnvironment):
    """The sandbox, with ``*`` and ``**`` bounded: ``{{ "=" * 10**9 }}`` raises instead of allocating."""

    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context: Context, op: str, left: Any, right: Any) -> Any:
        if op == "**":
            if isinstance(right, int) and abs(right) > 1000:
                raise SecurityError("exponent too large")
            return operator.pow(left, right)
        for seq, times in ((left, right), (right, left)):
            sized = isinstance(seq, str | list | tuple) and isinstance(times, int)
            if sized and len(seq) * times > _MAX_REPEAT:
                raise SecurityError("repetition too large")
        return operator.mul(left, right)


# One environment; HTML templates get autoescaping through an {% autoescape %} block around their source.
_ENV = _Sandbox(autoescape=False)


@functools.lru_cache(maxsize=256)
def _compile(source: str, html: bool) -> Template:
    if html:
        source = "{% autoescape true %}" + source + "{% endautoescape %}"
    return _ENV.from_string(source)


def _plain(text: str) -> str:
    return text


def _html(text: str) -> str:
    return str(markupsafe.escape(text))


def duration(seconds: float) -> str:
    """A short human duration: ``45 s``, ``12 min``, ``1 h 5 min``, ``2 d 3 h``."""
    total = max(0, int(seconds))
    if total < 60:
        return f"{total} s"
    minutes, hours, days = total // 60 % 60, total // 3600 % 24, total // 86400
    if total < 3600:
        return f"{minutes} min"
    if total < 86400:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{days} d {hours} h" if hours else f"{days} d"


def _when(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M %Z").strip()


def variables(message: Message, escape: Escape | None = None) -> dict[str, Any]:
    """What templates see (documented in docs/notifications.md); ``escape`` is applied to every string."""
    esc = escape or _plain

    def clean(value: Any) -> Any:
        if isinstance(value, str):
            return esc(value)
        if isinstance(value, Mapping):
            return {clean(key): clean(item) for key, item in value.items()}
        return value

    data = message.to_json()
    lasted = (message.at - message.opened_at).total_seconds() if message.opened_at else None
    values = {
        "kind": message.kind.value,
        "title": message.title,
        "summary": message.summary,
        "url": message.url,
        "severity": message.severity,
        "severity_rank": message.severity_rank,
        "status": message.status,
        "service": message.service,
        "labels": dict(message.labels),
        "incident_id": message.incident_id,
        "incident": data["incident"],
        "opened_at": message.opened_at,
        "at": message.at,
        "duration": duration(lasted) if lasted is not None else None,
        "step": message.step,
        "recipient": data["recipient"],
        "project": message.project,
    }
    return {name: clean(value) for name, value in values.items()}


def default_title(message: Message) -> str:
    """``[SEV-1] Database down — triggered``; announcements, notices and tests carry a bracketed prefix."""
    verb = _INCIDENT_VERBS.get(message.kind)
    if verb is None:
        return f"{_PREFIXES.get(message.kind, '[Siaga]')} {message.title}"
    if message.kind is Kind.ESCALATED and message.step is not None:
        verb += f" (step {message.step + 1})"
    level = f"[{message.severity}] " if message.severity else ""
    return f"{level}{message.title} — {verb}"


def default_body(message: Message, escape: Escape = _plain) -> str:
    """The summary, then the facts a responder looks for first, one per line (values passed to ``escape``)."""
    lines = [escape(message.summary), ""]
    facts = [
        f"{name}: {escape(value)}"
        for name, value in (
            ("Severity", message.severity),
            ("Service", message.service),
            ("Status", message.status),
        )
        if value
    ]
    if facts:
        lines.append(" · ".join(facts))
    if message.opened_at is not None and message.kind in _INCIDENT_VERBS:
        lasted = duration((message.at - message.opened_at).total_seconds())
        opened = escape(_when(message.opened_at))
        if message.kind is Kind.RESOLVED:
            lines.append(f"Resolved after {lasted} (opened {opened}).")
        else:
            lines.append(f"Open for {lasted}, since {opened}.")
    if message.labels:
        shown = sorted(message.labels.items())[:_MAX_LABELS]
        more = len(message.labels) - len(shown)
        text = ", ".join(f"{escape(key)}={escape(value)}" for key, value in shown)
        lines.append(f"Labels: {text}" + (f" (+{more} more)" if more > 0 else ""))
    if message.kind is Kind.ANNOUNCEMENT:
        lines.append("Alerts for the affected services are recorded during the window, nobody is paged.")
    if message.kind is Kind.TEST:
        lines.append("A test message: if you can read it, this channel works.")
    if message.project:
        lines.append(f"Project: {escape(message.project)}")
    return "\n".join(lines).strip()


def render(
    message: Message, template: MessageTemplate | None, *, html: bool, escape: Escape | None = None
) -> tuple[str, str]:
    """Give ``(title, body)`` for ``message``: the channel's templates where set, else the defaults.

    With ``html`` every value is HTML-escaped (template output is autoescaped); otherwise ``escape``, when
    given, is applied to every value (Slack's mrkdwn). The title is one line. Never raises for a template
    that fails: the part falls back to its default and the body's last line says so.
    """
    esc: Escape = _html if html else (escape or _plain)
    title = default_title(message)
    title = _html(title) if html else esc(title)
    body = default_body(message, esc)
    if template is None or (template.title is None and template.body is None):
        return title, body
    values = variables(message, None if html else escape)
    failed: list[str] = []
    if template.title is not None:
        custom = _try_render(template.title, html, values, failed, "title")
        title = " ".join(custom.split()) if custom and custom.strip() else title
    if template.body is not None:
        custom = _try_render(template.body, html, values, failed, "body")
        body = custom.strip() if custom and custom.strip() else body
    if failed:
        body += f"\n({'; '.join(failed)}; the default text is shown)"
    return title, body


def _try_render(source: str, html: bool, values: dict[str, Any], failed: list[str], part: str) -> str | None:
    try:
        return _compile(source, html).render(values)
    except Exception as error:  # noqa: BLE001 - a template is user input: any failure falls back to the default
        failed.append(f"the {part} template failed: {type(error).__name__}")
        return None
