"""Reading the files we import: YAML text → plain data, and typed access that names the place on error."""

from __future__ import annotations

import re
from typing import Any, NoReturn

import yaml

from siaga.importers.report import SourceError
from siaga.spec.durations import format_duration, parse_duration

_PROM_DURATION = re.compile(
    r"^(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?$"
)
_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_DEFAULTED = re.compile(r"\$\{[^}]*:-")
_NOT_NAME = re.compile(r"[^A-Za-z0-9]+")


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys, as Prometheus and Alertmanager do."""


def _mapping_without_duplicates(loader: _StrictLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    loader.flatten_mapping(node)
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        if isinstance(key, str | int | float | bool) and key in seen:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key '{key}'", key_node.start_mark)
        seen.add(key)
    return loader.construct_mapping(node, deep=True)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping_without_duplicates)


def read_yaml(text: str, filename: str) -> Any:
    """Given file text, return its one YAML document as plain data; raise SourceError naming line:column."""
    try:
        return yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise SourceError(f"{filename}: not valid YAML: {where}{exc.problem or exc}") from None
    except yaml.YAMLError as exc:
        raise SourceError(f"{filename}: not valid YAML: {exc}") from None


class Reader:
    """Typed access to the data of one file; every failure is a SourceError naming file and place."""

    def __init__(self, filename: str) -> None:
        self.filename = filename

    def fail(self, where: str, problem: str) -> NoReturn:
        raise SourceError(f"{self.filename}: {where}: {problem}" if where else f"{self.filename}: {problem}")

    def mapping(self, value: Any, where: str, *, optional: bool = True) -> dict[str, Any]:
        if value is None and optional:
            return {}
        if not isinstance(value, dict):
            self.fail(where, f"expected a mapping, got {kind(value)}")
        for key in value:
            if not isinstance(key, str):
                self.fail(where, f"keys must be names, got {kind(key)} {key!r}")
        return value

    def items(self, value: Any, where: str) -> list[Any]:
        if value is None:
            return []
        if not isinstance(value, list):
            self.fail(where, f"expected a list, got {kind(value)}")
        return value

    def text(self, value: Any, where: str) -> str:
        """A string; numbers are accepted and spelt as YAML wrote them (Go's YAML reads them as text too)."""
        if isinstance(value, str):
            return value
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)
        self.fail(where, f"expected a string, got {kind(value)}")

    def optional_text(self, value: Any, where: str) -> str | None:
        return None if value is None else self.text(value, where)

    def labels(self, value: Any, where: str) -> dict[str, str]:
        """A label (or annotation) mapping; scalar values become text, as Prometheus reads them."""
        found: dict[str, str] = {}
        for name, item in self.mapping(value, where).items():
            if isinstance(item, bool):
                found[name] = "true" if item else "false"
            else:
                found[name] = self.text(item, f"{where}.{name}")
        return found

    def names(self, value: Any, where: str) -> list[str]:
        return [self.text(item, f"{where}[{i}]") for i, item in enumerate(self.items(value, where))]

    def flag(self, value: Any, where: str, default: bool = False) -> bool:
        if value is None:
            return default
        if not isinstance(value, bool):
            self.fail(where, f"expected true or false, got {kind(value)}")
        return value

    def duration(self, value: Any, where: str) -> str:
        """A Prometheus duration (``30s``, ``1h30m``, ``2w``) as the spec spells it (weeks, years in days)."""
        text = self.text(value, where).strip()
        found = _PROM_DURATION.match(text)
        if not text or found is None:
            self.fail(where, f"'{text}' is not a duration (write e.g. 30s, 5m, 1h30m)")
        years, weeks = (int(part or 0) for part in found.groups()[:2])
        if not years and not weeks:
            parse_duration(text)  # same grammar from here on
            return text
        rest = text.split("w", 1)[-1] if weeks else text.split("y", 1)[-1]
        total = parse_duration(rest) if rest else parse_duration("0s")
        total += parse_duration(f"{years * 365 + weeks * 7}d")
        return format_duration(total)


def kind(value: Any) -> str:
    """Given a YAML value, return how a reader would call its kind: 'a mapping', 'a list', 'nothing'…"""
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "true/false"
    names = {dict: "a mapping", list: "a list", str: "a string", int: "a number", float: "a number"}
    return next((name for t, name in names.items() if isinstance(value, t)), type(value).__name__)


def references(text: str) -> list[str]:
    """The ``${ENV_VAR}`` names a string refers to (a file already templated for its secrets). A reference
    with a default (``${VAR:-value}``) does not count: its default may be the secret itself."""
    if _DEFAULTED.search(text):
        return []
    return _REFERENCE.findall(text)


def env_name(*parts: str) -> str:
    """Given words such as a channel name and a field, return an environment variable name for them."""
    name = "_".join(p for p in (_NOT_NAME.sub("_", part).strip("_").upper() for part in parts) if p)
    return f"_{name}" if name[:1].isdigit() else name or "SECRET"


def spec_text(text: str) -> str:
    """Given text meant literally, return it as the spec must spell it: ``$`` doubled where the spec
    loader would otherwise read ``${…}`` or ``$$`` (everything else, byte for byte)."""
    return text.replace("$", "$$") if "${" in text or "$$" in text else text
