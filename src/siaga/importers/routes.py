"""Alertmanager's route tree → the spec's flat ``routes:`` list (first match wins, ``continue`` goes on).

A node's children come before its own catch-all entry; each entry carries its ancestors' matchers and the
settings it inherits. Where a tree walk skips something a flat walk would reach, the entry gets a negated
matcher (``team!="db"``) that keeps it out; when that cannot be written (the skipped route has several
matchers), the import reports the approximation.
"""

from __future__ import annotations

from copy import copy
from dataclasses import dataclass, field
from typing import Any

from siaga.importers.matchers import Cond, read_conditions, spec_matchers
from siaga.importers.report import ImportResult, Note, Unmapped
from siaga.importers.source import Reader

_MAX_SPLIT = 4  # entries one route may become, to keep out alerts earlier routes took
_SETTINGS = ("group_by", "group_wait", "group_interval", "repeat_interval")
_ROUTE_KEYS = {
    "receiver", "continue", "routes", "match", "match_re", "matchers",
    "mute_time_intervals", "active_time_intervals", *_SETTINGS,
}  # fmt: skip


@dataclass
class RouteNode:
    """One node of the tree, its inherited settings already applied."""

    where: str
    own: list[Cond]
    receiver: str
    continue_: bool
    settings: dict[str, Any]
    children: list[RouteNode] = field(default_factory=list)


@dataclass
class _Entry:
    node: RouteNode
    conds: list[Cond]
    continue_: bool


def read_tree(read: Reader, data: Any, receivers: set[str], result: ImportResult) -> RouteNode:
    """Given the ``route:`` mapping, return its tree; raise SourceError where Alertmanager would refuse it."""
    root = read.mapping(data, "route", optional=False)
    if root.get("receiver") is None:
        read.fail("route", "the root route needs a receiver")
    if read_conditions(read, root, "route"):
        read.fail("route", "the root route must not have matchers")
    if read.flag(root.get("continue"), "route.continue"):
        read.fail("route.continue", "the root route cannot have continue")
    return _node(read, root, "route", None, receivers, result)


def _node(
    read: Reader,
    data: dict[str, Any],
    where: str,
    parent: RouteNode | None,
    receivers: set[str],
    result: ImportResult,
) -> RouteNode:
    receiver = parent.receiver if parent else ""
    if data.get("receiver") is not None:
        receiver = read.text(data["receiver"], f"{where}.receiver")
        if receiver not in receivers:
            read.fail(f"{where}.receiver", f"undefined receiver '{receiver}'")
    settings = dict(parent.settings) if parent else {}
    if data.get("group_by") is not None:
        group_by = read.names(data["group_by"], f"{where}.group_by")
        if "..." in group_by:
            result.unmapped.append(
                Unmapped(
                    f"{read.filename}: {where}.group_by",
                    "['...'] (group by every label) has no spec equivalent: Siaga groups by its default",
                )
            )
            settings.pop("group_by", None)
        else:
            settings["group_by"] = group_by
    for key in _SETTINGS[1:]:
        if data.get(key) is not None:
            settings[key] = read.duration(data[key], f"{where}.{key}")
    for key in ("mute_time_intervals", "active_time_intervals"):
        if data.get(key):
            names = ", ".join(read.names(data[key], f"{where}.{key}"))
            result.unmapped.append(
                Unmapped(
                    f"{read.filename}: {where}.{key}",
                    f"routes are not {'muted' if key.startswith('mute') else 'limited'} by time in Siaga "
                    f"({names}): mute by `maintenance:` windows or silences instead",
                )
            )
    for key in sorted(set(data) - _ROUTE_KEYS):
        result.unmapped.append(Unmapped(f"{read.filename}: {where}.{key}", "unknown route key"))
    node = RouteNode(
        where,
        read_conditions(read, data, where),
        receiver,
        read.flag(data.get("continue"), f"{where}.continue"),
        settings,
    )
    for i, child in enumerate(read.items(data.get("routes"), f"{where}.routes")):
        at = f"{where}.routes[{i}]"
        node.children.append(
            _node(read, read.mapping(child, at, optional=False), at, node, receivers, result)
        )
    return node


def flatten(
    root: RouteNode, channels: dict[str, list[str]], result: ImportResult, filename: str
) -> list[dict[str, Any]]:
    """Given the tree and each receiver's channel names, return the spec routes, reporting approximations."""
    flat = _Flattener(result, filename)
    entries, _ = flat.walk(root, [], [], False, is_root=True)
    routes = []
    for entry in entries:
        notify = channels.get(entry.node.receiver, [])
        route: dict[str, Any] = spec_matchers(entry.conds)
        route["notify"] = list(notify)
        if notify != [entry.node.receiver]:
            route["receiver"] = entry.node.receiver
        if entry.continue_:
            route["continue"] = True
        route.update((key, copy(entry.node.settings[key])) for key in _SETTINGS if key in entry.node.settings)
        routes.append(route)
    return routes


class _Flattener:
    def __init__(self, result: ImportResult, filename: str) -> None:
        self.result = result
        self.filename = filename

    def walk(
        self,
        node: RouteNode,
        pos: list[Cond],
        excluded: list[RouteNode],
        cont_out: bool,
        *,
        is_root: bool = False,
    ) -> tuple[list[_Entry], bool]:
        """Entries of ``node``'s subtree, given the matchers that led here, the routes that must not have
        matched (a walk over the tree would have stopped there) and whether the walk goes on past this
        subtree once it matched. Also returns whether a flat walk could go on past it when the tree's would
        stop (a "leak", which the caller must then exclude)."""
        entries: list[_Entry] = []
        before: list[RouteNode] = []  # earlier children that later siblings and the catch-all must exclude
        continued: list[RouteNode] = []  # earlier `continue` children that only the catch-all excludes
        leaky = False
        count = len(node.children)
        for i, child in enumerate(node.children):
            last = i == count - 1
            child_cont = True if child.continue_ and not last else cont_out
            sub, child_leaky = self.walk(child, pos + child.own, excluded + before, child_cont)
            entries += sub
            if child.continue_:
                continued.append(child)
                later = node.children[i + 1 :]
                stops = any(not c.own and (not c.continue_ or c is later[-1]) for c in later)
                if not cont_out and not last and not stops and not is_root:
                    leaky = True
            elif cont_out or child_leaky:
                before.append(child)
            if child_leaky and not child_cont:
                leaky = True
        entries += self.entry(node, pos, excluded + before + continued, cont_out)
        return entries, leaky and not cont_out and not is_root

    def entry(self, node: RouteNode, pos: list[Cond], excluded: list[RouteNode], cont: bool) -> list[_Entry]:
        """The entries for a node's own catch-all: its matchers, a negated matcher per route it must not
        follow, and where such a route has several matchers, one entry per way of not matching them all
        (``a!=1``, then ``a=1, b!=2``…), as long as that stays within _MAX_SPLIT entries."""
        conds = list(pos)
        ways: list[list[Cond]] = [[]]
        for other in excluded:
            if not other.own:
                self.result.notes.append(
                    Note(
                        f"{self.filename}: {node.where}",
                        f"never reached in Alertmanager either ({other.where} has no matchers and "
                        "takes every alert first): no route made for it",
                    )
                )
                return []
            if len(other.own) == 1:
                conds.append(other.own[0].negated())
                continue
            alternatives = [[*other.own[:i], cond.negated()] for i, cond in enumerate(other.own)]
            if len(ways) * len(alternatives) > _MAX_SPLIT:
                self.result.unmapped.append(
                    Unmapped(
                        f"{self.filename}: {node.where}",
                        f"approximate: Alertmanager skips this route for alerts that {other.where} took "
                        f"({' and '.join(c.text() for c in other.own)}), which would take more than "
                        f"{_MAX_SPLIT} routes to write; check the order of the imported routes",
                    )
                )
                continue
            ways = [[*way, *alternative] for way in ways for alternative in alternatives]
        if len(ways) > 1:
            self.result.notes.append(
                Note(
                    f"{self.filename}: {node.where}",
                    f"written as {len(ways)} routes with the same receiver, so that alerts an earlier "
                    "route took in Alertmanager stay out",
                )
            )
        return [_Entry(node, conds + way, cont) for way in ways]
