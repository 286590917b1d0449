"""Notification channels and the Secret type their credentials use."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    SecretStr,
    ValidationInfo,
    WithJsonSchema,
)

MASK = "********"
FROM_SPEC_TEXT = "from_spec_text"
"""Validation-context key the loader sets: secrets must then have come from ``${ENV_VAR}``."""


class Interpolated(str):
    """A string scalar whose text contained at least one ``${ENV_VAR}`` reference."""

    __slots__ = ()


def _require_interpolated(value: Any, info: ValidationInfo) -> Any:
    from_text = bool(info.context and info.context.get(FROM_SPEC_TEXT))
    if from_text and isinstance(value, str) and not isinstance(value, Interpolated):
        raise ValueError("secrets must come from ${ENV_VAR}, not the spec text")
    return value


Secret = Annotated[
    SecretStr,
    BeforeValidator(_require_interpolated),
    PlainSerializer(lambda _: MASK, return_type=str, when_used="json"),
    WithJsonSchema(
        {"type": "string", "pattern": r"\$\{[A-Za-z_][A-Za-z0-9_]*(:-[^}]*)?\}", "examples": ["${SLACK_URL}"]}
    ),
]
"""A credential: written as ``${ENV_VAR}`` in the spec, held as SecretStr, dumped to JSON as ``********``."""

_RATE = Field(None, ge=1, description="Most messages sent per minute through this channel; None = no limit.")


def _template(source: str) -> str:
    from jinja2 import TemplateSyntaxError
    from jinja2.sandbox import SandboxedEnvironment

    try:
        SandboxedEnvironment().parse(source)
    except TemplateSyntaxError as exc:
        raise ValueError(f"template error on its line {exc.lineno}: {exc.message}") from None
    return source


TemplateText = Annotated[str, AfterValidator(_template)]


class MessageTemplate(BaseModel):
    """Jinja templates (sandboxed) replacing a channel's default title and body; see docs/notifications.md
    for the variables (`kind`, `incident`, `title`, `summary`, `url`, `labels`…)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    title: TemplateText | None = Field(None, description="One-line title / subject.")
    body: TemplateText | None = Field(None, description="Message text.")


class _Channel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, coerce_numbers_to_str=True)

    template: MessageTemplate | None = Field(None, description="Custom title/body templates.")


class SlackChannel(_Channel):
    """Slack incoming webhook."""

    type: Literal["slack"] = Field(description="Channel kind.")
    webhook_url: Secret = Field(description="Incoming-webhook URL, from ${ENV_VAR}.")
    channel: str | None = Field(None, description="Channel override such as '#alerts'.")
    rate_limit_per_minute: int | None = _RATE


class TelegramChannel(_Channel):
    """Telegram bot message to a chat."""

    type: Literal["telegram"] = Field(description="Channel kind.")
    bot_token: Secret = Field(description="Bot token from @BotFather, from ${ENV_VAR}.")
    chat_id: str = Field(description="Chat, group or channel id to post to.")
    api_url: str = Field(
        "https://api.telegram.org", description="Bot API base URL (override for tests/proxies)."
    )
    rate_limit_per_minute: int | None = _RATE


class PagerDutyChannel(_Channel):
    """PagerDuty Events API v2."""

    type: Literal["pagerduty"] = Field(description="Channel kind.")
    routing_key: Secret = Field(description="Events v2 integration (routing) key, from ${ENV_VAR}.")
    api_url: str = Field("https://events.pagerduty.com", description="Events API base URL.")
    rate_limit_per_minute: int | None = _RATE


class EmailChannel(_Channel):
    """E-mail through an SMTP server."""

    type: Literal["email"] = Field(description="Channel kind.")
    to: list[str] = Field(min_length=1, description="Recipient addresses.")
    smtp_url: Secret = Field(description="smtp[s]://user:password@host:port, from ${ENV_VAR}.")
    sender: str | None = Field(
        None,
        description="From address; defaults to the SMTP user when it is an address, else siaga@localhost.",
    )
    rate_limit_per_minute: int | None = _RATE


class WebhookChannel(_Channel):
    """JSON POST to any URL."""

    type: Literal["webhook"] = Field(description="Channel kind.")
    url: Secret = Field(description="Target URL, from ${ENV_VAR} (URLs often embed tokens).")
    secret: Secret | None = Field(None, description="HMAC signing key for the request body, from ${ENV_VAR}.")
    rate_limit_per_minute: int | None = _RATE


class AppriseChannel(_Channel):
    """Any service Apprise supports, by Apprise URL."""

    type: Literal["apprise"] = Field(description="Channel kind.")
    url: Secret = Field(description="Apprise URL (e.g. discord://…), from ${ENV_VAR}.")
    rate_limit_per_minute: int | None = _RATE


CHANNEL_MODELS: tuple[type[_Channel], ...] = (
    SlackChannel,
    TelegramChannel,
    PagerDutyChannel,
    EmailChannel,
    WebhookChannel,
    AppriseChannel,
)

Channel = Annotated[
    SlackChannel | TelegramChannel | PagerDutyChannel | EmailChannel | WebhookChannel | AppriseChannel,
    Field(discriminator="type"),
]
