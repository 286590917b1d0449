"""Cross-reference checks: every name a spec uses must be defined, once, and unambiguously.

They read the plain data (before or after model validation) so that they can run even when other parts of
the file are invalid, and report every problem at once.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from siaga.domain.conditions import ConditionError, compile_condition
from siaga.spec.checks import CHECK_KINDS, CHECK_VARIABLES, SIGNAL_VARIABLES
from siaga.spec.durations import parse_duration
from siaga.spec.errors import Path

Problem = tuple[Path, str]
ONCALL = "oncall:"


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _items(value: Any) -> Iterator[tuple[int, Any]]:
    yield from enumerate(value if isinstance(value, list) else [])


def _defined(kind: str, names: dict[str, Any]) -> str:
    listed = ", ".join(sorted(names)) if names else "none"
    return f"({kind} defined: {listed})"


class _Checker:
    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data
        self.channels = _mapping(data.get("channels"))
        self.people = _mapping(data.get("people"))
        self.schedules = _mapping(data.get("schedules"))
        self.escalations = _mapping(data.get("escalations"))
        self.services = _mapping(data.get("services"))
        self.problems: list[Problem] = []

    def report(self, path: Path, message: str) -> None:
        self.problems.append((path, message))

    def notify_targets(self, path: Path, targets: Any) -> None:
        for i, target in _items(targets):
            if not isinstance(target, str):
                continue
            if target.startswith(ONCALL):
                schedule = target.removeprefix(ONCALL)
                if schedule not in self.schedules:
                    self.report(
                        (*path, i),
                        f"unknown schedule '{schedule}' in '{target}' "
                        + _defined("schedules", self.schedules),
                    )
            elif target not in self.channels and target not in self.people:
                self.report(
                    (*path, i), f"unknown notify target '{target}': not a channel, person or oncall:schedule"
                )

    def unique(self, seen: set[str], path: Path, name: Any, what: str, where: str = "") -> None:
        """Report `name` when already in `seen` ("duplicate <what> '<name>'<where>"), then remember it."""
        if not isinstance(name, str):
            return
        if name in seen:
            self.report(path, f"duplicate {what} '{name}'{where}")
        seen.add(name)

    def escalation_ref(self, path: Path, name: Any) -> None:
        if isinstance(name, str) and name not in self.escalations:
            self.report(path, f"unknown escalation '{name}' " + _defined("escalations", self.escalations))

    def severities(self) -> set[str]:
        seen: dict[str, str] = {}
        for i, severity in _items(self.data.get("severities")):
            severity = _mapping(severity)
            owner = severity.get("name")
            names: list[tuple[Path, Any]] = [(("severities", i, "name"), owner)]
            names += [(("severities", i, "aliases", j), a) for j, a in _items(severity.get("aliases"))]
            for path, name in names:
                if not isinstance(name, str):
                    continue
                key = name.casefold()
                if key in seen:
                    self.report(
                        path, f"duplicate severity name or alias '{name}' (already used by {seen[key]})"
                    )
                else:
                    seen[key] = str(owner)
            self.escalation_ref(("severities", i, "escalation"), severity.get("escalation"))
        return set(seen)

    def names(self) -> None:
        for name in self.channels.keys() & self.people.keys():
            self.report(
                ("channels", name),
                f"'{name}' is both a channel and a person; notify targets would be ambiguous, rename one",
            )
        for name, schedule in self.schedules.items():
            for i, member in _items(_mapping(schedule).get("members")):
                if isinstance(member, str) and member not in self.people:
                    self.report(
                        ("schedules", name, "members", i),
                        f"unknown person '{member}': schedule members must be people "
                        + _defined("people", self.people),
                    )

    def escalation_steps(self) -> None:
        for name, escalation in self.escalations.items():
            previous: Any = None
            for i, step in _items(_mapping(escalation).get("steps")):
                step = _mapping(step)
                self.notify_targets(("escalations", name, "steps", i, "notify"), step.get("notify"))
                after = step.get("after", "0s")
                try:
                    delay = parse_duration(after if isinstance(after, str) else f"{after}s")
                except ValueError:
                    continue
                if previous is not None and delay < previous[0]:
                    self.report(
                        ("escalations", name, "steps", i, "after"),
                        f"step delay '{after}' is earlier than the previous step's '{previous[1]}'; "
                        "steps must not go back in time",
                    )
                previous = (delay, after)

    def routes(self, severity_names: set[str]) -> None:
        for i, route in _items(self.data.get("routes")):
            route = _mapping(route)
            severity = _mapping(route.get("match")).get("severity")
            if isinstance(severity, str) and severity.casefold() not in severity_names:
                self.report(
                    ("routes", i, "match", "severity"),
                    f"unknown severity '{severity}' (not a severity name or alias)",
                )
            self.notify_targets(("routes", i, "notify"), route.get("notify"))
            self.escalation_ref(("routes", i, "escalation"), route.get("escalation"))

    def services_graph(self) -> None:
        project = _mapping(self.data.get("project"))
        environments = project.get("environments", ["production"])
        for name, service in self.services.items():
            service = _mapping(service)
            env = service.get("environment")
            if isinstance(env, str) and isinstance(environments, list) and env not in environments:
                self.report(
                    ("services", name, "environment"),
                    f"unknown environment '{env}' (project.environments: "
                    + ", ".join(map(str, environments))
                    + ")",
                )
            for i, dep in _items(service.get("depends_on")):
                if dep == name:
                    self.report(
                        ("services", name, "depends_on", i), f"service '{name}' cannot depend on itself"
                    )
                elif isinstance(dep, str) and dep not in self.services:
                    self.report(
                        ("services", name, "depends_on", i),
                        f"unknown service '{dep}' " + _defined("services", self.services),
                    )
        self._cycles()

    def _cycles(self) -> None:
        edges = {
            name: [
                d
                for _, d in _items(_mapping(s).get("depends_on"))
                if isinstance(d, str) and d in self.services
            ]
            for name, s in self.services.items()
        }
        done: set[str] = set()
        for root in edges:
            stack: list[str] = []
            self._visit(root, edges, stack, done)

    def _visit(self, node: str, edges: dict[str, list[str]], stack: list[str], done: set[str]) -> None:
        if node in done:
            return
        stack.append(node)
        for i, dep in enumerate(edges[node]):
            if dep == node:
                continue
            if dep in stack:
                cycle = [*stack[stack.index(dep) :], dep]
                self.report(("services", node, "depends_on", i), "dependency cycle: " + " -> ".join(cycle))
            else:
                self._visit(dep, edges, stack, done)
        stack.pop()
        done.add(node)

    def maintenance(self) -> None:
        seen: set[str] = set()
        for i, window in _items(self.data.get("maintenance")):
            window = _mapping(window)
            self.unique(seen, ("maintenance", i, "name"), window.get("name"), "maintenance window name")
            for j, service in _items(window.get("services")):
                if isinstance(service, str) and service != "*" and service not in self.services:
                    self.report(
                        ("maintenance", i, "services", j),
                        f"unknown service '{service}' " + _defined("services", self.services),
                    )
            self.notify_targets(("maintenance", i, "announce_to"), window.get("announce_to"))

    def severity_ref(self, path: Path, name: Any, severity_names: set[str]) -> None:
        if isinstance(name, str) and name.casefold() not in severity_names:
            self.report(path, f"unknown severity '{name}' (not a severity name or alias)")

    def checks(self, severity_names: set[str]) -> None:
        for service_name, service in self.services.items():
            service = _mapping(service)
            checks: dict[str, dict[str, Any]] = {}
            for i, check in _items(service.get("checks")):
                check = _mapping(check)
                path: Path = ("services", service_name, "checks", i)
                name = check.get("name")
                if isinstance(name, str):
                    if name in checks:
                        self.report((*path, "name"), f"duplicate check name '{name}' in '{service_name}'")
                    checks[name] = check
                self.severity_ref((*path, "severity"), check.get("severity"), severity_names)
            seen: set[str] = set()
            for i, slo in _items(service.get("slos")):
                slo = _mapping(slo)
                path = ("services", service_name, "slos", i)
                self.unique(seen, (*path, "name"), slo.get("name"), "SLO name", f" in '{service_name}'")
                for j, check_name in _items(slo.get("checks")):
                    if isinstance(check_name, str) and check_name not in checks:
                        self.report(
                            (*path, "checks", j),
                            f"unknown check '{check_name}' of service '{service_name}' "
                            + _defined("checks", checks),
                        )
                if not slo.get("checks") and not checks and not slo.get("sli"):
                    self.report(path, f"service '{service_name}' has no checks to measure this SLO from")
                for key in ("page_severity", "ticket_severity"):
                    self.severity_ref((*path, key), slo.get(key), severity_names)

    def rules(self, severity_names: set[str]) -> None:
        seen: set[str] = set()
        for i, rule in _items(self.data.get("rules")):
            rule = _mapping(rule)
            if rule.get("expr") is None:
                # PromQL rules may share an alertname (one per severity is common), as in Prometheus.
                self.unique(seen, ("rules", i, "name"), rule.get("name"), "rule name")
            self.severity_ref(("rules", i, "severity"), rule.get("severity"), severity_names)
            signal = rule.get("signal")
            if isinstance(signal, str) and signal.startswith("check.") and not self.signal_checks(signal):
                self.report(("rules", i, "signal"), f"signal '{signal}' matches no check of any service")
            elif isinstance(signal, str) and not signal.startswith("check."):
                self.report(("rules", i, "signal"), f"unknown signal kind in '{signal}' (known: check.)")
            elif isinstance(signal, str) and isinstance(rule.get("condition"), str):
                self.rule_condition(("rules", i, "condition"), signal, rule["condition"])

    def rule_condition(self, path: Path, signal: str, condition: str) -> None:
        try:
            names = compile_condition(condition).variables
        except ConditionError:
            return  # reported by the model
        provided = set(SIGNAL_VARIABLES) | {"latency"}
        for _service, check in self.signal_checks(signal):
            provided |= next((CHECK_VARIABLES[k] for k in CHECK_KINDS if check.get(k) is not None), set())
        unknown = sorted(names - provided)
        if unknown:
            self.report(
                path,
                f"'{condition}' names {', '.join(unknown)}, which signal '{signal}' does not provide "
                f"(it has: {', '.join(sorted(provided))})",
            )

    def signal_checks(self, signal: str) -> list[tuple[str, dict[str, Any]]]:
        """The (service, check data) pairs a `check.` signal selects."""
        return select_checks(self.services, signal)

    def fallback(self) -> None:
        name = _mapping(self.data.get("project")).get("fallback_channel")
        if isinstance(name, str) and name not in self.channels:
            self.report(
                ("project", "fallback_channel"),
                f"unknown channel '{name}' " + _defined("channels", self.channels),
            )


def check_references(data: dict[str, Any]) -> list[Problem]:
    """Given spec data (plain dicts and lists), return (path, message) per dangling or duplicate name."""
    checker = _Checker(data)
    severity_names = checker.severities()
    checker.names()
    checker.escalation_steps()
    checker.routes(severity_names)
    checker.services_graph()
    checker.maintenance()
    checker.fallback()
    checker.checks(severity_names)
    checker.rules(severity_names)
    return checker.problems


def select_checks(services: dict[str, Any], signal: str) -> list[tuple[str, dict[str, Any]]]:
    """Given services (plain data) and `check.NAME` or `check.SERVICE.NAME`, return the (service, check)
    pairs it selects."""
    target = signal.removeprefix("check.")
    found = []
    for service_name, service in services.items():
        for _, check in _items(_mapping(service).get("checks")):
            check = _mapping(check)
            name = check.get("name")
            if name == target or f"{service_name}.{name}" == target:
                found.append((service_name, check))
    return found
