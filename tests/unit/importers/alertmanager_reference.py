"""A small reference of Alertmanager's routing, written apart from the importer, to test it against.

``receivers_for(config, labels)`` walks the route tree as Alertmanager's ``Route.Match`` does (a node
matches when its matchers hold; its children are tried in order and the walk stops at the first matching
child without ``continue``; a node none of whose children matched is itself the result). ``flat_receivers``
walks an imported flat route list as Siaga does (first match, then on while ``continue`` is set).
"""

from __future__ import annotations

import re
from typing import Any

from siaga.domain.routing import parse_matcher

_MATCHER = re.compile(r'^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*(?:"(.*)"|([^"]*?))\s*$')


def _holds(name: str, op: str, value: str, labels: dict[str, str]) -> bool:
    actual = labels.get(name, "")
    if op == "=":
        return actual == value
    if op == "!=":
        return actual != value
    found = re.fullmatch(f"(?:{value})", actual) is not None
    return found if op == "=~" else not found


def _route_matches(route: dict[str, Any], labels: dict[str, str]) -> bool:
    for name, value in (route.get("match") or {}).items():
        if not _holds(name, "=", str(value), labels):
            return False
    for name, value in (route.get("match_re") or {}).items():
        if not _holds(name, "=~", str(value), labels):
            return False
    for text in route.get("matchers") or []:
        found = _MATCHER.match(text)
        assert found, f"the reference reads only name<op>value matchers, not {text!r}"
        value = found.group(3) if found.group(3) is not None else found.group(4)
        if not _holds(found.group(1), found.group(2), value, labels):
            return False
    return True


def _walk(route: dict[str, Any], receiver: str, labels: dict[str, str]) -> list[str] | None:
    receiver = route.get("receiver") or receiver
    if not _route_matches(route, labels):
        return None
    found: list[str] = []
    for child in route.get("routes") or []:
        got = _walk(child, receiver, labels)
        if got:
            found += got
            if not child.get("continue"):
                break
    return found or [receiver]


def receivers_for(config: dict[str, Any], labels: dict[str, str]) -> list[str]:
    """The receivers Alertmanager notifies for an alert with these labels, in order."""
    root = config["route"]
    got = _walk(root, root["receiver"], labels)
    assert got is not None  # the root has no matchers
    return got


def flat_receivers(routes: list[dict[str, Any]], labels: dict[str, str]) -> list[str]:
    """The receivers of the imported routes an alert with these labels follows, in order."""
    chosen: list[str] = []
    for route in routes:
        matchers = [parse_matcher(f'{k}="{v}"') for k, v in (route.get("match") or {}).items()]
        matchers += [parse_matcher(f'{k}=~"{v}"') for k, v in (route.get("match_re") or {}).items()]
        matchers += [parse_matcher(text) for text in route.get("matchers") or []]
        if all(m.matches(labels, None, None) for m in matchers):
            notify = route["notify"]
            chosen.append(route.get("receiver") or (notify[0] if len(notify) == 1 else "?"))
            if not route.get("continue"):
                break
    return chosen
