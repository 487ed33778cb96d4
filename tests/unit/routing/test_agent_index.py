"""The free-agent index agrees with agent selection as the rule states it: a scan of every free agent.

The engine keeps free agents in sorted lines, one per class of alike agents, so that an arrival takes its
agent from the heads of its ring's lines (or scans the free agents when they are fewer than the lines).
`ScanningEngine` decides the same events by the documented rule itself: among all free eligible agents, the
smallest key under the agent policy. Both must give the same decisions, with day boundaries
(FEWEST_CONTACTS restarts its counts) and reconfigurations.
"""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import app.routing.engine.core as core
from app.routing.engine import AgentPolicy, ContactEnded, EngineConfig, Offer, OfferAccepted, RoutingEngine
from tests.unit.routing.helpers import agent, arrive, build, login, only
from tests.unit.routing.test_properties import ACTIONS, RECONFIGURATIONS, Actions, configs, drive


class ScanningEngine(RoutingEngine):
    """Agent selection by a scan of every free agent: no index."""

    def _best_agent(self, contact: core._Contact) -> core._Agent | None:
        if contact.preferred_agent is not None:
            return super()._best_agent(contact)  # one agent to check: nothing indexed
        eligible = (self._agents[a] for a in self._free if self._eligible(self._agents[a], contact))
        return min(eligible, key=lambda candidate: self._policy_key(candidate, contact), default=None)

    def _policy_key(self, agent: core._Agent, contact: core._Contact) -> tuple[float, float, str]:
        agent_id = agent.config.agent_id
        match self.config.agent_policy:
            case AgentPolicy.LONGEST_IDLE:
                return (agent.idle_since, 0.0, agent_id)
            case AgentPolicy.ROUND_ROBIN:
                return (float(agent.last_offer_no), 0.0, agent_id)
            case AgentPolicy.FEWEST_CONTACTS:
                return (float(agent.contacts_today), agent.idle_since, agent_id)
            case AgentPolicy.BEST_PROFICIENCY:
                levels = agent.config.skills.get(contact.tenant_id, {})
                proficiency = sum(levels.get(req.skill, 0) for req in self._queues[contact.queue_id].skills)
                return (-float(proficiency), agent.idle_since, agent_id)


def with_day(config: EngineConfig, day_seconds: float) -> EngineConfig:
    return dataclasses.replace(config, day_seconds=day_seconds)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(configs(), RECONFIGURATIONS, ACTIONS, st.sampled_from((45.0, 86_400.0)))
def test_the_index_picks_the_agent_a_scan_picks(
    config: EngineConfig, alternatives: list[EngineConfig], actions: Actions, day_seconds: float
) -> None:
    config = with_day(config, day_seconds)
    events, decisions = drive(config, actions, [with_day(c, day_seconds) for c in alternatives])
    scanning = ScanningEngine(config)
    assert [d for event in events for d in scanning.handle(event)] == decisions


@pytest.mark.parametrize(("day_seconds", "expected"), [(86_400.0, "late"), (100.0, "busy")])
def test_fewest_contacts_counts_restart_at_the_day_boundary_for_agents_already_free(
    day_seconds: float, expected: str
) -> None:
    engine = build([agent("busy"), agent("late")], agent_policy=AgentPolicy.FEWEST_CONTACTS, day_seconds=day_seconds)
    login(engine, "busy", at=0)
    arrive(engine, "c1", at=1)
    engine.handle(OfferAccepted(1, "c1", "busy"))
    engine.handle(ContactEnded(2, "c1"))  # busy: one contact today, free since 2
    login(engine, "late", at=5)  # late: none today, free since 5
    # Past a day boundary both have none today, so the longest idle wins, though neither changed state since.
    assert only(arrive(engine, "c2", at=101), Offer)[0].agent_id == expected
