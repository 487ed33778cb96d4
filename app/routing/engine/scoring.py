"""Contact scoring: the numbers behind contact selection (formulas in the package docstring)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class Attainment:
    """A tenant's counters for the current interval."""

    answered: int = 0
    answered_within_target: int = 0
    abandoned: int = 0

    def service_level(self) -> float | None:
        """Answered within T over everything that ended waiting (abandons count against); None when empty."""
        handled = self.answered + self.abandoned
        return None if handled == 0 else self.answered_within_target / handled


def deficit(attainment: Attainment, target: float) -> float:
    """How far below its target X the tenant is, as a share of X: 0 (on target or no data) to 1 (nothing in T)."""
    level = attainment.service_level()
    if level is None or target <= 0:
        return 0.0
    return max(0.0, target - level) / target


def sla_score(
    wait: float, target_seconds: float, deficit_value: float, weight: float, priority: int, beta: float
) -> float:
    """SLA_AWARE: W * (wait / T + D + beta * P)."""
    return weight * (wait / target_seconds + deficit_value + beta * priority)


def aging_score(wait: float, priority: int, aging_seconds: float) -> float:
    """PRIORITY_AGING: wait + P * aging seconds."""
    return wait + priority * aging_seconds
