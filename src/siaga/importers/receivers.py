"""Alertmanager receivers → the spec's ``channels:``. Secrets never travel: each becomes a ``${ENV_VAR}``.

A receiver with one notification config becomes one channel of the receiver's name; with several, one
channel per config named ``RECEIVER-KIND`` (``RECEIVER-KIND-2`` for a second config of the same kind).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

from siaga.importers.report import ImportResult, Note, Unmapped
from siaga.importers.source import Reader, env_name, references

# Alertmanager's own defaults of send_resolved, per kind.
_RESOLVED_DEFAULT = {"slack": False, "email": False, "pagerduty": True, "webhook": True, "telegram": True}
_APPRISE_HINTS = {
    "discord": "discord://WEBHOOK_ID/WEBHOOK_TOKEN",
    "msteams": "workflows://… or msteams://… (the Teams webhook)",
    "msteamsv2": "workflows://… (the Teams workflow webhook)",
    "opsgenie": "opsgenie://API_KEY",
    "pushover": "pover://USER_KEY@APP_TOKEN",
    "sns": "sns://ACCESS_KEY/SECRET_KEY/REGION/TOPIC",
    "victorops": "splunk://API_KEY/ROUTING_KEY",
    "webex": "wxteams://TOKEN",
    "rocketchat": "rockets://USER:PASSWORD@HOST/CHANNEL",
}
_MESSAGE_KEYS = {
    "title", "title_link", "text", "pretext", "fallback", "footer", "fields", "color", "actions",
    "callback_id", "image_url", "thumb_url", "icon_emoji", "icon_url", "username", "link_names",
    "mrkdwn_in", "short_fields", "message", "parse_mode", "html", "headers", "description", "details",
    "client", "client_url", "images", "links", "severity", "class", "component", "group", "source",
    "summary", "disable_notifications", "message_thread_id",
}  # fmt: skip
_MESSAGE_REASON = (
    "Siaga writes its own messages (a channel's `template` changes them; Go templates do not carry over)"
)
_SHARED_ENV = ("SLACK_API_URL", "SMTP_URL")  # the global Slack webhook and SMTP server, for every channel
_HTTP_REASON = "Siaga's HTTP client takes no per-channel proxy, TLS or authentication settings"
_PAGERDUTY_V1 = (
    "service_key is an Events API v1 integration key while Siaga sends Events API v2 events with a routing "
    "key: give the PagerDuty service an Events API v2 integration and use its key"
)


@dataclass
class _Context:
    read: Reader
    result: ImportResult
    globals_: dict[str, Any]
    env_used: set[str]

    @property
    def file(self) -> str:
        return self.read.filename

    def unmapped(self, where: str, reason: str) -> None:
        self.result.unmapped.append(Unmapped(f"{self.file}: {where}", reason))

    def note(self, where: str, text: str) -> None:
        self.result.notes.append(Note(f"{self.file}: {where}", text))

    def own_env(self, *parts: str) -> str:
        """A variable name for one channel's secret, unique among those this import made."""
        base = env_name(*parts)
        name, n = base, 1
        while name in self.env_used:
            n += 1
            name = f"{base}_{n}"
        self.env_used.add(name)
        return name

    def secret(
        self, config: dict[str, Any], key: str, where: str, env: Callable[[], str], what: str
    ) -> str | None:
        """The spec text for a credential at ``config[key]`` (or ``key_file``): a kept ``${VAR}``, or a new
        placeholder the report explains (never with the value). None when neither key is there."""
        value, path = config.get(key), config.get(f"{key}_file")
        if value is not None:
            text = self.read.text(value, f"{where}.{key}")
            kept = references(text)
            self.env_used.update(kept)
            for name in kept:
                self.result.placeholder(name, f"{what} ({self.file} already refers to it at {where}.{key})")
            if kept:
                return text
            return self.result.placeholder(env(), f"the {key} in {self.file} at {where}.{key} ({what})")
        if path is not None:
            file = self.read.text(path, f"{where}.{key}_file")
            return self.result.placeholder(
                env(), f"the contents of {file}, named by {where}.{key}_file in {self.file} ({what})"
            )
        return None

    def leftovers(self, config: dict[str, Any], where: str, used: set[str]) -> None:
        for key in sorted(set(config) - used):
            if key in _MESSAGE_KEYS:
                self.unmapped(f"{where}.{key}", _MESSAGE_REASON)
            elif key == "http_config":
                self.unmapped(f"{where}.{key}", _HTTP_REASON)
            else:
                self.unmapped(f"{where}.{key}", "no Siaga equivalent")

    def resolved(self, config: dict[str, Any], kind: str, where: str) -> None:
        default = _RESOLVED_DEFAULT.get(kind, True)
        if not self.read.flag(config.get("send_resolved"), f"{where}.send_resolved", default):
            why = "send_resolved is false" if "send_resolved" in config else f"its default for {kind}"
            self.unmapped(
                f"{where}.send_resolved",
                f"Alertmanager sends no resolved notice here ({why}); Siaga tells every channel it paged "
                "when the incident resolves",
            )

    def templated(self, value: str, where: str) -> None:
        if "{{" in value:
            self.unmapped(where, "a Go template: Siaga uses this text as it is")


def import_receivers(
    read: Reader, data: Any, globals_: dict[str, Any], result: ImportResult
) -> dict[str, list[str]]:
    """Given the ``receivers:`` list, add its channels to the fragment; return receiver → channel names."""
    ctx = _Context(read, result, globals_, set(_SHARED_ENV))
    channels: dict[str, dict[str, Any]] = {}
    by_receiver: dict[str, list[str]] = {}
    for i, receiver in enumerate(read.items(data, "receivers")):
        where = f"receivers[{i}]"
        receiver = read.mapping(receiver, where, optional=False)
        if "name" not in receiver:
            read.fail(where, "a receiver needs a name")
        name = read.text(receiver["name"], f"{where}.name")
        if name in by_receiver:
            read.fail(where, f"receiver {name} is defined twice")
        where = f"{where} ({name})"
        configs: list[tuple[str, str, dict[str, Any]]] = []
        for key in receiver:
            if key == "name":
                continue
            if not key.endswith("_configs"):
                ctx.unmapped(f"{where}.{key}", "unknown receiver key")
                continue
            kind = key.removesuffix("_configs")
            for j, config in enumerate(read.items(receiver[key], f"{where}.{key}")):
                configs.append(
                    (kind, f"{where}.{key}[{j}]", read.mapping(config, f"{where}.{key}[{j}]", optional=False))
                )
        mappable = [c for c in configs if c[0] in _MAPPERS or c[0] in _APPRISE_HINTS]
        names = _channel_names(name, [kind for kind, _, _ in mappable], channels, ctx, where)
        by_receiver[name] = []
        if not configs:
            ctx.unmapped(where, "no notification configs (a 'null' receiver): its routes notify nobody")
        for kind, at, _config in configs:
            if kind not in _MAPPERS and kind not in _APPRISE_HINTS:
                ctx.unmapped(
                    at, f"Siaga has no {kind} channel; its routes notify the receiver's other channels"
                )
        for (kind, at, config), channel_name in zip(mappable, names, strict=True):
            mapper = _MAPPERS.get(kind, _apprise)
            channel = mapper(ctx, config, at, channel_name, kind)
            if channel is not None:
                channels[channel_name] = channel
                by_receiver[name].append(channel_name)
    if channels:
        result.fragment["channels"] = channels
    return by_receiver


def _channel_names(
    receiver: str, kinds: list[str], taken: dict[str, Any], ctx: _Context, where: str
) -> list[str]:
    if len(kinds) == 1:
        wanted = [receiver]
    else:
        wanted = []
        for i, kind in enumerate(kinds):
            count = kinds[: i + 1].count(kind)
            wanted.append(f"{receiver}-{kind}" if count == 1 else f"{receiver}-{kind}-{count}")
    names = []
    for want in wanted:
        name, n = want, 1
        while name in taken or name in names:
            n += 1
            name = f"{want}-{n}"
        if name != want:
            ctx.note(where, f"channel {want} already exists: this one is named {name}")
        names.append(name)
    return names


def _slack(ctx: _Context, config: dict[str, Any], where: str, name: str, kind: str) -> dict[str, Any]:
    what = f"the Slack incoming-webhook URL of channel {name}"
    url = ctx.secret(config, "api_url", where, lambda: ctx.own_env(name, "webhook_url"), what)
    if url is None:
        url = ctx.secret(
            ctx.globals_,
            "slack_api_url",
            "global",
            lambda: "SLACK_API_URL",
            "the Slack incoming-webhook URL of the slack configs without an api_url",
        )
    if url is None:
        url = ctx.result.placeholder(
            "SLACK_API_URL",
            f"the Slack incoming-webhook URL (missing from {ctx.file}: {where} has no api_url and there is "
            "no global.slack_api_url; Alertmanager rejects the file so)",
        )
    channel: dict[str, Any] = {"type": "slack", "webhook_url": url}
    if config.get("channel") is not None:
        channel["channel"] = ctx.read.text(config["channel"], f"{where}.channel")
        ctx.templated(channel["channel"], f"{where}.channel")
    for key in ("app_token", "app_token_file", "app_url"):
        if key in config:
            ctx.unmapped(f"{where}.{key}", "Siaga posts to Slack by incoming webhook, not with a bot token")
    ctx.resolved(config, kind, where)
    ctx.leftovers(
        config,
        where,
        {"api_url", "api_url_file", "channel", "send_resolved", "app_token", "app_token_file", "app_url"},
    )
    return channel


def _pagerduty(ctx: _Context, config: dict[str, Any], where: str, name: str, kind: str) -> dict[str, Any]:
    what = f"the PagerDuty Events API v2 integration (routing) key of channel {name}"
    key = ctx.secret(config, "routing_key", where, lambda: ctx.own_env(name, "routing_key"), what)
    if key is None:
        key = ctx.secret(config, "service_key", where, lambda: ctx.own_env(name, "routing_key"), what)
        if key is not None:
            ctx.note(f"{where}.service_key", _PAGERDUTY_V1)
    if key is None:
        key = ctx.result.placeholder(
            ctx.own_env(name, "routing_key"),
            f"{what} (missing from {ctx.file}: {where} has no routing_key nor service_key)",
        )
    channel: dict[str, Any] = {"type": "pagerduty", "routing_key": key}
    url = config.get("url") or ctx.globals_.get("pagerduty_url")
    if url is not None:
        base = _base_url(
            ctx.read.text(url, f"{where}.url"), ("/v2/enqueue", "/generic/2010-04-15/create_event.json")
        )
        if base != "https://events.pagerduty.com":
            channel["api_url"] = base
    ctx.resolved(config, kind, where)
    used = {"routing_key", "routing_key_file", "service_key", "service_key_file", "url", "send_resolved"}
    ctx.leftovers(config, where, used)
    return channel


def _email(ctx: _Context, config: dict[str, Any], where: str, name: str, kind: str) -> dict[str, Any] | None:
    if config.get("to") is None:
        ctx.unmapped(where, "no `to` address: no channel made")
        return None
    to = [part.strip() for part in ctx.read.text(config["to"], f"{where}.to").split(",") if part.strip()]
    for address in to:
        ctx.templated(address, f"{where}.to")
    g = ctx.globals_
    own = any(
        k in config
        for k in ("smarthost", "auth_username", "auth_password", "auth_password_file", "require_tls")
    )
    env = ctx.own_env(name, "smtp_url") if own else "SMTP_URL"
    whose = f"channel {name}" if own else "the email channels using the global SMTP settings"
    smarthost = config.get("smarthost", g.get("smtp_smarthost"))
    if smarthost is None:
        url = ctx.result.placeholder(
            env,
            f"smtp://USER:PASSWORD@HOST:587?starttls=require (or smtps://…:465), the SMTP server of {whose} "
            f"(missing from {ctx.file}: {where} has no smarthost and there is no global.smtp_smarthost; "
            "Alertmanager rejects the file so)",
        )
    else:
        server = ctx.read.text(smarthost, f"{where}.smarthost")
        url = ctx.result.placeholder(env, _smtp_hint(ctx, config, where, server, whose))
    channel: dict[str, Any] = {"type": "email", "to": to, "smtp_url": url}
    sender = config.get("from", g.get("smtp_from"))
    if sender is not None:
        channel["sender"] = ctx.read.text(sender, f"{where}.from")
    else:
        ctx.note(
            where,
            "no from address: Siaga sends from the SMTP user when it is an address, else siaga@localhost",
        )
    for key in ("auth_secret", "auth_secret_file", "auth_identity"):
        if key in config or f"smtp_{key}" in g:
            ctx.unmapped(
                f"{where}.{key}",
                "Siaga logs in to SMTP with user and password only (no CRAM-MD5 secret or identity)",
            )
    ctx.resolved(config, kind, where)
    used = {"to", "from", "smarthost", "auth_username", "auth_password", "auth_password_file", "require_tls",
            "send_resolved", "auth_secret", "auth_secret_file", "auth_identity"}  # fmt: skip
    ctx.leftovers(config, where, used)
    return channel


def _smtp_hint(ctx: _Context, config: dict[str, Any], where: str, smarthost: str, whose: str) -> str:
    g = ctx.globals_
    host, _, port = smarthost.rpartition(":")
    require_tls = ctx.read.flag(
        config.get("require_tls", g.get("smtp_require_tls")), f"{where}.require_tls", True
    )
    if port == "465":
        scheme, options = "smtps", ""
    else:
        scheme, options = "smtp", "?starttls=require" if require_tls else "?starttls=no"
    if "auth_password" in config:
        origin: str | None = f"the auth_password at {where}"
    elif "auth_password_file" in config:
        origin = f"the contents of {config['auth_password_file']} (auth_password_file at {where})"
    elif "smtp_auth_password" in g:
        origin = "global.smtp_auth_password"
    elif "smtp_auth_password_file" in g:
        origin = f"the contents of {g['smtp_auth_password_file']} (global.smtp_auth_password_file)"
    else:
        origin = None
    user = config.get("auth_username", g.get("smtp_auth_username"))
    login = ""
    if user is not None:
        login = quote(ctx.read.text(user, f"{where}.auth_username"), safe="")
        login += ":PASSWORD@" if origin else "@"
    url = f"{scheme}://{login}{host or smarthost}:{port or '25'}{options}"
    hint = f"{url}, the SMTP server of {whose} (from {ctx.file}"
    hint += f"; PASSWORD is {origin}, percent-encoded)" if origin else ")"
    return hint


def _webhook(ctx: _Context, config: dict[str, Any], where: str, name: str, kind: str) -> dict[str, Any]:
    what = f"the URL channel {name} posts to"
    url = ctx.secret(config, "url", where, lambda: ctx.own_env(name, "url"), what)
    if url is None:
        url = ctx.result.placeholder(
            ctx.own_env(name, "url"), f"{what} (missing from {ctx.file}: {where} has no url)"
        )
    ctx.note(
        where, "Siaga posts its own JSON body (docs/notifications.md), not Alertmanager's webhook payload"
    )
    ctx.resolved(config, kind, where)
    ctx.leftovers(config, where, {"url", "url_file", "send_resolved"})
    return {"type": "webhook", "url": url}


def _telegram(
    ctx: _Context, config: dict[str, Any], where: str, name: str, kind: str
) -> dict[str, Any] | None:
    what = f"the Telegram bot token of channel {name}"
    token = ctx.secret(config, "bot_token", where, lambda: ctx.own_env(name, "bot_token"), what)
    if token is None:
        token = ctx.result.placeholder(
            ctx.own_env(name, "bot_token"), f"{what} (missing from {ctx.file}: {where} has no bot_token)"
        )
    if config.get("chat_id") is None:
        ctx.unmapped(where, "no chat_id: no channel made")
        return None
    channel: dict[str, Any] = {
        "type": "telegram",
        "bot_token": token,
        "chat_id": ctx.read.text(config["chat_id"], f"{where}.chat_id"),
    }
    api_url = config.get("api_url", ctx.globals_.get("telegram_api_url"))
    if api_url is not None:
        base = _base_url(ctx.read.text(api_url, f"{where}.api_url"), ())
        if base != "https://api.telegram.org":
            channel["api_url"] = base
    ctx.resolved(config, kind, where)
    ctx.leftovers(config, where, {"bot_token", "bot_token_file", "chat_id", "api_url", "send_resolved"})
    return channel


def _apprise(ctx: _Context, config: dict[str, Any], where: str, name: str, kind: str) -> dict[str, Any]:
    env = ctx.own_env(name, "apprise_url")
    url = ctx.result.placeholder(
        env,
        f"an Apprise URL such as {_APPRISE_HINTS[kind]} for channel {name}, built from the {kind} config "
        f"at {where} in {ctx.file} (its credentials are there)",
    )
    ctx.note(where, f"Siaga has no native {kind} channel: it sends through Apprise")
    for key in sorted(config):
        if key != "send_resolved":
            ctx.unmapped(f"{where}.{key}", "not carried over: put what the Apprise URL needs into it")
    return {"type": "apprise", "url": url}


def _base_url(url: str, paths: tuple[str, ...]) -> str:
    parts = urlsplit(url.rstrip("/"))
    path = parts.path
    for suffix in paths:
        path = path.removesuffix(suffix)
    return f"{parts.scheme}://{parts.netloc}{path}" if parts.scheme else url.rstrip("/")


_Mapper = Callable[[_Context, dict[str, Any], str, str, str], dict[str, Any] | None]
_MAPPERS: dict[str, _Mapper] = {
    "slack": _slack,
    "pagerduty": _pagerduty,
    "email": _email,
    "webhook": _webhook,
    "telegram": _telegram,
}
