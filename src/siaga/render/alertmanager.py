"""``alertmanager.yml`` from the spec: Siaga's routes as the route tree, every receiver Siaga's webhook.

Siaga pages, escalates and groups alerts into incidents itself, so Alertmanager forwards each alert on its
own (``group_by: ['...']``, no wait) and every receiver is the same webhook; receivers are named after what
the Siaga route notifies so ``amtool config routes test`` tells which route an alert takes. Inhibit rules
come from ``depends_on`` and the spec's ``inhibit``. Maintenance windows are written as ``time_intervals``
but not used to mute: Siaga records alerts raised during maintenance (and does not page them), which a mute
in Alertmanager would prevent.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from croniter import croniter

from siaga.domain.routing import Matcher, Op, dependency_rules, parse_matcher
from siaga.render.yaml import dump, header
from siaga.spec.calendar import WEEKDAYS, Recurrence
from siaga.spec.durations import format_duration
from siaga.spec.models import MaintenanceWindow, Route, Spec

WEBHOOK_PATH = "/api/v1/integrations/alertmanager"
DEFAULT_RECEIVER = "siaga"
_ORDINAL_DAYS = {"first": "1:7", "second": "8:14", "third": "15:21", "fourth": "22:28", "last": "-7:-1"}


def regex_escape(value: str) -> str:
    """Escape RE2's metacharacters only (Python's re.escape also escapes '-', which reads badly)."""
    return re.sub(r"([\\.^$|?*+()\[\]{}])", r"\\\1", value)


def quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def matcher_text(matcher: Matcher, spec: Spec) -> str:
    """A matcher in Alertmanager's syntax; ``severity=critical`` also matches the level's aliases, as in
    Siaga."""
    if matcher.name == "severity" and matcher.op in (Op.EQ, Op.NE):
        level = spec.severity(matcher.value)
        if level is not None and level.aliases:
            names = "|".join(regex_escape(name) for name in [level.name, *level.aliases])
            return f"severity{'=~' if matcher.op is Op.EQ else '!~'}{quote(names)}"
    return f"{matcher.name}{matcher.op.value}{quote(matcher.value)}"


def route_matchers(route: Route) -> list[Matcher]:
    found = [Matcher.of(name, Op.EQ, value) for name, value in route.match.items()]
    found += [Matcher.of(name, Op.RE, value) for name, value in route.match_re.items()]
    found += [parse_matcher(text) for text in route.matchers]
    return found


def receiver_name(route: Route) -> str:
    if route.receiver:
        return route.receiver
    targets = [*route.notify, *([f"escalation:{route.escalation}"] if route.escalation else [])]
    return "+".join(targets) if targets else DEFAULT_RECEIVER


def alertmanager_yml(spec: Spec) -> tuple[str, list[str]]:
    """The config text, and notes on what could not be written (shown by ``siaga render``)."""
    notes: list[str] = []
    routes = list(spec.routes)
    root = DEFAULT_RECEIVER
    if routes and not route_matchers(routes[-1]) and not routes[-1].continue_:
        root = receiver_name(routes.pop())
    children = []
    for route in routes:
        child: dict[str, Any] = {"receiver": receiver_name(route)}
        matchers = [matcher_text(m, spec) for m in route_matchers(route)]
        if matchers:
            child["matchers"] = matchers
        if route.continue_:
            child["continue"] = True
        children.append(child)
    tree: dict[str, Any] = {
        "receiver": root,
        "group_by": ["..."],
        "group_wait": "0s",
        "group_interval": "5s",
        "repeat_interval": "4h",
    }
    if children:
        tree["routes"] = children
    names = sorted({root, *(child["receiver"] for child in children)})
    token_file = spec.prometheus.alertmanager.token_file
    webhook = {
        "url": spec.prometheus.siaga_url.rstrip("/") + WEBHOOK_PATH,
        "send_resolved": True,
        "http_config": {"authorization": {"type": "Bearer", "credentials_file": token_file}},
    }
    config: dict[str, Any] = {
        "global": {"resolve_timeout": format_duration(spec.project.resolve_after)},
        "route": tree,
        "receivers": [{"name": name, "webhook_configs": [webhook]} for name in names],
    }
    inhibit = _inhibit_rules(spec)
    if inhibit:
        config["inhibit_rules"] = inhibit
    intervals = []
    for window in spec.maintenance:
        found = _time_interval(window, spec.project.timezone)
        if found is None:
            notes.append(
                f"maintenance '{window.name}': its cron cannot be written as an Alertmanager time interval"
            )
        else:
            intervals.append(found)
    if intervals:
        config["time_intervals"] = intervals
    return header(spec, "Alertmanager") + dump(config), notes


def _inhibit_rules(spec: Spec) -> list[dict[str, Any]]:
    rules = []
    for rule in spec.inhibit:
        entry: dict[str, Any] = {
            "source_matchers": [matcher_text(parse_matcher(t), spec) for t in rule.source],
            "target_matchers": [matcher_text(parse_matcher(t), spec) for t in rule.target],
        }
        if rule.equal:
            entry["equal"] = list(rule.equal)
        rules.append(entry)
    depends_on = {name: svc.depends_on for name, svc in spec.services.items() if svc.depends_on}
    for found in dependency_rules(depends_on):
        rules.append(
            {
                "source_matchers": [matcher_text(m, spec) for m in found.source],
                "target_matchers": [matcher_text(m, spec) for m in found.target],
            }
        )
    return rules


def _clock(value: time) -> str:
    return f"{value:%H:%M}"


def _time_interval(window: MaintenanceWindow, project_zone: str) -> dict[str, Any] | None:
    zone = window.timezone or project_zone
    specs: list[dict[str, Any]]
    if isinstance(window.every, Recurrence):
        specs = _recurrence_specs(window.every)
    else:
        found = _cron_specs(str(window.cron), window.duration or timedelta(0))
        if found is None:
            return None
        specs = found
    for item in specs:
        item["location"] = zone
    return {"name": window.name, "time_intervals": specs}


def _day_range(start: time, end: time) -> list[tuple[str, str, int]]:
    """(start, end, day offset) pieces of a window that may cross midnight."""
    if end > start:
        return [(_clock(start), _clock(end), 0)]
    pieces = [(_clock(start), "24:00", 0)]
    if end != time(0):
        pieces.append(("00:00", _clock(end), 1))
    return pieces


def _recurrence_specs(every: Recurrence) -> list[dict[str, Any]]:
    specs = []
    for start, end, offset in _day_range(every.start, every.end):
        item: dict[str, Any] = {"times": [{"start_time": start, "end_time": end}]}
        if every.weekday is not None:
            item["weekdays"] = [WEEKDAYS[(every.weekday + offset) % 7]]
        if every.ordinal is not None:
            days = _ORDINAL_DAYS[every.ordinal]
            if offset:
                first, last = (int(part) for part in days.split(":"))
                days = f"{first + 1}:{last + 1}" if first > 0 else "-6:-1"  # the day after the last weekday
            item["days_of_month"] = [days]
        specs.append(item)
    return specs


def _cron_specs(cron: str, duration: timedelta) -> list[dict[str, Any]] | None:
    fields = cron.split()
    if len(fields) != 5 or fields[2] != "*" or fields[3] != "*" or not croniter.is_valid(cron):
        return None
    minute, hour, _, _, weekday = fields
    if not (minute.isdigit() and hour.isdigit()) or duration >= timedelta(days=1) or duration <= timedelta(0):
        return None
    start = time(int(hour), int(minute))
    end = (datetime.combine(date(2000, 1, 1), start, tzinfo=UTC) + duration).time()
    days: list[int] | None = None
    if weekday != "*":
        if not all(part.isdigit() and int(part) <= 7 for part in weekday.split(",")):
            return None
        days = sorted({(int(part) - 1) % 7 for part in weekday.split(",")})  # cron 0/7 = Sunday → 6
    specs = []
    for piece_start, piece_end, offset in _day_range(start, end):
        item: dict[str, Any] = {"times": [{"start_time": piece_start, "end_time": piece_end}]}
        if days is not None:
            item["weekdays"] = [WEEKDAYS[(day + offset) % 7] for day in days]
        specs.append(item)
    return specs
