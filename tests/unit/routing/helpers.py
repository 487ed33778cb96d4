"""Small builders for hand-built routing scenarios."""

from __future__ import annotations

import pickle
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

import pytest

from app.routing.engine import (
    AgentConfig,
    AgentLoggedIn,
    ContactArrived,
    Decision,
    EngineConfig,
    Event,
    Offer,
    OfferAccepted,
    QueueConfig,
    Reconfigured,
    RoutingEngine,
    RoutingError,
    SkillRequirement,
    TenantConfig,
)

D = TypeVar("D")


def skills(**levels: int) -> tuple[SkillRequirement, ...]:
    return tuple(SkillRequirement(name, level) for name, level in levels.items())


def agent(
    agent_id: str,
    tenants: Iterable[str] = ("t1",),
    *,
    levels: Mapping[str, Mapping[str, int]] | None = None,
    attributes: Mapping[str, Iterable[str]] | None = None,
    **kwargs: Any,
) -> AgentConfig:
    return AgentConfig(
        agent_id,
        frozenset(tenants),
        skills=dict(levels or {}),
        attributes={t: frozenset(a) for t, a in (attributes or {}).items()},
        **kwargs,
    )


def config(
    agents: Iterable[AgentConfig],
    queues: Iterable[QueueConfig] = (QueueConfig("q1", "t1"),),
    tenants: Iterable[TenantConfig] = (TenantConfig("t1"),),
    **kwargs: Any,
) -> EngineConfig:
    return EngineConfig(tuple(tenants), tuple(queues), tuple(agents), **kwargs)


def build(
    agents: Iterable[AgentConfig],
    queues: Iterable[QueueConfig] = (QueueConfig("q1", "t1"),),
    tenants: Iterable[TenantConfig] = (TenantConfig("t1"),),
    **kwargs: Any,
) -> RoutingEngine:
    return RoutingEngine(config(agents, queues, tenants, **kwargs))


def reconfigure(
    engine: RoutingEngine,
    at: float,
    agents: Iterable[AgentConfig],
    queues: Iterable[QueueConfig] = (QueueConfig("q1", "t1"),),
    tenants: Iterable[TenantConfig] = (TenantConfig("t1"),),
    **kwargs: Any,
) -> list[Decision]:
    return engine.handle(Reconfigured(at, config(agents, queues, tenants, **kwargs)))


def connect(engine: RoutingEngine, contact_id: str, agent_id: str, at: float, **kwargs: Any) -> None:
    """A contact arrives preferring the agent, who accepts it at once (the agent must be free)."""
    offers = only(arrive(engine, contact_id, at, preferred_agent=agent_id, preferred_window_seconds=1, **kwargs), Offer)
    assert [(o.contact_id, o.agent_id) for o in offers] == [(contact_id, agent_id)]
    engine.handle(OfferAccepted(at, contact_id, agent_id))


def unchanged_on_error(engine: RoutingEngine, event: Event) -> None:
    """The event is refused with a RoutingError and leaves the engine exactly as it was (time included)."""
    before = pickle.dumps(engine)
    with pytest.raises(RoutingError):
        engine.handle(event)
    assert pickle.dumps(engine) == before


def login(engine: RoutingEngine, *agent_ids: str, at: float = 0.0) -> list[Decision]:
    out: list[Decision] = []
    for agent_id in agent_ids:
        out += engine.handle(AgentLoggedIn(at, agent_id))
    return out


def arrive(
    engine: RoutingEngine, contact_id: str, at: float, queue_id: str = "q1", tenant_id: str = "t1", **kwargs: Any
) -> list[Decision]:
    return engine.handle(ContactArrived(at, contact_id, tenant_id, queue_id, **kwargs))


def only(decisions: Iterable[Decision], kind: type[D]) -> list[D]:
    return [d for d in decisions if isinstance(d, kind)]
