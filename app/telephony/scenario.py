"""Multi-tenant scenario files (`tenline simulate --scenario`): parse and validate a loaded mapping into a `Scenario`.

Pure: the caller reads the YAML or JSON file and passes what it decoded to `parse_scenario`. Errors are
`ScenarioError` (a ValueError) naming the field, e.g. "Expected `float` > 0.0 - at `$.tenants[2].aht_seconds`".
`/work/shared/reference-center.json` (the reference center, ARCHITECTURE.md) is the model of the format:

```yaml
day_contacts: 137000            # contacts over the intraday curve (expected value: arrivals are Poisson)
interval_seconds: 900           # length of one curve interval; also the engine's attainment interval
intraday_weights: [0.0013, ...] # share of day_contacts per interval, adding up to 1; len x interval = run
handle_time_distribution: "lognormal, coefficient of variation 0.8, mean = the tenant's aht_seconds"
patience_distribution: "exponential, mean = the tenant's patience_seconds"   # or "none"
shifts: [{start: "07:00", agents: 101, length_minutes: 510, break_minutes: 30}, ...]  # optional
agent_groups:
  - {name: finance, count: 260, languages: [zh-cmn, en], certified: [t01, t02],
     proficiency: {t01: 4, t02: 3}, clearances: [pci]}
tenants:
  - id: t01
    share: 0.11                 # of day_contacts; tenants' shares add up to 1
    aht_seconds: 260
    patience_seconds: 120       # required unless patience_distribution is "none"
    sla: {service_level: 0.85, answer_target_seconds: 15}
    languages: [zh-yue, zh-cmn, en]
    queues: [{name: cards, share: 0.45}, ...]   # a tenant's queue shares add up to 1
```

Optional fields beyond the reference file: `name`, `about` (top level, descriptive), `agent_policy`
(default `best_proficiency`), `contact_policy` (default `sla_aware`); per tenant `name`, `industry`,
`weight` (contract weight, default 1), `guaranteed_share` (default 0) and `clearances` (required for
all its queues); per queue `priority`, `language` and `clearances`; per group `clearances`. Unknown
fields are errors, so a misspelt one does not pass unnoticed.

How the file maps to the engine (`EngineConfig`):

- Tenants: `TenantConfig(id, weight, answer_target_seconds=sla.answer_target_seconds,
  service_level_target=sla.service_level, guaranteed_share)`. Queues: `QueueConfig("<tenant>/<queue>")`.
- Agents: group `finance` with count 260 gives agents `finance-0001` ... `finance-0260`, assigned to
  the group's `certified` tenants, with proficiency (default 1) as the level of the skill `program`
  in each of them. Every queue asks for `program` >= 1, so any certified agent qualifies and, with the
  `best_proficiency` agent policy, the most proficient free agent is chosen.
- Languages and clearances are hard attributes (`lang:<code>`, `clearance:<name>`) an agent holds for
  each of its tenants. A tenant's `languages` are those its callers are served in; the reference file
  gives no mix of callers' languages, so a queue requires no language unless it names one (`language`,
  one of its tenant's languages, like a language choice in the IVR sending callers to their own queue).
  A group certified for a tenant must speak at least one of the tenant's languages. Clearances named
  by a tenant or queue (none in the reference file) are required by the queue.
- Every queue must be servable by some group with agents (certified, speaking the queue's language,
  holding its clearances), else the file is refused.
- Arrivals: queue q of tenant t gets `day_contacts x share(t) x share(q) x weight(i)` calls in interval
  i; handle times are lognormal with mean `aht_seconds` and sigma = coefficient of variation x mean (or
  exponential with that mean); patience is exponential with mean `patience_seconds`. The run lasts
  `len(intraday_weights) x interval_seconds`.
- Shifts (`start` "HH:MM" as time of day): the agents of all groups are interleaved in proportion to
  the groups' sizes (the j-th of n agents of a group sorts at (j + 1/2) / n, ties in the groups' order)
  and dealt to the shifts in file order, so every shift gets about the pool's mix of groups. Their sum
  must equal the groups' total. The break lies in the middle of the shift. The day is one of a 24x7
  center: a shift that runs past midnight also covers the start of the run (the previous day's
  occurrence, on at 0 until its end minus 24 h), so the night is staffed. Without `shifts`, every agent
  is on from the start.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Annotated, Any

import msgspec
from msgspec import Meta, Struct

from app.routing.engine import (
    AgentConfig,
    AgentPolicy,
    ContactPolicy,
    EngineConfig,
    QueueConfig,
    SkillRequirement,
    TenantConfig,
)
from app.telephony.simulator import Arrivals, Figures, HandleTime, Scenario, Shift, SimulationResult

PROGRAM_SKILL = "program"  # an agent's proficiency for a tenant is its level in this skill of the tenant
DAY_SECONDS = 86_400.0
SHARE_TOLERANCE = 1e-6

_MAX = 1e9  # finite bounds: an infinite time or count would never end a run
Name = Annotated[str, Meta(min_length=1)]
Share = Annotated[float, Meta(ge=0, le=1)]
PositiveSeconds = Annotated[float, Meta(gt=0, le=_MAX)]
Count = Annotated[int, Meta(ge=0, le=1_000_000)]
Proficiency = Annotated[int, Meta(ge=1, le=5)]


class ScenarioError(ValueError):
    """A scenario file that cannot be run; the message names the field."""


class SlaSpec(Struct, forbid_unknown_fields=True, frozen=True):
    service_level: Annotated[float, Meta(gt=0, le=1)]
    answer_target_seconds: PositiveSeconds


class QueueSpec(Struct, forbid_unknown_fields=True, frozen=True):
    name: Name
    share: Share
    priority: Annotated[int, Meta(ge=-100, le=100)] = 0
    language: Name | None = None
    clearances: list[Name] = []


class TenantSpec(Struct, forbid_unknown_fields=True, frozen=True):
    id: Name
    share: Share
    aht_seconds: PositiveSeconds
    sla: SlaSpec
    languages: Annotated[list[Name], Meta(min_length=1)]
    queues: Annotated[list[QueueSpec], Meta(min_length=1)]
    patience_seconds: PositiveSeconds | None = None
    name: str = ""
    industry: str = ""
    weight: Annotated[float, Meta(gt=0, le=_MAX)] = 1.0
    guaranteed_share: Share = 0.0
    clearances: list[Name] = []


class AgentGroupSpec(Struct, forbid_unknown_fields=True, frozen=True):
    name: Name
    count: Count
    languages: Annotated[list[Name], Meta(min_length=1)]
    certified: Annotated[list[Name], Meta(min_length=1)]
    proficiency: dict[str, Proficiency] = {}
    clearances: list[Name] = []


class ShiftSpec(Struct, forbid_unknown_fields=True, frozen=True):
    start: Annotated[str, Meta(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")]  # "HH:MM", time of day
    agents: Count
    length_minutes: Annotated[float, Meta(gt=0, le=1440)]
    break_minutes: Annotated[float, Meta(ge=0, le=1440)] = 0.0


class CenterSpec(Struct, forbid_unknown_fields=True, frozen=True):
    day_contacts: Annotated[float, Meta(ge=0, le=_MAX)]
    interval_seconds: PositiveSeconds
    intraday_weights: Annotated[list[Share], Meta(min_length=1)]
    agent_groups: Annotated[list[AgentGroupSpec], Meta(min_length=1)]
    tenants: Annotated[list[TenantSpec], Meta(min_length=1)]
    handle_time_distribution: str = "exponential"
    patience_distribution: str = "exponential"
    shifts: list[ShiftSpec] = []
    name: str = ""
    about: str = ""
    agent_policy: AgentPolicy = AgentPolicy.BEST_PROFICIENCY
    contact_policy: ContactPolicy = ContactPolicy.SLA_AWARE


def parse_scenario(data: object) -> Scenario:
    """The `Scenario` a decoded scenario file describes (module docstring); `ScenarioError` if it is bad."""
    try:
        spec = msgspec.convert(data, CenterSpec)
    except msgspec.ValidationError as exc:
        raise ScenarioError(str(exc)) from None
    return _build(spec)


def report(scenario: Scenario, result: SimulationResult) -> dict[str, Any]:
    """Per-tenant and overall results of a run, ready for JSON.

    `service_level` is the contract measure: answered within the tenant's answer target / (answered +
    abandoned + removed), as the engine counts attainment; `met` compares it with the tenant's target.
    """
    tenants: dict[str, dict[str, Any]] = {}
    for tenant in scenario.engine.tenants:
        figures = result.tenants[tenant.tenant_id]
        tenants[tenant.tenant_id] = {
            **_measures(figures),
            "target_service_level": tenant.service_level_target,
            "answer_target_seconds": tenant.answer_target_seconds,
            "met": figures.contract_service_level >= tenant.service_level_target,
        }
    return {
        "agents": len(scenario.engine.agents),
        "queues": len(scenario.engine.queues),
        "duration_seconds": scenario.duration_seconds,
        "engine_events": result.engine_events,
        "overall": {**_measures(result.overall), "tenants_met": sum(t["met"] for t in tenants.values())},
        "tenants": tenants,
    }


def _measures(figures: Figures) -> dict[str, Any]:
    return {
        "offered": figures.offered,
        "answered": figures.answered,
        "abandoned": figures.abandoned,
        "removed": figures.removed,
        "service_level": figures.contract_service_level,
        "asa_seconds": figures.asa_seconds,
        "occupancy": figures.occupancy,
        "p_wait": figures.p_wait,
    }


def _fail(message: str, path: str) -> ScenarioError:
    return ScenarioError(f"{message} - at `{path}`")


def _check_sum(values: list[float], what: str, path: str) -> None:
    total = math.fsum(values)
    if abs(total - 1) > SHARE_TOLERANCE:
        raise _fail(f"{what} add up to {total:.6g}, not 1", path)


def _unique(names: list[str], what: str, path: str) -> None:
    seen: set[str] = set()
    for index, name in enumerate(names):
        if name in seen:
            raise _fail(f"duplicate {what} {name!r}", f"{path}[{index}]")
        seen.add(name)


def _build(spec: CenterSpec) -> Scenario:
    cv = _handle_time_cv(spec.handle_time_distribution)
    patience = _patience(spec.patience_distribution)
    _check_sum(spec.intraday_weights, "intraday weights", "$.intraday_weights")
    _check_sum([t.share for t in spec.tenants], "tenant shares", "$.tenants")
    if math.fsum(t.guaranteed_share for t in spec.tenants) > 1:
        raise _fail("guaranteed shares add up to more than the whole pool", "$.tenants")
    _unique([t.id for t in spec.tenants], "tenant id", "$.tenants")
    _unique([g.name for g in spec.agent_groups], "group name", "$.agent_groups")
    tenants = {t.id: t for t in spec.tenants}
    for index, group in enumerate(spec.agent_groups):
        _check_group(group, tenants, f"$.agent_groups[{index}]")

    queues: list[QueueConfig] = []
    arrivals: list[Arrivals] = []
    for t_index, tenant in enumerate(spec.tenants):
        path = f"$.tenants[{t_index}]"
        if patience and tenant.patience_seconds is None:
            raise _fail("patience_seconds is required with an exponential patience_distribution", path)
        _unique([q.name for q in tenant.queues], "queue name", f"{path}.queues")
        _check_sum([q.share for q in tenant.queues], "queue shares", f"{path}.queues")
        handle = HandleTime(tenant.aht_seconds, None if cv is None else cv * tenant.aht_seconds)
        for q_index, queue in enumerate(tenant.queues):
            queue_path = f"{path}.queues[{q_index}]"
            if queue.language is not None and queue.language not in tenant.languages:
                raise _fail(f"{queue.language!r} is not one of the tenant's languages", f"{queue_path}.language")
            required = _attributes(
                [] if queue.language is None else [queue.language], tenant.clearances + queue.clearances
            )
            if not any(
                group.count > 0
                and tenant.id in group.certified
                and required <= _attributes(group.languages, group.clearances)
                for group in spec.agent_groups
            ):
                raise _fail("no agent group can serve this queue (certified, language, clearances)", queue_path)
            queue_id = f"{tenant.id}/{queue.name}"
            queues.append(
                QueueConfig(
                    queue_id,
                    tenant.id,
                    priority=queue.priority,
                    skills=(SkillRequirement(PROGRAM_SKILL, 1),),
                    required_attributes=required,
                )
            )
            calls = spec.day_contacts * tenant.share * queue.share
            curve = tuple((i * spec.interval_seconds, calls * w) for i, w in enumerate(spec.intraday_weights))
            arrivals.append(
                Arrivals(queue_id, curve, spec.interval_seconds, handle, tenant.patience_seconds if patience else None)
            )

    agents = tuple(agent for group in spec.agent_groups for agent in _agents(group))
    config = EngineConfig(
        tenants=tuple(
            TenantConfig(
                t.id,
                weight=t.weight,
                answer_target_seconds=t.sla.answer_target_seconds,
                service_level_target=t.sla.service_level,
                guaranteed_share=t.guaranteed_share,
            )
            for t in spec.tenants
        ),
        queues=tuple(queues),
        agents=agents,
        agent_policy=spec.agent_policy,
        contact_policy=spec.contact_policy,
        interval_seconds=spec.interval_seconds,
    )
    duration = len(spec.intraday_weights) * spec.interval_seconds
    return Scenario(config, tuple(arrivals), duration, shifts=_schedules(spec))


def _check_group(group: AgentGroupSpec, tenants: Mapping[str, TenantSpec], path: str) -> None:
    for tenant_id in group.certified:
        tenant = tenants.get(tenant_id)
        if tenant is None:
            raise _fail(f"unknown tenant {tenant_id!r}", f"{path}.certified")
        if not set(group.languages) & set(tenant.languages):
            raise _fail(f"the group speaks none of tenant {tenant_id!r}'s languages", f"{path}.certified")
    strangers = sorted(group.proficiency.keys() - set(group.certified))
    if strangers:
        raise _fail(
            f"proficiency for tenants the group is not certified for: {', '.join(strangers)}", f"{path}.proficiency"
        )


def _attributes(languages: list[str], clearances: list[str]) -> frozenset[str]:
    return frozenset([f"lang:{code}" for code in languages] + [f"clearance:{name}" for name in clearances])


def _agents(group: AgentGroupSpec) -> list[AgentConfig]:
    """The group's agents; they share one (read-only) skills and attributes mapping."""
    tenants = frozenset(group.certified)
    held = _attributes(group.languages, group.clearances)
    skills = {t: {PROGRAM_SKILL: group.proficiency.get(t, 1)} for t in sorted(tenants)}
    attributes = dict.fromkeys(sorted(tenants), held)
    return [
        AgentConfig(f"{group.name}-{number:04d}", tenants, skills=skills, attributes=attributes)
        for number in range(1, group.count + 1)
    ]


def _schedules(spec: CenterSpec) -> dict[str, tuple[Shift, ...]]:
    """Agents dealt to shifts by proportional interleaving of the groups (module docstring)."""
    if not spec.shifts:
        return {}
    staffed = sum(shift.agents for shift in spec.shifts)
    pool = sum(group.count for group in spec.agent_groups)
    if staffed != pool:
        raise _fail(f"the shifts staff {staffed} agents but the agent groups have {pool}", "$.shifts")
    interleaved = sorted(
        ((number + 0.5) / group.count, g_index, f"{group.name}-{number + 1:04d}")
        for g_index, group in enumerate(spec.agent_groups)
        for number in range(group.count)
    )
    schedules: dict[str, tuple[Shift, ...]] = {}
    dealt = iter(agent_id for _, _, agent_id in interleaved)
    for index, spec_shift in enumerate(spec.shifts):
        hours, minutes = spec_shift.start.split(":")
        start = int(hours) * 3600.0 + int(minutes) * 60.0
        length = spec_shift.length_minutes * 60
        if spec_shift.break_minutes >= spec_shift.length_minutes:
            raise _fail("the break must be shorter than the shift", f"$.shifts[{index}].break_minutes")
        pause = spec_shift.break_minutes * 60
        occurrences = [Shift(start, length, pause)]
        if start + length > DAY_SECONDS:
            occurrences.insert(0, Shift(start - DAY_SECONDS, length, pause))
        for _ in range(spec_shift.agents):
            schedules[next(dealt)] = tuple(occurrences)
    return schedules


_HANDLE_MEAN = "mean = the tenant's aht_seconds"
_PATIENCE_MEAN = "mean = the tenant's patience_seconds"
_CV = re.compile(r"coefficient of variation ([0-9]+(?:\.[0-9]+)?)")


def _clauses(text: str) -> list[str]:
    return [clause.strip() for clause in text.lower().replace("\u2019", "'").split(",")]


def _handle_time_cv(text: str) -> float | None:
    """ "lognormal, coefficient of variation C[, mean = the tenant's aht_seconds]" -> C; "exponential[, ...]" -> None."""
    path = "$.handle_time_distribution"
    kind, *rest = _clauses(text)
    cv: float | None = None
    for clause in rest:
        match = _CV.fullmatch(clause)
        if match is not None and kind == "lognormal":
            cv = float(match.group(1))
        elif clause != _HANDLE_MEAN:
            raise _fail(f"cannot read {clause!r} (the mean is always the tenant's aht_seconds)", path)
    if kind == "exponential":
        return None
    if kind != "lognormal":
        raise _fail(f"unknown distribution {kind!r} (exponential or lognormal)", path)
    if cv is None or not 0 < cv <= 10:
        raise _fail("lognormal needs a coefficient of variation in (0, 10]", path)
    return cv


def _patience(text: str) -> bool:
    """True for "exponential[, mean = the tenant's patience_seconds]", False for "none"."""
    kind, *rest = _clauses(text)
    if kind == "none" and not rest:
        return False
    if kind == "exponential" and all(clause == _PATIENCE_MEAN for clause in rest):
        return True
    raise _fail(
        f"cannot read {text!r} (exponential, mean = the tenant's patience_seconds; or none)", "$.patience_distribution"
    )
