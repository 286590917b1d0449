"""Alertmanager configs → channels, routes, inhibit rules; secrets only as ${ENV}; the rest reported."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from siaga.importers import (
    ImportResult,
    SourceError,
    dump_yaml,
    format_report,
    import_alertmanager,
    read_yaml,
)

HERE = Path(__file__).parent
LUXIMA_FILE = "luxima_alertmanager.yml"
LUXIMA = read_yaml((HERE / LUXIMA_FILE).read_text(encoding="utf-8"), LUXIMA_FILE)


def _import(receivers: list[dict[str, Any]], **top: Any) -> ImportResult:
    config = {"route": {"receiver": receivers[0]["name"]}, "receivers": receivers, **top}
    return import_alertmanager(config, filename="am.yml")


def _everything(result: ImportResult) -> str:
    """All a user ever sees of an import: the fragment (YAML and JSON) and the report."""
    return dump_yaml(result.fragment) + json.dumps(result.to_json()) + format_report(result, "import")


def _placeholders(result: ImportResult) -> dict[str, str]:
    return {p.env_var: p.what for p in result.placeholders}


def test_luxima_routing_imports_with_placeholders_for_what_it_lacks() -> None:
    result = import_alertmanager(LUXIMA, filename=LUXIMA_FILE)
    assert result.fragment["channels"] == {
        "slack": {"type": "slack", "webhook_url": "${SLACK_API_URL}", "channel": "#alerts"},
        "pagerduty": {"type": "pagerduty", "routing_key": "${PAGERDUTY_API_KEY}"},
        "email": {"type": "email", "to": ["alerts@luxima.id"], "smtp_url": "${SMTP_URL}"},
    }
    placeholders = _placeholders(result)
    assert list(placeholders) == ["SLACK_API_URL", "PAGERDUTY_API_KEY", "SMTP_URL"]
    assert "no global.slack_api_url" in placeholders["SLACK_API_URL"]
    assert "no smarthost" in placeholders["SMTP_URL"]
    assert "already refers to it" in placeholders["PAGERDUTY_API_KEY"]
    assert any("Events API v1" in n.text for n in result.notes)
    # e-mail's send_resolved defaults to false in Alertmanager; Siaga always sends the resolution
    assert [u.location for u in result.unmapped] == [
        f"{LUXIMA_FILE}: receivers[2] (email).email_configs[0].send_resolved"
    ]
    assert "inhibit" not in result.fragment


def test_literal_secrets_become_placeholders_and_never_appear() -> None:
    secrets = {
        "slack": "https://hooks.slack.com/services/T000/B000/XXXXSECRETSLACK",
        "global_slack": "https://hooks.slack.com/services/T111/B111/GLOBALSECRET",
        "pd": "PDSECRETKEY0123456789abcdef",
        "smtp": "SMTP-PASSWORD-SECRET",
        "hook": "https://ops.example/hook?token=HOOKSECRET",
        "bot": "123456:TELEGRAM-BOT-SECRET",
    }
    result = _import(
        [
            {
                "name": "team",
                "slack_configs": [{"api_url": secrets["slack"], "channel": "#team", "send_resolved": True}],
            },
            {"name": "shared", "slack_configs": [{"channel": "#shared", "send_resolved": True}]},
            {"name": "pager", "pagerduty_configs": [{"routing_key": secrets["pd"]}]},
            {
                "name": "mail",
                "email_configs": [
                    {
                        "to": "a@example.com, b@example.com",
                        "auth_password": secrets["smtp"],
                        "auth_username": "alerts@example.com",
                        "smarthost": "mail.example.com:587",
                        "send_resolved": True,
                    }
                ],
            },
            {"name": "hook", "webhook_configs": [{"url": secrets["hook"]}]},
            {"name": "tg", "telegram_configs": [{"bot_token": secrets["bot"], "chat_id": -100123}]},
        ],
        **{"global": {"slack_api_url": secrets["global_slack"], "smtp_auth_password": secrets["smtp"]}},
    )
    seen = _everything(result)
    for secret in secrets.values():
        assert secret not in seen
    channels = result.fragment["channels"]
    assert channels["team"]["webhook_url"] == "${TEAM_WEBHOOK_URL}"
    assert channels["shared"]["webhook_url"] == "${SLACK_API_URL}"  # from global.slack_api_url
    assert channels["pager"]["routing_key"] == "${PAGER_ROUTING_KEY}"
    assert channels["mail"] == {
        "type": "email",
        "to": ["a@example.com", "b@example.com"],
        "smtp_url": "${MAIL_SMTP_URL}",
    }
    assert channels["hook"] == {"type": "webhook", "url": "${HOOK_URL}"}
    assert channels["tg"] == {"type": "telegram", "bot_token": "${TG_BOT_TOKEN}", "chat_id": "-100123"}
    placeholders = _placeholders(result)
    assert (
        "the api_url in am.yml at receivers[0] (team).slack_configs[0].api_url"
        in placeholders["TEAM_WEBHOOK_URL"]
    )
    assert "global.slack_api_url" in placeholders["SLACK_API_URL"]
    assert placeholders["MAIL_SMTP_URL"].startswith(
        "smtp://alerts%40example.com:PASSWORD@mail.example.com:587?starttls=require"
    )
    assert (
        "PASSWORD is the auth_password at receivers[3] (mail).email_configs[0]"
        in placeholders["MAIL_SMTP_URL"]
    )


def test_secret_files_and_kept_references() -> None:
    result = _import(
        [
            {
                "name": "pd",
                "pagerduty_configs": [{"routing_key_file": "/etc/am/pd-key"}],
                "webhook_configs": [{"url": "https://ops.example/${OPS_TOKEN}"}],
            }
        ]
    )
    channels = result.fragment["channels"]
    assert channels["pd-pagerduty"]["routing_key"] == "${PD_PAGERDUTY_ROUTING_KEY}"
    assert channels["pd-webhook"]["url"] == "https://ops.example/${OPS_TOKEN}"
    placeholders = _placeholders(result)
    assert "the contents of /etc/am/pd-key" in placeholders["PD_PAGERDUTY_ROUTING_KEY"]
    assert "OPS_TOKEN" in placeholders
    assert result.fragment["routes"] == [{"notify": ["pd-pagerduty", "pd-webhook"], "receiver": "pd"}]


def test_generated_variable_names_never_collide() -> None:
    result = _import(
        [
            {
                "name": "smtp",
                "webhook_configs": [{"url": "https://a.example/x"}],
            },  # SMTP_URL is the shared one
            {"name": "team", "webhook_configs": [{"url": "${TEAM_URL}"}]},
            {"name": "team!", "webhook_configs": [{"url": "https://b.example/y"}]},
            {"name": "mail", "email_configs": [{"to": "x@example.com"}]},
        ]
    )
    urls = {
        name: channel.get("url", channel.get("smtp_url"))
        for name, channel in result.fragment["channels"].items()
    }
    assert urls == {
        "smtp": "${SMTP_URL_2}",
        "team": "${TEAM_URL}",
        "team!": "${TEAM_URL_2}",
        "mail": "${SMTP_URL}",
    }
    assert len({p.env_var for p in result.placeholders}) == len(result.placeholders) == 4


def test_a_default_with_a_literal_is_treated_as_a_secret() -> None:
    result = _import([{"name": "pd", "pagerduty_configs": [{"routing_key": "${PD_KEY:-DEFAULTSECRET}"}]}])
    assert result.fragment["channels"]["pd"]["routing_key"] == "${PD_ROUTING_KEY}"
    assert "DEFAULTSECRET" not in _everything(result)


def test_globals_feed_the_channels() -> None:
    result = _import(
        [
            {"name": "mail", "email_configs": [{"to": "ops@example.com"}]},
            {"name": "pd", "pagerduty_configs": [{"routing_key": "${PD}"}]},
            {"name": "tg", "telegram_configs": [{"bot_token": "${TG}", "chat_id": 42}]},
        ],
        **{
            "global": {
                "smtp_smarthost": "smtp.example.com:465",
                "smtp_from": "alertmanager@example.com",
                "smtp_auth_username": "am",
                "smtp_auth_password_file": "/run/secrets/smtp",
                "pagerduty_url": "https://pd-proxy.example/v2/enqueue",
                "telegram_api_url": "https://tg-proxy.example",
                "resolve_timeout": "5m",
                "opsgenie_api_key": "OPSGENIE-SECRET",
            }
        },
    )
    channels = result.fragment["channels"]
    assert channels["mail"] == {
        "type": "email",
        "to": ["ops@example.com"],
        "smtp_url": "${SMTP_URL}",
        "sender": "alertmanager@example.com",
    }
    assert channels["pd"]["api_url"] == "https://pd-proxy.example"
    assert channels["tg"]["api_url"] == "https://tg-proxy.example"
    hint = _placeholders(result)["SMTP_URL"]
    assert hint.startswith("smtps://am:PASSWORD@smtp.example.com:465,")
    assert "/run/secrets/smtp" in hint
    unmapped = {u.location: u.reason for u in result.unmapped}
    assert "am.yml: global.resolve_timeout" in unmapped
    assert "am.yml: global.opsgenie_api_key" in unmapped
    assert "OPSGENIE-SECRET" not in _everything(result)


def test_receiver_kinds_without_a_native_channel() -> None:
    result = _import(
        [
            {
                "name": "mixed",
                "discord_configs": [{"webhook_url": "https://discord.com/api/webhooks/1/SECRET"}],
                "wechat_configs": [{"corp_id": "x"}],
            },
            {"name": "blackhole"},
        ]
    )
    assert result.fragment["channels"] == {"mixed": {"type": "apprise", "url": "${MIXED_APPRISE_URL}"}}
    assert "discord://" in _placeholders(result)["MIXED_APPRISE_URL"]
    unmapped = {u.location: u.reason for u in result.unmapped}
    assert "Siaga has no wechat channel" in unmapped["am.yml: receivers[0] (mixed).wechat_configs[0]"]
    assert "null" in unmapped["am.yml: receivers[1] (blackhole)"]
    assert "SECRET" not in _everything(result)


def test_null_receivers_route_to_nobody_by_name() -> None:
    config = {
        "route": {
            "receiver": "default",
            "routes": [{"match": {"severity": "none"}, "receiver": "blackhole"}],
        },
        "receivers": [{"name": "default", "webhook_configs": [{"url": "${HOOK}"}]}, {"name": "blackhole"}],
    }
    routes = import_alertmanager(config, filename="am.yml").fragment["routes"]
    assert routes[0] == {"match": {"severity": "none"}, "notify": [], "receiver": "blackhole"}


def test_several_configs_make_one_channel_each() -> None:
    result = _import(
        [
            {
                "name": "ops",
                "slack_configs": [{"api_url": "${A}"}, {"api_url": "${B}"}],
                "email_configs": [{"to": "ops@example.com", "smarthost": "m:25", "require_tls": False}],
            }
        ]
    )
    assert list(result.fragment["channels"]) == ["ops-slack", "ops-slack-2", "ops-email"]
    assert result.fragment["routes"] == [
        {"notify": ["ops-slack", "ops-slack-2", "ops-email"], "receiver": "ops"}
    ]
    assert _placeholders(result)["OPS_EMAIL_SMTP_URL"].startswith("smtp://m:25?starttls=no")


def test_message_settings_are_reported_never_their_values() -> None:
    result = _import(
        [
            {
                "name": "s",
                "slack_configs": [
                    {
                        "api_url": "${S}",
                        "title": "{{ .CommonLabels.alertname }}",
                        "channel": "#{{ .CommonLabels.team }}",
                        "http_config": {"bearer_token": "HTTP-SECRET"},
                        "send_resolved": False,
                    }
                ],
            }
        ]
    )
    unmapped = {
        u.location.removeprefix("am.yml: receivers[0] (s).slack_configs[0]"): u.reason
        for u in result.unmapped
    }
    assert set(unmapped) == {".title", ".channel", ".http_config", ".send_resolved"}
    assert "Go template" in unmapped[".channel"]
    assert "HTTP-SECRET" not in _everything(result)


def test_inhibit_rules_old_and_new_forms() -> None:
    result = _import(
        [{"name": "r", "webhook_configs": [{"url": "${U}"}]}],
        inhibit_rules=[
            {
                "source_match": {"severity": "critical"},
                "target_match_re": {"severity": "warning|info"},
                "equal": ["alertname", "instance"],
            },
            {"source_matchers": ['alertname = "NodeDown"'], "target_matchers": ['{job=~"node.*", env!=dev}']},
            {"target_matchers": ['severity="info"']},
        ],
    )
    assert result.fragment["inhibit"] == [
        {
            "source": ['severity="critical"'],
            "target": ['severity=~"warning|info"'],
            "equal": ["alertname", "instance"],
        },
        {"source": ['alertname="NodeDown"'], "target": ['job=~"node.*"', 'env!="dev"']},
        {"source": ['alertname=~".*"'], "target": ['severity="info"']},
    ]
    assert any("no source matchers" in n.text for n in result.notes)


def test_time_intervals_templates_and_unknown_keys_are_reported() -> None:
    result = import_alertmanager(
        {
            "route": {
                "receiver": "r",
                "routes": [
                    {"match": {"a": "b"}, "mute_time_intervals": ["nights"], "receiver": "r", "colour": 1}
                ],
            },
            "receivers": [{"name": "r", "webhook_configs": [{"url": "${U}"}]}],
            "templates": ["/etc/am/*.tmpl"],
            "time_intervals": [
                {
                    "name": "nights",
                    "time_intervals": [{"times": [{"start_time": "22:00", "end_time": "06:00"}]}],
                }
            ],
            "tracing": {},
        },
        filename="am.yml",
    )
    locations = {u.location for u in result.unmapped}
    assert locations >= {
        "am.yml: route.routes[0].mute_time_intervals",
        "am.yml: route.routes[0].colour",
        "am.yml: templates[0]",
        "am.yml: time_intervals[0] (nights)",
        "am.yml: tracing",
    }


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (None, "am.yml: the file is empty"),
        ([1, 2], "am.yml: the top level: expected a mapping, got a list"),
        ({"route": {"receiver": "x"}}, "no `receivers:`"),
        ({"receivers": []}, "no `route:`"),
        ({"route": {}, "receivers": [{"name": "x"}]}, "am.yml: route: the root route needs a receiver"),
        (
            {"route": {"receiver": "nope"}, "receivers": [{"name": "x"}]},
            "route.receiver: undefined receiver 'nope'",
        ),
        (
            {
                "route": {"receiver": "x", "routes": [{"matchers": ['severity=~"("']}]},
                "receivers": [{"name": "x"}],
            },
            "route.routes[0].matchers[0]: '(' is not a regular expression",
        ),
        (
            {
                "route": {"receiver": "x", "routes": [{"matchers": ["what is this"]}]},
                "receivers": [{"name": "x"}],
            },
            "route.routes[0].matchers[0]: 'what is this' is not a matcher",
        ),
        (
            {"route": {"receiver": "x", "routes": {"a": 1}}, "receivers": [{"name": "x"}]},
            "route.routes: expected a list",
        ),
        (
            {"route": {"receiver": "x", "group_wait": "soon"}, "receivers": [{"name": "x"}]},
            "'soon' is not a duration",
        ),
        (
            {"route": {"receiver": "x"}, "receivers": [{"name": "x"}, {"name": "x"}]},
            "receiver x is defined twice",
        ),
        (
            {"route": {"receiver": "x", "match": {"a": "b"}}, "receivers": [{"name": "x"}]},
            "must not have matchers",
        ),
    ],
)
def test_malformed_configs_name_the_file_and_the_place(config: Any, message: str) -> None:
    with pytest.raises(SourceError) as caught:
        import_alertmanager(config, filename="am.yml")
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_not_yaml_is_a_source_error_with_the_position() -> None:
    with pytest.raises(SourceError, match=r"^am\.yml: not valid YAML: line 2, column 5: "):
        read_yaml("route:\n  - : : [\n", "am.yml")
    with pytest.raises(SourceError, match="duplicate key 'route'"):
        read_yaml("route: {}\nroute: {}\n", "am.yml")
