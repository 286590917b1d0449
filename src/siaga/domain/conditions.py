"""Conditions written in CEL (the language of Kubernetes, Keep and blackbox_exporter), compiled once.

A condition is evaluated against a mapping of variables; it must yield a boolean. Evaluation never raises:
an expression that cannot be evaluated (a missing key, a type mismatch) counts as not holding, with the
reason kept for the alert text.

Errors::

    ConditionError   the text is not a valid CEL expression
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import cel

_MACRO_VARIABLE = re.compile(r"\.(?:all|exists|exists_one|map|filter)\(\s*([A-Za-z_][A-Za-z0-9_]*)\s*,")

__all__ = ["CompiledCondition", "ConditionError", "Verdict", "compile_condition"]


class ConditionError(ValueError):
    """A condition that does not compile; the message is one line."""


@dataclass(frozen=True, slots=True)
class Verdict:
    holds: bool
    error: str | None = None  # why it could not be evaluated


@dataclass(frozen=True, slots=True)
class CompiledCondition:
    source: str
    program: cel.Program
    variables: frozenset[str]

    def evaluate(self, variables: Mapping[str, Any]) -> Verdict:
        """Given the variables, return whether the condition holds (False, with the reason, on an error)."""
        try:
            result = self.program.execute(dict(variables))
        except (RuntimeError, KeyError, TypeError, ValueError, IndexError) as exc:
            return Verdict(False, _one_line(exc))
        if not isinstance(result, bool):
            return Verdict(False, f"yields {type(result).__name__}, not a boolean")
        return Verdict(result)


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if isinstance(exc, KeyError):
        return f"no key {text}"
    return text[:200]


@lru_cache(maxsize=4096)
def compile_condition(source: str) -> CompiledCondition:
    """Given CEL text, return it compiled; raise ConditionError naming the position of a syntax error."""
    if not source.strip():
        raise ConditionError("empty condition")
    import cel  # here, not at the top: with prompt_toolkit ~20 MB, paid only by specs with conditions

    try:
        program = cel.compile(source)
    except (ValueError, RuntimeError) as exc:
        message = str(exc)
        # "Failed to parse expression '…': ERROR: <input>:1:10: Syntax error: mismatched input …"
        if "ERROR: <input>:" in message:
            detail = message.split("ERROR: <input>:", 1)[1].split(" expecting ")[0]
            position, _, reason = detail.partition(": ")
            message = f"invalid CEL '{source}' at column {position.split(':')[-1]}: {reason.strip()}"
        raise ConditionError(" ".join(message.split())[:300]) from None
    # Top-level names only (`disk["/"].percent` names `disk`), without those a macro binds (`x` in
    # `records.exists(x, x == "10.0.0.1")`): the rest must come from the caller's variables.
    bound = set(_MACRO_VARIABLE.findall(source))
    names = frozenset(name.split(".")[0] for name in program.variables()) - bound
    return CompiledCondition(source, program, names)
