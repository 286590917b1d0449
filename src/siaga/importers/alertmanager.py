"""An Alertmanager configuration → the spec's ``channels:``, ``routes:`` and ``inhibit:``.

Receivers become channels (see ``receivers``), the route tree a flat route list (see ``routes``), inhibit
rules the spec's ``inhibit:``. Whatever has no place in the spec is reported with the reason.
"""

from __future__ import annotations

from typing import Any

from siaga.importers.matchers import Cond, read_conditions
from siaga.importers.receivers import import_receivers
from siaga.importers.report import ImportResult, Note, Unmapped
from siaga.importers.routes import flatten, read_tree
from siaga.importers.source import Reader, spec_text

_GLOBALS_READ = {
    "slack_api_url", "slack_api_url_file", "smtp_from", "smtp_smarthost", "smtp_auth_username",
    "smtp_auth_password", "smtp_auth_password_file", "smtp_require_tls", "pagerduty_url", "telegram_api_url",
    "smtp_auth_secret", "smtp_auth_secret_file", "smtp_auth_identity",
}  # fmt: skip
_TOP_KEYS = {
    "global",
    "route",
    "receivers",
    "inhibit_rules",
    "templates",
    "mute_time_intervals",
    "time_intervals",
}
_EVERYTHING = Cond("alertname", "=~", ".*")


def import_alertmanager(data: Any, *, filename: str) -> ImportResult:
    """Given a parsed alertmanager.yml and its file name, return channels, routes and inhibit rules.

    Raises SourceError where Alertmanager itself would refuse the file in a way no placeholder can stand in
    for: wrong shapes, no route or receivers, a route naming an undefined receiver, a bad matcher.
    """
    read = Reader(filename)
    if data is None:
        read.fail("", "the file is empty (expected `route:` and `receivers:`)")
    top = read.mapping(data, "the top level", optional=False)
    result = ImportResult({})
    for key in sorted(set(top) - _TOP_KEYS):
        result.unmapped.append(
            Unmapped(f"{filename}: {key}", "unknown top-level key of an Alertmanager config")
        )
    globals_ = read.mapping(top.get("global"), "global")
    _report_globals(read, globals_, result)
    if "receivers" not in top:
        read.fail("", "no `receivers:` (is this an Alertmanager config?)")
    if "route" not in top:
        read.fail("", "no `route:` (is this an Alertmanager config?)")
    channels = import_receivers(read, top["receivers"], globals_, result)
    tree = read_tree(read, top["route"], set(channels), result)
    result.fragment["routes"] = flatten(tree, channels, result, filename)
    inhibit = [
        rule
        for i, item in enumerate(read.items(top.get("inhibit_rules"), "inhibit_rules"))
        if (
            rule := _inhibit(
                read, read.mapping(item, f"inhibit_rules[{i}]", optional=False), f"inhibit_rules[{i}]", result
            )
        )
    ]
    if inhibit:
        result.fragment["inhibit"] = inhibit
    for i, template in enumerate(read.names(top.get("templates"), "templates")):
        result.unmapped.append(
            Unmapped(
                f"{filename}: templates[{i}]",
                f"Go notification templates ({template}) do not carry over: Siaga's messages use "
                "sandboxed Jinja templates (a channel's `template`)",
            )
        )
    for key in ("time_intervals", "mute_time_intervals"):
        for i, interval in enumerate(read.items(top.get(key), key)):
            name = read.mapping(interval, f"{key}[{i}]", optional=False).get("name", "?")
            result.unmapped.append(
                Unmapped(
                    f"{filename}: {key}[{i}] ({name})",
                    "Siaga has no named time intervals: write the recurring ones as `maintenance:` "
                    "windows (cron + duration), which mute per service rather than per route",
                )
            )
    return result


def _report_globals(read: Reader, globals_: dict[str, Any], result: ImportResult) -> None:
    for key in sorted(globals_):
        where = f"{read.filename}: global.{key}"
        if key == "resolve_timeout":
            result.unmapped.append(
                Unmapped(
                    where,
                    "Siaga resolves incidents by project.resolve_after; alerts from Prometheus carry their "
                    "own end time",
                )
            )
        elif key == "http_config":
            result.unmapped.append(
                Unmapped(where, "Siaga's HTTP client takes no proxy, TLS or authentication settings")
            )
        elif key not in _GLOBALS_READ:
            result.unmapped.append(Unmapped(where, "not used by any channel kind Siaga makes from this file"))


def _inhibit(read: Reader, rule: dict[str, Any], where: str, result: ImportResult) -> dict[str, Any] | None:
    known = {f"{side}_{kind}" for side in ("source", "target") for kind in ("match", "match_re", "matchers")}
    for key in sorted(set(rule) - known - {"equal"}):
        result.unmapped.append(Unmapped(f"{read.filename}: {where}.{key}", "unknown inhibit rule key"))
    written: dict[str, Any] = {}
    for side in ("source", "target"):
        conds = read_conditions(read, rule, where, prefix=f"{side}_")
        if not conds:
            conds = [_EVERYTHING]
            result.notes.append(
                Note(
                    f"{read.filename}: {where}",
                    f"no {side} matchers (every alert): written as {_EVERYTHING.text()}, "
                    "which every alert satisfies",
                )
            )
        written[side] = [spec_text(cond.text()) for cond in conds]
    equal = read.names(rule.get("equal"), f"{where}.equal")
    if equal:
        written["equal"] = equal
    return written
