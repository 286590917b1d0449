"""Grafana dashboards: the five the Luxima standard names, deterministic, with PromQL that parses."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from itertools import combinations
from typing import Any

import promql_parser
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from siaga.render.grafana import dashboards

EXPECTED = {
    "system-overview.json": "System Overview",
    "application-metrics.json": "Application Metrics",
    "tenant-metrics.json": "Tenant Metrics",
    "database-metrics.json": "Database Metrics",
    "security-overview.json": "Security Overview",
}
TENANT_BOARDS = {"tenant-metrics.json", "security-overview.json"}
VARIABLE = re.compile(r"\$(\w+)")
LABEL_VALUES = re.compile(r"label_values\((?P<selector>.+), (?P<label>\w+)\)")


def render(
    project: str = "luxima",
    services: Sequence[str] = ("api", "auth"),
    environments: Sequence[str] = ("prod",),
) -> dict[str, bytes]:
    return dashboards(project, list(services), list(environments))


def loaded(files: dict[str, bytes]) -> dict[str, dict[str, Any]]:
    return {name: json.loads(content) for name, content in files.items()}


def as_promql(expr: str) -> str:
    # $__rate_interval is a Grafana macro, not PromQL; Grafana substitutes a duration before querying.
    return expr.replace("$__rate_interval", "5m")


def exprs(board: dict[str, Any]) -> list[str]:
    return [target["expr"] for panel in board["panels"] for target in panel["targets"]]


def assert_all_parse(files: dict[str, bytes]) -> None:
    for name, board in loaded(files).items():
        for expr in exprs(board):
            try:
                promql_parser.parse(as_promql(expr))
            except ValueError as error:
                pytest.fail(f"{name}: {expr!r} does not parse: {error}")


@pytest.fixture(scope="module")
def boards() -> dict[str, dict[str, Any]]:
    return loaded(render())


def test_the_five_dashboards_with_their_titles(boards: dict[str, dict[str, Any]]) -> None:
    assert list(boards) == list(EXPECTED)
    for name, title in EXPECTED.items():
        assert boards[name]["title"] == f"{title} (luxima)"


def test_has_the_fields_grafana_needs(boards: dict[str, dict[str, Any]]) -> None:
    for board in boards.values():
        assert board["title"]
        assert re.fullmatch(r"[A-Za-z0-9_-]{1,40}", board["uid"])
        assert board["schemaVersion"] == 39
        assert board["panels"]
        assert isinstance(board["templating"]["list"], list)
        assert board["time"] == {"from": "now-6h", "to": "now"}


def test_same_inputs_give_identical_bytes() -> None:
    assert render() == render()


def test_output_is_sorted_indented_and_ends_with_a_newline() -> None:
    for content in render().values():
        text = content.decode()
        assert text == json.dumps(json.loads(text), indent=2, sort_keys=True) + "\n"


def test_uids_are_stable_per_project_and_distinct_between_projects_and_dashboards() -> None:
    ours = [board["uid"] for board in loaded(render("luxima")).values()]
    theirs = [board["uid"] for board in loaded(render("other")).values()]
    assert ours == [board["uid"] for board in loaded(render("luxima", services=["x"])).values()]
    assert len(set(ours)) == len(ours)
    assert not set(ours) & set(theirs)


def test_empty_project_is_refused() -> None:
    with pytest.raises(ValueError, match="project"):
        dashboards("", [], [])


def test_a_bare_string_of_services_is_refused() -> None:
    with pytest.raises(TypeError, match="services"):
        dashboards("luxima", "api", [])


def test_every_expr_parses() -> None:
    assert_all_parse(render())


def test_every_panel_has_a_title_a_unit_a_known_type_and_targets(boards: dict[str, dict[str, Any]]) -> None:
    for board in boards.values():
        for panel in board["panels"]:
            assert panel["title"]
            assert panel["fieldConfig"]["defaults"]["unit"]
            assert panel["type"] in {"timeseries", "stat", "gauge"}
            assert panel["targets"]
            ref_ids = [target["refId"] for target in panel["targets"]]
            assert len(set(ref_ids)) == len(ref_ids)


def test_panel_ids_are_unique_within_a_dashboard(boards: dict[str, dict[str, Any]]) -> None:
    for board in boards.values():
        ids = [panel["id"] for panel in board["panels"]]
        assert len(set(ids)) == len(ids)


def cells(grid: dict[str, int]) -> set[tuple[int, int]]:
    return {
        (x, y)
        for x in range(grid["x"], grid["x"] + grid["w"])
        for y in range(grid["y"], grid["y"] + grid["h"])
    }


def test_panels_fit_the_grid_without_overlapping(boards: dict[str, dict[str, Any]]) -> None:
    for name, board in boards.items():
        grids = [panel["gridPos"] for panel in board["panels"]]
        for grid in grids:
            assert grid["x"] >= 0
            assert grid["y"] >= 0
            assert grid["w"] > 0
            assert grid["h"] > 0
            assert grid["x"] + grid["w"] <= 24
        for a, b in combinations(grids, 2):
            assert not cells(a) & cells(b), f"{name}: {a} overlaps {b}"


def test_variables_are_multi_select_label_value_queries(boards: dict[str, dict[str, Any]]) -> None:
    for name, board in boards.items():
        variables = {variable["name"]: variable for variable in board["templating"]["list"]}
        expected = {"environment", "service_name"} | ({"tenant_id"} if name in TENANT_BOARDS else set())
        assert set(variables) == expected
        for label, variable in variables.items():
            assert variable["type"] == "query"
            assert variable["multi"] is True
            assert variable["includeAll"] is True
            match = LABEL_VALUES.fullmatch(variable["query"]["query"])
            assert match, variable["query"]
            assert match["label"] == label
            promql_parser.parse(match["selector"])


def test_variables_preselect_the_given_names_or_all(boards: dict[str, dict[str, Any]]) -> None:
    variables = {v["name"]: v for v in boards["tenant-metrics.json"]["templating"]["list"]}
    assert variables["service_name"]["current"]["value"] == ["api", "auth"]
    assert variables["environment"]["current"]["value"] == ["prod"]
    assert variables["tenant_id"]["current"]["value"] == ["$__all"]
    empty = loaded(render(services=[], environments=[]))["system-overview.json"]["templating"]["list"]
    assert all(variable["current"]["value"] == ["$__all"] for variable in empty)


def test_every_expr_is_filtered_by_the_dashboards_variables(boards: dict[str, dict[str, Any]]) -> None:
    for name, board in boards.items():
        defined = {variable["name"] for variable in board["templating"]["list"]}
        for expr in exprs(board):
            used = set(VARIABLE.findall(expr)) - {"__rate_interval"}
            assert used == defined, f"{name}: {expr!r} uses {used}, dashboard defines {defined}"
            for label in defined:
                assert f'{label}=~"${label}"' in expr


def test_targets_use_the_given_datasource() -> None:
    for board in loaded(dashboards("luxima", [], [], datasource_uid="prom-main")).values():
        sources = [panel["datasource"] for panel in board["panels"]]
        sources += [target["datasource"] for panel in board["panels"] for target in panel["targets"]]
        sources += [variable["datasource"] for variable in board["templating"]["list"]]
        assert all(source == {"type": "prometheus", "uid": "prom-main"} for source in sources)


def test_the_metrics_the_standard_names_are_charted(boards: dict[str, dict[str, Any]]) -> None:
    text = {name: " ".join(exprs(board)) for name, board in boards.items()}
    expected = {
        "system-overview.json": [
            "node_cpu_seconds_total",
            "node_memory_MemAvailable_bytes",
            "node_filesystem_avail_bytes",
            "container_cpu_usage_seconds_total",
            "container_memory_working_set_bytes",
        ],
        "application-metrics.json": ["http_requests_total", "http_request_duration_seconds_bucket"],
        "tenant-metrics.json": ["http_requests_total", "login_total", "plugin_invocations_total"],
        "database-metrics.json": ["pg_up", "pg_locks_count", "pg_replication_lag", "pg_stat_database_"],
        "security-overview.json": [
            "login_failed_total",
            "rls_violation_total",
            "jwt_validation_errors_total",
        ],
    }
    for name, metrics in expected.items():
        for metric in metrics:
            assert metric in text[name], f"{name} lacks {metric}"


names = st.lists(st.text(max_size=20), max_size=5)


@settings(max_examples=50, deadline=None)
@given(project=st.text(min_size=1, max_size=30), services=names, environments=names)
def test_any_names_give_deterministic_parseable_dashboards(
    project: str, services: list[str], environments: list[str]
) -> None:
    first = dashboards(project, services, environments)
    assert first == dashboards(project, list(services), list(environments))
    assert_all_parse(first)
    for board in loaded(first).values():
        variables = {variable["name"]: variable for variable in board["templating"]["list"]}
        chosen = list(dict.fromkeys(services))
        assert variables["service_name"]["current"]["value"] == (chosen or ["$__all"])
