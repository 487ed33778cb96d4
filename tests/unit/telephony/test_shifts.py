"""Agents working shifts in the simulator: log in, break in the middle, log out after finishing the contact."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from app.routing.engine import AgentConfig, EngineConfig, QueueConfig, TenantConfig
from app.telephony.simulator import (
    AgentBehaviour,
    Arrivals,
    HandleTime,
    Scenario,
    Shift,
    SimulationResult,
    simulate,
)

TENANT = TenantConfig("t")
QUEUE = QueueConfig("q", "t")


def center(
    shifts: Mapping[str, tuple[Shift, ...]],
    *,
    agents: int = 1,
    calls_per_hour: float = 120,
    duration: float = 3600,
    handle: HandleTime = HandleTime(120),
    behaviour: AgentBehaviour | None = None,
) -> Scenario:
    config = EngineConfig((TENANT,), (QUEUE,), tuple(AgentConfig(f"a{i}", frozenset({"t"})) for i in range(agents)))
    arrivals = Arrivals("q", ((0.0, calls_per_hour),), 3600, handle, patience_seconds=600)
    return Scenario(config, (arrivals,), duration, behaviour or AgentBehaviour(), shifts)


def talks(result: SimulationResult, agent_id: str) -> list[tuple[float, float]]:
    spans = []
    for contact in result.contacts:
        if contact.agent_id == agent_id:
            assert contact.answered_at is not None and contact.ended_at is not None
            spans.append((contact.answered_at, contact.ended_at))
    return sorted(spans)


def test_the_break_lies_in_the_middle_of_the_shift() -> None:
    assert Shift(1000, 2000, 400).working() == ((1000, 1800), (2200, 3000))
    assert Shift(0, 600).working() == ((0, 600),)


def test_agents_take_contacts_only_while_on_shift_and_finish_the_one_in_progress() -> None:
    shift = Shift(600, 2400, 600)  # works 600-1500 and 2100-3000
    scenario = center({"a0": (shift,)}, calls_per_hour=240)  # twice what one agent can take: always busy
    result = simulate(scenario, seed=5)
    spans = talks(result, "a0")
    assert len(spans) > 8
    working = shift.working()
    assert all(any(start <= answered < end for start, end in working) for answered, _ in spans)
    # A contact running at the break and at the logout is finished, not cut off.
    assert any(answered < 1500 < ended for answered, ended in spans)
    assert any(answered < 3000 < ended for answered, ended in spans)
    # Busy from the first answer on, so the agent was idle only in its breaks and off shift.
    assert spans[0][0] == pytest.approx(600, abs=60)


def test_an_outstanding_offer_is_withdrawn_when_the_agent_leaves() -> None:
    # Offers take 10 s to accept and talks about 1 s, with contacts always waiting: the agent is nearly
    # always holding an offer, also when its break (at 450) and its logout (at 1200) come. Those offers
    # are withdrawn (else their acceptance would fall in the break or after the logout) and re-offered.
    shifts = {"a0": (Shift(0, 1200, 300),), "a1": (Shift(0, 3600),)}
    behaviour = AgentBehaviour(accept_delay_seconds=(10.0, 10.0))
    scenario = center(shifts, agents=2, calls_per_hour=3000, handle=HandleTime(1), behaviour=behaviour)
    result = simulate(scenario, seed=8)
    working = shifts["a0"][0].working()
    answered = talks(result, "a0")
    assert len(answered) > 50
    assert all(any(start <= at < end for start, end in working) for at, _ in answered)
    assert talks(result, "a1")[-1][0] > 1200


def test_a_shift_that_began_before_the_run_starts_at_zero_in_its_current_state() -> None:
    # Began at -1000: on break from -200 to 200, then working until 1000.
    shift = Shift(-1000, 2000, 400)
    result = simulate(center({"a0": (shift,)}, calls_per_hour=240, duration=1000), seed=3)
    spans = talks(result, "a0")
    assert spans and spans[0][0] >= 200
    assert spans[0][0] == pytest.approx(200, abs=30)
    assert all(answered < 1000 for answered, _ in spans)


def test_an_auto_break_does_not_bring_a_logged_out_agent_back() -> None:
    # Agents never answer (20 s > the 15 s offer timeout), go on auto-break after two misses, come back
    # 30 s later: only while their shift lasts. Busy time counts the offers they let ring.
    behaviour = AgentBehaviour(accept_delay_seconds=(20.0, 20.0), break_seconds=30)
    result = simulate(center({"a0": (Shift(0, 600),)}, calls_per_hour=600, behaviour=behaviour), seed=2)
    assert result.overall.answered == 0
    assert 0 < result.busy_seconds["a0"] <= 600


def test_occupancy_is_measured_against_staffed_time() -> None:
    shifts = {"a0": (Shift(0, 1800, 300),)}  # 1,500 s of work; a1 has no schedule: 3,600 s
    scenario = center(shifts, agents=2, calls_per_hour=60)
    assert scenario.staffed_seconds() == pytest.approx(1500 + 3600)
    result = simulate(scenario, seed=4)
    assert result.overall.occupancy == pytest.approx(sum(result.busy_seconds.values()) / 5100)


def test_several_shifts_of_one_agent() -> None:
    shifts = (Shift(2400, 600), Shift(0, 1200))  # in any order
    scenario = center({"a0": shifts}, calls_per_hour=240)
    assert scenario.working("a0") == ((0, 1200), (2400, 3000))
    spans = talks(simulate(scenario, seed=6), "a0")
    assert any(answered >= 2400 for answered, _ in spans)
    assert not any(1200 <= answered < 2400 for answered, _ in spans)


def test_bad_shifts_are_refused() -> None:
    with pytest.raises(ValueError, match="length"):
        Shift(0, 0)
    with pytest.raises(ValueError, match="break"):
        Shift(0, 600, 600)
    with pytest.raises(ValueError, match="overlap"):
        center({"a0": (Shift(0, 1200), Shift(1000, 600))})
    with pytest.raises(ValueError, match="unknown agents: ghost"):
        center({"ghost": (Shift(0, 600),)})
