"""Rules over signals with Prometheus' `for:` semantics: inactive → pending → firing → resolved.

A rule instance is one rule applied to one signal source (one check of one service). While its condition
holds it is pending; once it has held for `for`, it fires; the first evaluation where it does not hold
resolves it (and a pending instance simply goes back to inactive, as in Prometheus).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True, slots=True)
class RuleState:
    active_since: datetime | None = None  # condition holding since (pending or firing)
    firing: bool = False


@dataclass(frozen=True, slots=True)
class RuleStep:
    state: RuleState
    fire: bool = False
    resolve: bool = False


def evaluate(state: RuleState, holds: bool, now: datetime, for_: timedelta) -> RuleStep:
    """Given an instance's state, whether its condition holds now and the rule's `for`, return the new state
    and whether the alert fires or resolves at this evaluation."""
    if not holds:
        return RuleStep(RuleState(), resolve=state.firing)
    since = state.active_since or now
    if state.firing:
        return RuleStep(RuleState(since, True))
    if now - since >= for_:
        return RuleStep(RuleState(since, True), fire=True)
    return RuleStep(RuleState(since, False))
