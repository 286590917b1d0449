"""Container hardening: docker-compose files and Dockerfiles read from disk, judged by pure rules.

``audit_containers(paths)`` finds ``docker-compose.yml`` / ``compose.yaml`` / ``*.compose.yml`` and
``Dockerfile`` / ``*.Dockerfile`` files, parses them (PyYAML with line marks, dockerfile-parse), and runs the
rules of ``SERVICE_RULES`` and ``DOCKERFILE_RULES`` over the parsed data; every finding is located
``path:line``. A file that cannot be parsed is a ``containers.unparsable`` finding, never an exception.

A compose service built from a Dockerfile the audit can read leaves its user and health check to that
Dockerfile (audited on its own), so one missing ``USER`` is reported once, where it is fixed.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml
from dockerfile_parse import DockerfileParser  # type: ignore[import-untyped]  # ships no type hints

from siaga.domain.audit import Finding, Severity

AREA = "containers"
DATABASE_PORTS: Mapping[int, str] = {
    3306: "MySQL/MariaDB",
    5432: "PostgreSQL",
    6379: "Redis",
    27017: "MongoDB",
    9200: "Elasticsearch",
}
DANGEROUS_CAPABILITIES = frozenset({"ALL", "SYS_ADMIN", "SYS_MODULE", "SYS_PTRACE"})
ENGINE_SOCKETS = ("docker.sock", "podman.sock", "containerd.sock")
ROOT_USERS = frozenset({"root", "0"})
COMPOSE_NAMES = frozenset({"docker-compose.yml", "docker-compose.yaml", "compose.yml", "compose.yaml"})
SKIPPED_DIRS = frozenset({".git", ".hg", ".venv", "venv", "node_modules", "__pycache__", ".tox"})
_INSTRUCTIONS = frozenset(
    "FROM RUN CMD LABEL MAINTAINER EXPOSE ENV ADD COPY ENTRYPOINT VOLUME USER WORKDIR ARG ONBUILD "  # noqa: SIM905
    "STOPSIGNAL HEALTHCHECK SHELL COMMENT".split()
)
_HEREDOC = re.compile(r"<<-?\s*[\"']?([A-Za-z_][A-Za-z0-9_]*)[\"']?")
_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?+])([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)")
_ALL_INTERFACES = frozenset({"", "0.0.0.0", "::", "[::]", "*"})  # noqa: S104 - what the rule looks for


@dataclass(frozen=True, slots=True)
class Rule:
    """A check's identity: id, severity, what it wants and how to fix a failure."""

    id: str
    severity: Severity
    what: str
    fix: str

    def finding(self, location: str, message: str, evidence: str = "") -> Finding:
        return Finding(self.id, AREA, self.severity, location, message, evidence, self.fix)


UNPARSABLE = Rule(
    "containers.unparsable",
    Severity.MEDIUM,
    "the file parses (YAML / Dockerfile syntax)",
    "fix the syntax at the line shown (`docker compose config` / `docker build --check` tell more)",
)
ROOT_USER = Rule(
    "containers.root-user",
    Severity.MEDIUM,
    "the container runs as a non-root user",
    'set `user: "10001:10001"` on the service, or end the Dockerfile\'s last stage with `USER app`',
)
NO_MEMORY_LIMIT = Rule(
    "containers.no-memory-limit",
    Severity.MEDIUM,
    "a memory limit is set",
    "set `deploy.resources.limits.memory: 512M` (or `mem_limit: 512m`)",
)
NO_CPU_LIMIT = Rule(
    "containers.no-cpu-limit",
    Severity.LOW,
    "a CPU limit is set",
    'set `deploy.resources.limits.cpus: "1.0"` (or `cpus: 1.0`)',
)
NO_HEALTHCHECK = Rule(
    "containers.no-healthcheck",
    Severity.LOW,
    "a health check is defined",
    'add `healthcheck: {test: ["CMD", …], interval: 30s}` to the service, or `HEALTHCHECK CMD …`',
)
ENGINE_SOCKET = Rule(
    "containers.docker-socket",
    Severity.CRITICAL,
    "the container engine's socket is not mounted (it is root on the host, even `:ro`)",
    "remove the docker.sock volume; if the API is needed, put a filtering socket proxy in front",
)
PUBLIC_DATABASE_PORT = Rule(
    "containers.database-port-public",
    Severity.HIGH,
    "database ports are not published on all interfaces",
    'publish on loopback (`"127.0.0.1:5432:5432"`) or not at all (services reach it over the network)',
)
UNPINNED_IMAGE = Rule(
    "containers.unpinned-image",
    Severity.MEDIUM,
    "images are pinned to a version tag or a digest",
    "pin the image: `postgres:16.4` or `postgres@sha256:…` (not `:latest` nor no tag)",
)
PRIVILEGED = Rule(
    "containers.privileged",
    Severity.CRITICAL,
    "the container is not privileged",
    "remove `privileged: true`; grant the one capability needed with `cap_add`, or a device with `devices`",
)
HOST_NETWORK = Rule(
    "containers.host-network",
    Severity.MEDIUM,
    "the container has its own network namespace",
    "remove `network_mode: host`; publish the ports needed with `ports:`",
)
DANGEROUS_CAPABILITY = Rule(
    "containers.dangerous-capability",
    Severity.HIGH,
    "no capability that escapes the container (ALL, SYS_ADMIN, SYS_MODULE, SYS_PTRACE) is added",
    "drop it from `cap_add`; start from `cap_drop: [ALL]` and add back only narrow ones (NET_BIND_SERVICE)",
)
WRITABLE_ROOT_FS = Rule(
    "containers.writable-root-fs",
    Severity.LOW,
    "the root file system is read-only (recommended)",
    "set `read_only: true` and mount `tmpfs:` for the paths that must be written (/tmp, /run)",
)


# --- YAML with line numbers ---------------------------------------------------------------------------

YamlPath = tuple[str | int, ...]


class DuplicateKeyError(ValueError):
    """A mapping repeats a key (compose refuses the file)."""

    def __init__(self, key: object, line: int) -> None:
        super().__init__(f"duplicate key '{key}'")
        self.line = line


@dataclass(frozen=True, slots=True)
class YamlDoc:
    """Plain data of a YAML document and the line where each path (keys and list items) was written."""

    data: Any
    lines: Mapping[YamlPath, int]

    def line(self, path: YamlPath) -> int:
        """Given a path, the line of it or of its nearest written ancestor."""
        while path and path not in self.lines:
            path = path[:-1]
        return self.lines.get(path, 1)


def read_yaml(text: str) -> YamlDoc:
    """Given YAML text, return its data and lines; raises yaml.YAMLError or DuplicateKeyError."""
    node = yaml.compose(text, Loader=yaml.SafeLoader)
    lines: dict[YamlPath, int] = {}
    scalars = yaml.constructor.SafeConstructor()

    def build(node: yaml.Node, path: YamlPath) -> Any:
        lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            result: dict[Any, Any] = {}
            merged: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":  # `<<: *defaults`, common in compose files
                    sources = value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
                    for source in sources:
                        value = build(source, path)
                        if isinstance(value, dict):
                            merged = {**value, **merged}
                    continue
                key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node.value)
                if key in result:
                    raise DuplicateKeyError(key, key_node.start_mark.line + 1)
                lines[(*path, key)] = key_node.start_mark.line + 1
                result[key] = build(value_node, (*path, key))
            return {**{k: v for k, v in merged.items() if k not in result}, **result}
        if isinstance(node, yaml.SequenceNode):
            return [build(item, (*path, i)) for i, item in enumerate(node.value)]
        if node.tag.startswith("tag:yaml.org,2002:"):
            return scalars.construct_object(node)
        return node.value  # compose's own tags (!reset, !override): the text is what matters here

    return YamlDoc(build(node, ()) if node is not None else None, lines)


# --- compose ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Service:
    """One compose service: its configuration, where each part of it was written, and how it is built."""

    name: str
    file: str
    config: Mapping[str, Any]
    doc: YamlDoc
    built: bool = False  # from a Dockerfile this audit reads (that Dockerfile answers for USER, HEALTHCHECK)

    def at(self, *path: str | int) -> str:
        return f"{self.file}:{self.doc.line(('services', self.name, *path))}"


def with_defaults(text: str, variables: Mapping[str, str] | None = None) -> str | None:
    """Given text with ``${VAR:-default}`` references, fill in ``variables`` or defaults; None if unknown."""
    known = variables or {}
    unknown = False

    def fill(match: re.Match[str]) -> str:
        nonlocal unknown
        name = match.group(1) or match.group(4)
        if name in known:
            return known[name]
        if match.group(2) in (":-", "-"):
            return match.group(3) or ""
        unknown = True
        return ""

    filled = _VARIABLE.sub(fill, text.replace("$$", "\0")).replace("\0", "$")
    return None if unknown else filled


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else {}


def _items(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def _is_root(user: object) -> bool:
    name = str(user).strip().split(":", 1)[0]
    return name in ROOT_USERS


def check_user(service: Service) -> Iterator[Finding]:
    user = service.config.get("user")
    if user is None:
        if not service.built:
            yield ROOT_USER.finding(
                service.at(), f"service '{service.name}' sets no `user:` and runs as the image's user (root)"
            )
    elif _is_root(user):
        yield ROOT_USER.finding(service.at("user"), f"service '{service.name}' runs as root", f"user: {user}")


def check_limits(service: Service) -> Iterator[Finding]:
    limits = _mapping(_mapping(_mapping(service.config.get("deploy")).get("resources")).get("limits"))
    if not limits.get("memory") and not service.config.get("mem_limit"):
        yield NO_MEMORY_LIMIT.finding(service.at(), f"service '{service.name}' has no memory limit")
    if not limits.get("cpus") and not service.config.get("cpus") and not service.config.get("cpu_quota"):
        yield NO_CPU_LIMIT.finding(service.at(), f"service '{service.name}' has no CPU limit")


def check_healthcheck(service: Service) -> Iterator[Finding]:
    check = service.config.get("healthcheck")
    if check is None:
        if not service.built:
            yield NO_HEALTHCHECK.finding(service.at(), f"service '{service.name}' has no health check")
        return
    test = check.get("test") if isinstance(check, dict) else None
    disabled = isinstance(check, dict) and check.get("disable") is True
    if disabled or test == ["NONE"] or test == "NONE":
        yield NO_HEALTHCHECK.finding(
            service.at("healthcheck"), f"service '{service.name}' disables its health check"
        )


def _volume_source(volume: object) -> str:
    if isinstance(volume, dict):
        return str(volume.get("source", ""))
    return str(volume).split(":", 1)[0]


def check_engine_socket(service: Service) -> Iterator[Finding]:
    for i, volume in enumerate(_items(service.config.get("volumes"))):
        source = _volume_source(volume).rstrip("/")
        if source.endswith(ENGINE_SOCKETS):
            yield ENGINE_SOCKET.finding(
                service.at("volumes", i),
                f"service '{service.name}' mounts the container engine's socket",
                f"volume {source}",
            )


@dataclass(frozen=True, slots=True)
class Published:
    """One `ports:` entry: the host address it binds (empty: all) and the container ports it publishes."""

    host_ip: str
    targets: frozenset[int]


def _port_range(text: str) -> frozenset[int]:
    first, _, last = text.partition("-")
    if not first.isdigit() or (last and not last.isdigit()):
        return frozenset()
    return frozenset(range(int(first), int(last or first) + 1))


def parse_port(entry: object) -> Published | None:
    """Given a compose `ports:` item (short or long syntax), what it publishes; None if not understood."""
    if isinstance(entry, dict):
        target = str(entry.get("target", ""))
        return Published(str(entry.get("host_ip", "")), _port_range(target))
    text = with_defaults(str(entry))
    if text is None:
        return None
    text = text.split("/", 1)[0].strip()
    if text.startswith("["):  # [::1]:5432:5432
        address, _, rest = text[1:].partition("]")
        parts = [address, *rest.lstrip(":").split(":")]
    else:
        parts = text.split(":")
    host_ip = ":".join(parts[:-2]) if len(parts) >= 3 else ""
    return Published(host_ip, _port_range(parts[-1]))


def check_database_ports(service: Service) -> Iterator[Finding]:
    for i, entry in enumerate(_items(service.config.get("ports"))):
        published = parse_port(entry)
        if published is None or published.host_ip not in _ALL_INTERFACES:
            continue
        for port in sorted(published.targets & DATABASE_PORTS.keys()):
            yield PUBLIC_DATABASE_PORT.finding(
                service.at("ports", i),
                f"service '{service.name}' publishes {DATABASE_PORTS[port]} port {port} on all interfaces",
                f"ports: {entry}",
            )


def image_problem(reference: str) -> str | None:
    """Given an image reference, why it is not pinned (no tag, latest, a floating tag); None if pinned."""
    if "@sha256:" in reference or "@" in reference:
        return None
    name = reference.rsplit("/", 1)[-1]
    if ":" not in name:
        return "no tag (means latest)"
    tag = name.split(":", 1)[1]
    if tag.lower() == "latest":
        return "the latest tag"
    if not any(c.isdigit() for c in tag):
        return f"the floating tag '{tag}'"
    return None


def check_image(service: Service) -> Iterator[Finding]:
    image = service.config.get("image")
    if image is None or "build" in service.config:  # a built image's name is a label, not a pull
        return
    reference = with_defaults(str(image))
    problem = image_problem(reference) if reference else None
    if problem:
        yield UNPINNED_IMAGE.finding(
            service.at("image"), f"service '{service.name}' uses {problem}", f"image: {image}"
        )


def check_privileged(service: Service) -> Iterator[Finding]:
    if service.config.get("privileged") is True:
        yield PRIVILEGED.finding(
            service.at("privileged"), f"service '{service.name}' is privileged", "privileged: true"
        )


def check_network_mode(service: Service) -> Iterator[Finding]:
    if str(service.config.get("network_mode", "")).lower() == "host":
        yield HOST_NETWORK.finding(
            service.at("network_mode"),
            f"service '{service.name}' shares the host's network namespace",
            "network_mode: host",
        )


def check_capabilities(service: Service) -> Iterator[Finding]:
    for i, capability in enumerate(_items(service.config.get("cap_add"))):
        name = str(capability).upper().removeprefix("CAP_")
        if name in DANGEROUS_CAPABILITIES:
            yield DANGEROUS_CAPABILITY.finding(
                service.at("cap_add", i),
                f"service '{service.name}' adds capability {name}",
                f"cap_add: {name}",
            )


def check_read_only(service: Service) -> Iterator[Finding]:
    if service.config.get("read_only") is not True:
        yield WRITABLE_ROOT_FS.finding(
            service.at(), f"service '{service.name}' has a writable root file system"
        )


SERVICE_RULES: tuple[Callable[[Service], Iterator[Finding]], ...] = (
    check_user,
    check_limits,
    check_healthcheck,
    check_engine_socket,
    check_database_ports,
    check_image,
    check_privileged,
    check_network_mode,
    check_capabilities,
    check_read_only,
)


def compose_services(
    doc: YamlDoc, file: str, built: Callable[[Mapping[str, Any]], bool] = lambda _: False
) -> tuple[list[Service], list[Finding]]:
    """Given a parsed compose file, its services and the structural problems (as unparsable findings)."""
    if doc.data is None:
        return [], []
    if not isinstance(doc.data, dict):
        return [], [UNPARSABLE.finding(f"{file}:1", "not a compose file: expected a mapping")]
    services = doc.data.get("services")
    if services is None:
        return [], []
    if not isinstance(services, dict):
        where = f"{file}:{doc.line(('services',))}"
        return [], [UNPARSABLE.finding(where, "`services:` must be a mapping of service names")]
    found, problems = [], []
    for name, config in services.items():
        if config is None:
            config = {}
        if not isinstance(config, dict):
            where = f"{file}:{doc.line(('services', name))}"
            problems.append(UNPARSABLE.finding(where, f"service '{name}' must be a mapping"))
            continue
        found.append(Service(str(name), file, config, doc, built(config)))
    return found, problems


def audit_services(services: Iterable[Service]) -> list[Finding]:
    """Given compose services, every failed rule."""
    return [finding for service in services for rule in SERVICE_RULES for finding in rule(service)]


# --- Dockerfiles --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Instruction:
    keyword: str  # upper case: FROM, USER …
    value: str
    line: int  # 1-based


@dataclass(frozen=True, slots=True)
class Stage:
    """One build stage: its FROM and the instructions up to the next FROM."""

    image: str  # as written, ARGs filled in where they have defaults
    name: str | None
    line: int
    instructions: tuple[Instruction, ...]


def dockerfile_instructions(text: str) -> list[Instruction]:
    """Given Dockerfile text, its instructions (comments and heredoc bodies left out)."""
    parser = DockerfileParser(fileobj=io.BytesIO(text.encode()), env_replace=False)
    found: list[Instruction] = []
    heredoc: str | None = None
    for item in parser.structure:
        if heredoc is not None:  # dockerfile-parse reads a heredoc's body as instructions
            if item["content"].strip() == heredoc:
                heredoc = None
            continue
        keyword = str(item["instruction"]).upper()
        if keyword == "COMMENT":
            continue
        found.append(Instruction(keyword, str(item["value"]).strip(), int(item["startline"]) + 1))
        if keyword in ("RUN", "COPY", "ADD") and (match := _HEREDOC.search(found[-1].value)):
            heredoc = match.group(1)
    return found


def dockerfile_stages(instructions: Iterable[Instruction]) -> tuple[list[Stage], list[tuple[int, str]]]:
    """Given instructions, the build stages and the syntax problems (line, message)."""
    stages: list[Stage] = []
    problems: list[tuple[int, str]] = []
    args: dict[str, str] = {}
    current: tuple[str, str | None, int, list[Instruction]] | None = None
    for ins in instructions:
        if ins.keyword not in _INSTRUCTIONS:
            problems.append((ins.line, f"unknown instruction '{ins.keyword}'"))
        elif ins.keyword == "FROM":
            words = [w for w in ins.value.split() if not w.startswith("--")]
            if not words or (len(words) > 1 and (len(words) != 3 or words[1].lower() != "as")):
                problems.append(
                    (ins.line, f"FROM needs an image (`FROM image[:tag] [AS name]`): {ins.value}")
                )
                continue
            if current:
                stages.append(Stage(current[0], current[1], current[2], tuple(current[3])))
            image = with_defaults(words[0], args) or words[0]
            current = (image, words[2] if len(words) == 3 else None, ins.line, [])
        elif current is None:
            if ins.keyword != "ARG":
                problems.append((ins.line, f"{ins.keyword} before the first FROM"))
            name, _, default = ins.value.partition("=")
            args[name.strip()] = default.strip().strip("\"'")
        else:
            current[3].append(ins)
    if current:
        stages.append(Stage(current[0], current[1], current[2], tuple(current[3])))
    elif not problems:
        problems.append((1, "no FROM instruction"))
    return stages, problems


def _last(stages: list[Stage], keyword: str) -> Instruction | None:
    """The last `keyword` instruction in force in the final stage (its own, else the stage it is FROM)."""
    index = len(stages) - 1
    while True:
        found = [i for i in stages[index].instructions if i.keyword == keyword]
        if found:
            return found[-1]
        image = stages[index].image.lower()
        parents = [i for i, s in enumerate(stages[:index]) if s.name and s.name.lower() == image]
        if not parents:
            return None
        index = parents[-1]


def audit_dockerfile(stages: list[Stage], file: str) -> list[Finding]:
    """Given a Dockerfile's stages, every failed rule (user and health check judged on the final stage)."""
    if not stages:
        return []
    findings: list[Finding] = []
    final = stages[-1]
    user = _last(stages, "USER")
    if user is None:
        findings.append(
            ROOT_USER.finding(f"{file}:{final.line}", "the final stage sets no USER and runs as root")
        )
    elif _is_root(user.value) and "$" not in user.value:
        findings.append(
            ROOT_USER.finding(f"{file}:{user.line}", "the final stage runs as root", f"USER {user.value}")
        )
    check = _last(stages, "HEALTHCHECK")
    if check is None:
        findings.append(NO_HEALTHCHECK.finding(f"{file}:{final.line}", "the image defines no HEALTHCHECK"))
    elif check.value.upper().split()[:1] == ["NONE"]:
        findings.append(
            NO_HEALTHCHECK.finding(
                f"{file}:{check.line}", "the image disables its health check", "HEALTHCHECK NONE"
            )
        )
    names: set[str] = set()
    for stage in stages:
        if stage.image.lower() not in names and stage.image != "scratch" and "$" not in stage.image:
            problem = image_problem(stage.image)
            if problem:
                findings.append(
                    UNPINNED_IMAGE.finding(
                        f"{file}:{stage.line}", f"FROM uses {problem}", f"FROM {stage.image}"
                    )
                )
        if stage.name:
            names.add(stage.name.lower())
    return findings


# --- the collector ------------------------------------------------------------------------------------


def is_compose_file(path: Path) -> bool:
    name = path.name
    return name in COMPOSE_NAMES or name.endswith((".compose.yml", ".compose.yaml"))


def is_dockerfile(path: Path) -> bool:
    return path.name == "Dockerfile" or path.name.endswith((".Dockerfile", ".dockerfile"))


def _files(paths: Path | str | Iterable[Path | str]) -> Iterator[Path]:
    roots = [Path(paths)] if isinstance(paths, str | Path) else [Path(p) for p in paths]
    for root in roots:
        if root.is_file():
            yield root
            continue
        for path in sorted(root.rglob("*")):
            if path.is_file() and not SKIPPED_DIRS.intersection(path.relative_to(root).parts[:-1]):
                yield path


def _read(path: Path) -> tuple[str | None, Finding | None]:
    try:
        return path.read_text(encoding="utf-8"), None
    except UnicodeDecodeError:
        return None, UNPARSABLE.finding(f"{path}:1", f"{path} is not UTF-8 text")
    except OSError as exc:
        return None, UNPARSABLE.finding(f"{path}:1", f"cannot read {path}: {exc.strerror or exc}")


def _built_from(compose: Path, config: Mapping[str, Any]) -> Path | None:
    build = config.get("build")
    if build is None:
        return None
    context = build.get("context", ".") if isinstance(build, dict) else build
    dockerfile = build.get("dockerfile", "Dockerfile") if isinstance(build, dict) else "Dockerfile"
    if "://" in str(context) or str(context).startswith("git@"):
        return None
    path = compose.parent / str(context) / str(dockerfile)
    return path if path.is_file() else None


def audit_compose_file(path: Path, text: str) -> tuple[list[Finding], list[Path]]:
    """Given a compose file's text, its findings and the Dockerfiles its services are built from."""
    try:
        doc = read_yaml(text)
    except DuplicateKeyError as exc:
        return [UNPARSABLE.finding(f"{path}:{exc.line}", str(exc))], []
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        line = mark.line + 1 if mark else 1
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        return [UNPARSABLE.finding(f"{path}:{line}", f"not valid YAML: {problem}")], []
    dockerfiles: list[Path] = []

    def built(config: Mapping[str, Any]) -> bool:
        dockerfile = _built_from(path, config)
        if dockerfile:
            dockerfiles.append(dockerfile)
        return dockerfile is not None

    services, problems = compose_services(doc, str(path), built)
    return problems + audit_services(services), dockerfiles


def audit_dockerfile_text(path: Path, text: str) -> list[Finding]:
    """Given a Dockerfile's text, its findings (syntax problems as unparsable findings)."""
    stages, problems = dockerfile_stages(dockerfile_instructions(text))
    if problems:
        return [UNPARSABLE.finding(f"{path}:{line}", message) for line, message in problems]
    return audit_dockerfile(stages, str(path))


def audit_containers(paths: Path | str | Iterable[Path | str]) -> list[Finding]:
    """Given files or directories (searched recursively), the findings of every compose file and Dockerfile.

    Dockerfiles that compose services are built from are audited too, wherever they are.
    """
    findings: list[Finding] = []
    dockerfiles: dict[Path, Path] = {}
    for path in _files(paths):
        if is_compose_file(path):
            text, problem = _read(path)
            if text is None:
                findings += [problem] if problem else []
                continue
            found, built = audit_compose_file(path, text)
            findings += found
            for dockerfile in built:
                dockerfiles.setdefault(dockerfile.resolve(), dockerfile)
        elif is_dockerfile(path):
            dockerfiles.setdefault(path.resolve(), path)
    for path in dockerfiles.values():
        text, problem = _read(path)
        findings += audit_dockerfile_text(path, text) if text is not None else [problem] if problem else []
    return unique(findings)


def unique(findings: Iterable[Finding]) -> list[Finding]:
    """One finding per (rule, location), the identity baselines use; the first counts the others."""
    groups: dict[tuple[str, str], list[Finding]] = {}
    for finding in findings:
        groups.setdefault((finding.rule, finding.location), []).append(finding)
    return [
        replace(group[0], message=f"{group[0].message} (and {len(group) - 1} more here)")
        if len(group) > 1
        else group[0]
        for group in groups.values()
    ]


RULES: tuple[Rule, ...] = (
    UNPARSABLE,
    ROOT_USER,
    NO_MEMORY_LIMIT,
    NO_CPU_LIMIT,
    NO_HEALTHCHECK,
    ENGINE_SOCKET,
    PUBLIC_DATABASE_PORT,
    UNPINNED_IMAGE,
    PRIVILEGED,
    HOST_NETWORK,
    DANGEROUS_CAPABILITY,
    WRITABLE_ROOT_FS,
)
