"""Whatever the YAML holds, an importer returns a result or raises SourceError: never another exception."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from siaga.importers import SourceError, import_alertmanager, import_prometheus_rules

_KEYS = st.sampled_from(
    [
        "name", "receiver", "routes", "match", "match_re", "matchers", "continue", "group_by", "group_wait",
        "receivers", "slack_configs", "email_configs", "pagerduty_configs", "webhook_configs",
        "telegram_configs", "api_url", "to", "smarthost", "url", "chat_id", "rules", "alert", "record",
        "expr", "for", "labels", "annotations", "interval", "source_match", "target_matchers", "equal",
    ]
)  # fmt: skip
_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 5),
    st.floats(allow_nan=False),
    st.sampled_from(["x", "", "up", "a=b", "1m", "${X}"]),
)
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(_KEYS, inner, max_size=4)),
    max_leaves=20,
)


def _survives(call: Any) -> None:
    message = ""
    try:
        call()
    except SourceError as error:
        message = str(error)
    assert "\n" not in message


_ROUTES = st.recursive(
    st.dictionaries(_KEYS, _VALUES, max_size=3),
    lambda inner: st.builds(
        lambda node, children: {**node, "routes": children},
        st.dictionaries(_KEYS, _VALUES, max_size=3),
        st.lists(inner, max_size=3),
    ),
    max_leaves=6,
)
_CONFIGS = st.dictionaries(
    st.sampled_from(
        [
            "slack_configs",
            "email_configs",
            "pagerduty_configs",
            "webhook_configs",
            "telegram_configs",
            "discord_configs",
        ]
    ),
    st.lists(st.dictionaries(_KEYS, _VALUES, max_size=4), max_size=2),
    max_size=3,
)


@settings(max_examples=300, deadline=None)
@given(route=_VALUES, receivers=_VALUES, inhibit=_VALUES, top=st.dictionaries(_KEYS, _VALUES, max_size=2))
def test_alertmanager_shapes(route: Any, receivers: Any, inhibit: Any, top: dict[str, Any]) -> None:
    config = {**top, "route": route, "receivers": receivers, "inhibit_rules": inhibit}
    _survives(lambda: import_alertmanager(config, filename="am.yml"))


@settings(max_examples=300, deadline=None)
@given(
    routes=st.lists(_ROUTES, max_size=3),
    configs=_CONFIGS,
    globals_=st.dictionaries(_KEYS, _VALUES, max_size=3),
)
def test_alertmanager_shapes_past_the_top_level(routes: Any, configs: Any, globals_: Any) -> None:
    config = {
        "global": globals_,
        "route": {"receiver": "r", "routes": routes},
        "receivers": [{"name": "r", **configs}],
    }
    _survives(lambda: import_alertmanager(config, filename="am.yml"))


@settings(max_examples=300, deadline=None)
@given(groups=_VALUES, rules=st.lists(st.dictionaries(_KEYS, _VALUES, max_size=5), max_size=4))
def test_rule_file_shapes(groups: Any, rules: Any) -> None:
    _survives(lambda: import_prometheus_rules([("rules.yml", {"groups": groups})]))
    _survives(lambda: import_prometheus_rules([("rules.yml", groups)]))
    _survives(lambda: import_prometheus_rules([("rules.yml", {"groups": [{"name": "g", "rules": rules}]})]))
