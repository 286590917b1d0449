"""Notification channels and the Secret type their credentials use."""

from __future__ import annotations

from datetime import timedelta
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
    model_validator,
)

from siaga.spec.durations import Duration, parse_duration

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


def _whole_seconds(value: timedelta) -> timedelta:
    # The Bot API takes whole seconds; the cap stays under the 60 s after which proxies often cut idle ones.
    if value % timedelta(seconds=1) or not timedelta(seconds=1) <= value <= timedelta(seconds=50):
        raise ValueError("poll_timeout must be whole seconds from 1s to 50s")
    return value


class ChatCommands(BaseModel):
    """Commands people send the bot (`/status`, `/incidents`, `/ack ID`, `/resolve ID`, `/help`), obeyed only
    from the listed chats; Siaga long-polls the Bot API for them (the bot must have no webhook set)."""

    model_config = ConfigDict(extra="forbid", frozen=True, coerce_numbers_to_str=True)

    enabled: bool = Field(False, description="Poll this bot for commands and answer them.")
    allowed_chats: list[Annotated[str, Field(min_length=1)]] = Field(
        [],
        description="Chat ids (as strings) whose commands are obeyed; at least one when enabled. Other "
        "chats get a one-line refusal naming their id, and nothing is done.",
    )
    poll_timeout: Annotated[Duration, AfterValidator(_whole_seconds)] = Field(
        parse_duration("25s"),
        description="How long one getUpdates long poll waits for a command (whole seconds, 1s to 50s).",
    )

    @model_validator(mode="after")
    def _chats_when_enabled(self) -> ChatCommands:
        if self.enabled and not self.allowed_chats:
            raise ValueError("allowed_chats needs at least one chat id when enabled is true")
        return self


class TelegramChannel(_Channel):
    """Telegram bot message to a chat."""

    type: Literal["telegram"] = Field(description="Channel kind.")
    bot_token: Secret = Field(description="Bot token from @BotFather, from ${ENV_VAR}.")
    chat_id: str = Field(description="Chat, group or channel id to post to.")
    api_url: str = Field(
        "https://api.telegram.org", description="Bot API base URL (override for tests/proxies)."
    )
    rate_limit_per_minute: int | None = _RATE
    commands: ChatCommands | None = Field(
        None, description="Answer commands such as /status and /ack from the allowed chats."
    )


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
