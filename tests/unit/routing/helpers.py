"""Small builders for hand-built routing scenarios."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

from app.routing.engine import (
    AgentConfig,
    AgentLoggedIn,
    ContactArrived,
    Decision,
    EngineConfig,
    QueueConfig,
    RoutingEngine,
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


def build(
    agents: Iterable[AgentConfig],
    queues: Iterable[QueueConfig] = (QueueConfig("q1", "t1"),),
    tenants: Iterable[TenantConfig] = (TenantConfig("t1"),),
    **kwargs: Any,
) -> RoutingEngine:
    return RoutingEngine(EngineConfig(tuple(tenants), tuple(queues), tuple(agents), **kwargs))


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
