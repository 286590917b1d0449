"""Chat commands: what a message to Siaga's Telegram bot asks for, carried out, and the reply to send.

    /status             each service's state, worst first, and how many incidents are open
    /incidents          the open incidents, most urgent first (at most 20)
    /ack ID             acknowledge incident ID
    /resolve ID [why]   resolve incident ID, with an optional reason
    /help, /start       this list

A command may name the bot (``/ack@siaga_bot 12``, as Telegram writes it in groups); one naming another bot
is left alone. Replies are Telegram HTML with every value from the spec or the database escaped.

Only chats listed in a Telegram channel's enabled ``commands.allowed_chats`` are obeyed. Any other chat
gets a one-line refusal naming its id (so whoever sets Siaga up learns the id to list) and nothing is done;
the refusal is logged as a warning. Messages that are not commands get no reply (``""``).
"""

from __future__ import annotations

import html
import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from siaga.domain.incidents import IncidentError
from siaga.domain.status import ServiceState
from siaga.services import incidents, status
from siaga.services.checks import CheckPlan
from siaga.services.policy import Policy
from siaga.services.ports import ConflictError, StorageError, UnitOfWork
from siaga.spec import Spec, TelegramChannel

log = logging.getLogger(__name__)

MAX_LISTED = 20
CHANGES_INCIDENTS = frozenset({"ack", "resolve"})
"""Commands that may queue notifications (the dispatcher should look at the outbox after them)."""

_COMMAND = re.compile(r"/(?P<name>[A-Za-z0-9_]+)(?:@(?P<bot>[A-Za-z0-9_]+))?(?:\s+(?P<args>.*))?", re.DOTALL)
_INCIDENT_ID = re.compile(r"#?(\d{1,18})")
_MAX_REASON = 500
_MARKERS: Mapping[ServiceState, str] = {
    ServiceState.DOWN: "✕",
    ServiceState.IMPACTED: "◎",
    ServiceState.DEGRADED: "◐",
    ServiceState.MAINTENANCE: "◇",
    ServiceState.UNKNOWN: "?",
    ServiceState.UP: "●",
}  # plain Unicode shapes, no emoji: they read the same in every client and in logs
_WORST_FIRST = list(_MARKERS)
HELP = (
    "<b>Siaga commands</b>\n"
    "/status · each service's state\n"
    "/incidents · the open incidents\n"
    "/ack ID · acknowledge an incident\n"
    "/resolve ID [reason] · resolve an incident\n"
    "/help · this list"
)


@dataclass(frozen=True, slots=True)
class Command:
    name: str  # lower case, without the slash
    args: str
    bot: str | None  # the bot the command names (``/ack@siaga_bot``), if any


def parse(text: str) -> Command | None:
    """Given a message's text, return the command it starts with, or None when it is not a command."""
    match = _COMMAND.fullmatch(text.strip())
    if match is None:
        return None
    return Command(match["name"].lower(), (match["args"] or "").strip(), match["bot"])


def allowed_chats(spec: Spec) -> frozenset[str]:
    """The chats whose commands are obeyed: every enabled Telegram channel's ``commands.allowed_chats``."""
    return frozenset(
        chat
        for channel in spec.channels.values()
        if isinstance(channel, TelegramChannel) and channel.commands and channel.commands.enabled
        for chat in channel.commands.allowed_chats
    )


def handle(
    *,
    uow: UnitOfWork,
    spec: Spec,
    policy: Policy,
    plan: CheckPlan,
    text: str,
    chat_id: str,
    sender: str,
    now: datetime,
    bot_username: str | None = None,
) -> str:
    """Given a message from ``chat_id`` by ``sender`` (a username or user id), carry out its command and
    return the HTML reply; ``""`` when there is nothing to answer. Incident errors become one-line replies;
    anything else (a bug, a database outage beyond ConflictError/StorageError) raises."""
    command = parse(text)
    if command is None:
        return ""
    if command.bot is not None and bot_username is not None and command.bot.lower() != bot_username.lower():
        return ""  # addressed to another bot in the same group
    if chat_id not in allowed_chats(spec):
        log.warning(
            "telegram command /%s refused: chat %s is not allowed (from %s)", command.name, chat_id, sender
        )
        return f"This chat ({_e(chat_id)}) may not command Siaga: list it in commands.allowed_chats."
    actor = f"telegram:{sender}"
    shown = " ".join(command.args.split())[:40]  # one line in the log, whatever was typed
    log.info("telegram command /%s %s from chat %s (%s)", command.name, shown, chat_id, actor)
    try:
        match command.name:
            case "status":
                services = status.overview(uow=uow, spec=spec, policy=policy, plan=plan, now=now)
                with uow.read() as store:
                    open_count = sum(store.open_counts_by_severity().values())
                return render_status(spec.project.name, services, open_count)
            case "incidents":
                rows, total = _open_incidents(uow, policy)
                return render_incidents(rows, total, now)
            case "ack" | "resolve":
                return _act(uow, command, actor, now)
            case "help" | "start":
                return HELP
            case _:
                return f"Unknown command /{_e(command.name)}; /help lists the commands."
    except ConflictError:
        return "Busy: a concurrent change won; try again."
    except StorageError:
        log.exception("telegram command /%s failed in the database", command.name)
        return "Siaga's database did not answer; try again."


def _act(uow: UnitOfWork, command: Command, actor: str, now: datetime) -> str:
    verb = "acknowledge" if command.name == "ack" else "resolve"
    head, _, rest = command.args.partition(" ")
    found = _INCIDENT_ID.fullmatch(head)
    if found is None:
        extra = " [reason]" if verb == "resolve" else ""
        return f"Usage: /{command.name} ID{extra}, e.g. /{command.name} 12"
    incident_id = int(found[1])
    try:
        if verb == "acknowledge":
            incidents.acknowledge(uow=uow, incident_id=incident_id, actor=actor, now=now)
        else:
            reason = rest.strip()[:_MAX_REASON] or None
            incidents.resolve(uow=uow, incident_id=incident_id, actor=actor, now=now, reason=reason)
    except incidents.NotFound:
        return f"no incident {incident_id}"
    except IncidentError as error:
        return f"#{incident_id}: {_e(str(error))}"
    with uow.read() as store:
        row = store.incident(incident_id)
    title = f" · {_e(row['title'])}" if row is not None else ""
    done = "Acknowledged" if verb == "acknowledge" else "Resolved"
    return f"{done} <b>#{incident_id}</b>{title} (as {_e(actor)})"


def _open_incidents(uow: UnitOfWork, policy: Policy) -> tuple[list[dict[str, Any]], int]:
    """The most urgent open incidents (newest first within a severity), at most 20, and how many are open."""
    open_statuses = ("triggered", "acknowledged")
    with uow.read() as store:
        counts = store.open_counts_by_severity()
    ranked = [level.name for level in policy.ladder.levels if counts.get(level.name)]
    ranked += sorted(name for name in counts if name not in ranked and counts[name])  # off the ladder now
    rows: list[dict[str, Any]] = []
    for severity in ranked:
        if len(rows) >= MAX_LISTED:
            break
        rows += incidents.list_incidents(
            uow=uow, statuses=open_statuses, severities=[severity], limit=MAX_LISTED - len(rows)
        )
    return rows, sum(counts.values())


# -- replies (pure) --------------------------------------------------------------------------------------


def _e(value: object) -> str:
    return html.escape(str(value), quote=False)


def age(span: timedelta) -> str:
    """``span`` in at most two units: ``40s``, ``12m``, ``3h05m``, ``2d4h``."""
    seconds = max(0, int(span.total_seconds()))
    days, seconds = divmod(seconds, 86400)
    hours, seconds = divmod(seconds, 3600)
    minutes, seconds = divmod(seconds, 60)
    if days:
        return f"{days}d{hours}h"
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m" if minutes else f"{seconds}s"


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def render_status(project: str, services: Sequence[Mapping[str, Any]], open_incidents: int) -> str:
    """The /status reply: a count per state, then each service worst first (spec order within a state)."""
    states = [ServiceState(service["state"]) for service in services]
    counts = [f"{states.count(state)} {state.value}" for state in _WORST_FIRST if state in states]
    lines = [f"<b>{_e(project)}</b> · {_plural(len(services), 'service')}: {', '.join(counts) or 'none'}"]
    order = sorted(range(len(services)), key=lambda index: _WORST_FIRST.index(states[index]))
    for index in order:
        service, state = services[index], states[index]
        cause = f" (by {_e(', '.join(service['impacted_by']))})" if service.get("impacted_by") else ""
        lines.append(f"{_MARKERS[state]} {state.value} · <b>{_e(service['name'])}</b>{cause}")
    lines.append("")
    lines.append(f"{_plural(open_incidents, 'open incident')}" + (": /incidents" if open_incidents else ""))
    return "\n".join(lines)


def render_incidents(rows: Iterable[Mapping[str, Any]], total: int, now: datetime) -> str:
    """The /incidents reply: one line per incident (id, severity, status, age, title)."""
    listed = list(rows)
    if not listed:
        return "No open incidents."
    head = f"<b>{_plural(total, 'open incident')}</b>"
    if total > len(listed):
        head += f", the {len(listed)} most urgent:"
    lines = [head]
    for row in listed:
        service = f" [{_e(row['service'])}]" if row.get("service") else ""
        lines.append(
            f"<b>#{row['id']}</b> {_e(row['severity'])} · {_e(row['status'])} · "
            f"{age(now - row['opened_at'])} · {_e(row['title'])}{service}"
        )
    return "\n".join(lines)
