"""The route tree → flat list: for any label set, the receivers the flat list picks are Alertmanager's.

The reference walk (alertmanager_reference.py) was checked against `amtool config routes test` by hand;
here Hypothesis draws label sets from the values the matchers name plus a few others, and whole random
trees, and compares.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from siaga.importers import dump_yaml, import_alertmanager, read_yaml
from tests.unit.importers.alertmanager_reference import flat_receivers, receivers_for

HERE = Path(__file__).parent
LUXIMA = read_yaml((HERE / "luxima_alertmanager.yml").read_text(encoding="utf-8"), "luxima_alertmanager.yml")
RECEIVERS = [
    {"name": "r0", "webhook_configs": [{"url": "${HOOK_URL}"}]},
    {
        "name": "r1",
        "slack_configs": [{"api_url": "${SLACK_URL}"}],
        "email_configs": [{"to": "a@example.com"}],
    },
    {"name": "r2"},  # a null receiver: notify: [], receiver: r2
    {"name": "r3", "pagerduty_configs": [{"routing_key": "${PD_KEY}"}]},
]
NESTED: dict[str, Any] = {
    "route": {
        "receiver": "r0",
        "group_by": ["alertname"],
        "routes": [
            {
                "match": {"team": "db"},
                "continue": True,
                "receiver": "r1",
                "routes": [
                    {"matchers": ['severity="critical"'], "receiver": "r3", "continue": True},
                    {"matchers": ['env=~"prod|staging"'], "receiver": "r2"},
                ],
            },
            {
                "match": {"severity": "critical"},
                "receiver": "r3",
                "group_wait": "10s",
                "routes": [
                    {"match": {"env": "prod"}, "receiver": "r1", "continue": True},
                    {"match_re": {"team": "db|web"}, "matchers": ['env!="dev"'], "receiver": "r2"},
                ],
            },
            {"matchers": ['env!="dev"', 'team=~"web|api"'], "receiver": "r3", "continue": True},
            {"matchers": ["team=web"], "receiver": "r1"},
        ],
    },
    "receivers": RECEIVERS,
}


def _values(config: dict[str, Any]) -> dict[str, set[str]]:
    """Label names and the values the config's matchers name (alternatives of simple regexes too)."""
    found: dict[str, set[str]] = {}

    def visit(route: dict[str, Any]) -> None:
        for name, value in {**route.get("match", {}), **route.get("match_re", {})}.items():
            found.setdefault(name, set()).update(str(value).split("|"))
        for text in route.get("matchers", []):
            name, _, value = text.replace("!", "=").replace("~", "").partition("=")
            found.setdefault(name.strip(), set()).update(value.strip('="').split("|"))
        for child in route.get("routes", []):
            visit(child)

    visit(config["route"])
    return found


def label_sets(config: dict[str, Any]) -> st.SearchStrategy[dict[str, str]]:
    values = _values(config)
    names = sorted({*values, "alertname", "instance"})
    return st.fixed_dictionaries(
        {},
        optional={
            name: st.sampled_from(sorted(values.get(name, set()) | {"other", "", "x"})) for name in names
        },
    ).map(lambda labels: {k: v for k, v in labels.items() if v})


def _same_receivers(config: dict[str, Any], routes: list[dict[str, Any]], labels: dict[str, str]) -> None:
    assert flat_receivers(routes, labels) == receivers_for(config, labels), (labels, routes)


@pytest.mark.parametrize("config", [LUXIMA, NESTED], ids=["luxima", "nested"])
@settings(max_examples=400, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_the_flat_list_picks_alertmanagers_receivers(config: dict[str, Any], data: st.DataObject) -> None:
    result = import_alertmanager(config, filename="am.yml")
    assert not [u for u in result.unmapped if "approximate" in u.reason]
    labels = data.draw(label_sets(config))
    _same_receivers(config, result.fragment["routes"], labels)


def test_luxima_routes_in_order_with_the_root_last() -> None:
    routes = import_alertmanager(LUXIMA, filename="am.yml").fragment["routes"]
    assert routes == [
        {"match": {"severity": "critical"}, "notify": ["pagerduty"]},
        {"match": {"severity": "warning"}, "notify": ["slack"]},
        {"match": {"severity": "info"}, "notify": ["email"]},
        {"notify": ["slack"]},
    ]


def test_shared_settings_are_written_out_in_each_route() -> None:
    text = dump_yaml(import_alertmanager(NESTED, filename="am.yml").fragment)
    assert "&id" not in text
    assert "*id" not in text
    assert text.count("group_by:") == len(yaml.safe_load(text)["routes"])


def test_children_inherit_matchers_settings_and_come_before_their_parent() -> None:
    config = {
        "route": {
            "receiver": "r0",
            "group_by": ["alertname"],
            "repeat_interval": "1w",
            "routes": [
                {
                    "match": {"team": "db"},
                    "receiver": "r3",
                    "group_wait": "10s",
                    "routes": [{"matchers": ['severity=~"warn.*"'], "receiver": "r1", "group_by": ["x"]}],
                }
            ],
        },
        "receivers": RECEIVERS,
    }
    routes = import_alertmanager(config, filename="am.yml").fragment["routes"]
    assert routes == [
        {
            "match": {"team": "db"},
            "matchers": ['severity=~"warn.*"'],
            "notify": ["r1-slack", "r1-email"],
            "receiver": "r1",
            "group_by": ["x"],
            "group_wait": "10s",
            "repeat_interval": "7d",
        },
        {
            "match": {"team": "db"},
            "notify": ["r3"],
            "group_by": ["alertname"],
            "group_wait": "10s",
            "repeat_interval": "7d",
        },
        {"notify": ["r0"], "group_by": ["alertname"], "repeat_interval": "7d"},
    ]


def test_a_catch_all_after_a_continue_child_excludes_it_with_a_negated_matcher() -> None:
    config = {
        "route": {
            "receiver": "r0",
            "routes": [
                {"match": {"team": "db"}, "receiver": "r3", "continue": True},
                {"receiver": "r2", "match": {"env": "dev"}},
            ],
        },
        "receivers": RECEIVERS,
    }
    routes = import_alertmanager(config, filename="am.yml").fragment["routes"]
    assert routes == [
        {"match": {"team": "db"}, "notify": ["r3"], "continue": True},
        {"match": {"env": "dev"}, "notify": [], "receiver": "r2"},
        {"matchers": ['team!="db"'], "notify": ["r0"]},
    ]
    _same_receivers(config, routes, {"team": "db"})  # r3 only: the root's receiver is not used


def test_a_route_after_one_without_matchers_is_dropped_as_unreachable() -> None:
    config = {
        "route": {"receiver": "r0", "routes": [{"receiver": "r3", "continue": True}, {"receiver": "r1"}]},
        "receivers": RECEIVERS,
    }
    result = import_alertmanager(config, filename="am.yml")
    assert [r.get("receiver", r["notify"]) for r in result.fragment["routes"]] == [["r3"], "r1"]
    assert any("never reached" in n.text and n.location.endswith("route") for n in result.notes)


def test_a_multi_matcher_exclusion_is_split_exactly_or_reported_when_too_large() -> None:
    small = {
        "route": {
            "receiver": "r0",
            "routes": [{"matchers": ['a="1"', 'b="2"'], "receiver": "r3", "continue": True}],
        },
        "receivers": RECEIVERS,
    }
    result = import_alertmanager(small, filename="am.yml")
    assert result.fragment["routes"][1:] == [
        {"matchers": ['a!="1"'], "notify": ["r0"]},
        {"matchers": ['a="1"', 'b!="2"'], "notify": ["r0"]},
    ]
    assert any("written as 2 routes" in n.text for n in result.notes)
    big = {
        "route": {
            "receiver": "r0",
            "routes": [
                {"matchers": ['a="1"', 'b="2"', 'c="3"'], "receiver": "r3", "continue": True},
                {"matchers": ['d="1"', 'e="2"'], "receiver": "r3", "continue": True},
            ],
        },
        "receivers": RECEIVERS,
    }
    approximate = [
        u for u in import_alertmanager(big, filename="am.yml").unmapped if "approximate" in u.reason
    ]
    assert len(approximate) == 1
    assert approximate[0].location == "am.yml: route"


# -- random trees ------------------------------------------------------------------------------------

NAMES = ["team", "severity", "env"]
VALUES = ["a", "b", "c"]
_matcher_text = st.builds(
    lambda name, op, value: f'{name}{op}"{value}"',
    st.sampled_from(NAMES),
    st.sampled_from(["=", "!=", "=~", "!~"]),
    st.sampled_from([*VALUES, "a|b", ".*", ""]),
)


def _route(fields: dict[str, Any], children: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    route = {k: v for k, v in fields.items() if v not in (None, {}, [], False)}
    if children:
        route["routes"] = children
    return route


_fields = st.fixed_dictionaries(
    {
        "receiver": st.sampled_from([None, "r0", "r1", "r2", "r3"]),
        "continue": st.booleans(),
        "match": st.dictionaries(st.sampled_from(NAMES), st.sampled_from(VALUES), max_size=2),
        "match_re": st.dictionaries(
            st.sampled_from(NAMES), st.sampled_from(["a|b", "b.*", ".*"]), max_size=1
        ),
        "matchers": st.lists(_matcher_text, max_size=2),
    }
)
_trees = st.recursive(
    _fields.map(_route),
    lambda children: st.builds(_route, _fields, st.lists(children, min_size=1, max_size=3)),
    max_leaves=8,
)
_configs = st.lists(_trees, max_size=4).map(
    lambda children: {"route": _route({"receiver": "r0"}, children), "receivers": RECEIVERS}
)
_labels = st.dictionaries(st.sampled_from(NAMES), st.sampled_from([*VALUES, "z"]))


@settings(max_examples=300, deadline=None)
@given(config=_configs, labels=st.lists(_labels, min_size=1, max_size=20))
def test_random_trees_keep_alertmanagers_receivers(
    config: dict[str, Any], labels: list[dict[str, str]]
) -> None:
    result = import_alertmanager(config, filename="am.yml")
    routes = result.fragment["routes"]
    exact = not [u for u in result.unmapped if "approximate" in u.reason]
    for label_set in labels:
        wanted, got = receivers_for(config, label_set), flat_receivers(routes, label_set)
        assert got[:1] == wanted[:1], (label_set, routes)  # the receiver Alertmanager picks: always
        if exact:
            assert got == wanted, (label_set, routes)  # every receiver, with `continue`
