"""Alertmanager label matchers (``match``, ``match_re``, ``matchers`` strings) as the spec writes them."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from siaga.importers.source import Reader, spec_text

_NEGATE = {"=": "!=", "!=": "=", "=~": "!~", "!~": "=~"}
_ITEM = re.compile(
    r'\s*(?P<name>[A-Za-z_:][A-Za-z0-9_:]*|"(?:[^"\\]|\\.)*")\s*(?P<op>=~|!~|!=|=)\s*'
    r'(?P<value>"(?:[^"\\]|\\.)*"|[^,"]*?)\s*(?:,|$)'
)
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r"}


@dataclass(frozen=True, slots=True)
class Cond:
    """One matcher; ``origin`` says how the file wrote it (match, match_re or matchers), so that the spec
    can write it the same way."""

    name: str
    op: str
    value: str
    origin: str = "matchers"

    def negated(self) -> Cond:
        return Cond(self.name, _NEGATE[self.op], self.value)

    def text(self) -> str:
        # The spec's matcher parser strips the outer quotes and reads what is between them as it is.
        return f'{self.name}{self.op}"{self.value}"'

    def holds(self, labels: dict[str, str]) -> bool:
        actual = labels.get(self.name, "")
        if self.op == "=":
            return actual == self.value
        if self.op == "!=":
            return actual != self.value
        found = re.fullmatch(self.value, actual) is not None
        return found if self.op == "=~" else not found


def _unquote(text: str) -> str:
    if len(text) >= 2 and text[0] == text[-1] == '"':
        return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), m.group(1)), text[1:-1])
    return text


def _checked(read: Reader, cond: Cond, where: str) -> Cond:
    if cond.op in ("=~", "!~"):
        try:
            re.compile(cond.value)
        except re.error as exc:
            read.fail(where, f"'{cond.value}' is not a regular expression Siaga can read: {exc}")
    return cond


def parse_matchers(read: Reader, text: str, where: str) -> list[Cond]:
    """Given one ``matchers:`` string (``a="b"``, ``a=~"x|y", c!=d``, ``{a="b"}``), return its matchers."""
    body = text.strip()
    if body.startswith("{") and body.endswith("}"):
        body = body[1:-1].strip()
    found: list[Cond] = []
    position = 0
    while position < len(body):
        item = _ITEM.match(body, position)
        if item is None or item.end() == position:
            read.fail(where, f'\'{text}\' is not a matcher: write name="value", name!="value", name=~"regex"')
        cond = Cond(_unquote(item["name"]), item["op"], _unquote(item["value"]))
        found.append(_checked(read, cond, where))
        position = item.end()
    if not found:
        read.fail(where, "an empty matcher")
    return found


def read_conditions(read: Reader, node: dict[str, Any], where: str, prefix: str = "") -> list[Cond]:
    """The matchers of a route (``match``, ``match_re``, ``matchers``) or of an inhibit rule's side
    (``source_match``, …, with ``prefix="source_"``), in the order the file wrote those keys."""
    conds: list[Cond] = []
    for key in node:
        at = f"{where}.{key}"
        if key == f"{prefix}match":
            for name, value in read.labels(node[key], at).items():
                conds.append(Cond(name, "=", value, "match"))
        elif key == f"{prefix}match_re":
            for name, value in read.labels(node[key], at).items():
                conds.append(_checked(read, Cond(name, "=~", value, "match_re"), f"{at}.{name}"))
        elif key == f"{prefix}matchers":
            for i, text in enumerate(read.names(node[key], at)):
                conds += parse_matchers(read, text, f"{at}[{i}]")
    return conds


def spec_matchers(conds: list[Cond]) -> dict[str, Any]:
    """Given matchers, return the spec's ``match`` / ``match_re`` / ``matchers`` keys holding them."""
    match: dict[str, str] = {}
    match_re: dict[str, str] = {}
    rest: list[str] = []
    for cond in conds:
        if cond.origin == "match" and cond.op == "=" and cond.name not in match:
            match[cond.name] = spec_text(cond.value)
        elif cond.origin == "match_re" and cond.op == "=~" and cond.name not in match_re:
            match_re[cond.name] = spec_text(cond.value)
        else:
            rest.append(spec_text(cond.text()))
    written: dict[str, Any] = {}
    if match:
        written["match"] = match
    if match_re:
        written["match_re"] = match_re
    if rest:
        written["matchers"] = rest
    return written
