"""Scenario files: the reference center as it is, the mapping to the engine, and bad files refused by field."""

from __future__ import annotations

import copy
import json
import math
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from app.routing.engine import AgentPolicy, ContactPolicy, RoutingEngine, SkillRequirement
from app.telephony.scenario import PROGRAM_SKILL, ScenarioError, parse_scenario, report
from app.telephony.simulator import HandleTime, Shift, simulate

ROOT = Path(__file__).resolve().parents[3]
REFERENCE = ROOT / "tests" / "data" / "reference-center.json"  # a copy of ../shared/reference-center.json
SMALL = Path(__file__).with_name("two-tenants.yaml")


def reference() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(REFERENCE.read_text())
    return data


def test_the_reference_center_is_accepted_as_it_is() -> None:
    data = reference()
    scenario = parse_scenario(data)
    config = scenario.engine
    RoutingEngine(config)  # the engine takes the configuration too
    assert len(config.tenants) == 40 and len(config.agents) == 1500
    assert len(config.queues) == sum(len(t["queues"]) for t in data["tenants"]) == 52
    assert scenario.duration_seconds == 86_400
    assert config.interval_seconds == 900
    assert config.agent_policy is AgentPolicy.BEST_PROFICIENCY
    assert config.contact_policy is ContactPolicy.SLA_AWARE

    t01 = config.tenants[0]
    assert (t01.tenant_id, t01.answer_target_seconds, t01.service_level_target) == ("t01", 15, 0.85)
    cards = next(q for q in config.queues if q.queue_id == "t01/cards")
    assert cards.tenant_id == "t01" and cards.required_attributes == frozenset()
    assert cards.skills == (SkillRequirement(PROGRAM_SKILL, 1),)

    # Expected contacts: day_contacts x tenant share x queue share x interval weight, summed.
    expected = math.fsum(calls for arrivals in scenario.arrivals for _, calls in arrivals.curve)
    assert expected == pytest.approx(137_000)
    cards_arrivals = next(a for a in scenario.arrivals if a.queue_id == "t01/cards")
    start, calls = cards_arrivals.curve[40]
    assert start == 36_000 and calls == pytest.approx(137_000 * 0.11 * 0.45 * data["intraday_weights"][40])
    assert cards_arrivals.handle == HandleTime(260, 0.8 * 260)
    assert cards_arrivals.patience_seconds == 120

    finance = next(a for a in config.agents if a.agent_id == "finance-0001")
    assert finance.tenants == {"t01", "t02"}
    assert finance.skills == {"t01": {PROGRAM_SKILL: 4}, "t02": {PROGRAM_SKILL: 3}}
    assert finance.attributes["t01"] == {"lang:zh-cmn", "lang:zh-yue", "lang:en", "clearance:pci"}


def test_the_reference_shifts_get_the_pools_mix_of_groups_and_cover_the_night() -> None:
    data = reference()
    scenario = parse_scenario(data)
    assert set(scenario.shifts) == {a.agent_id for a in scenario.engine.agents}
    # 1,500 agents x (8.5 h - 0.5 h break), all inside the day once the night shifts wrap round.
    assert scenario.staffed_seconds() == pytest.approx(1500 * 8 * 3600)
    groups = {g["name"]: g["count"] for g in data["agent_groups"]}
    by_start: dict[float, Counter[str]] = {}
    for agent_id, shifts in scenario.shifts.items():
        by_start.setdefault(shifts[-1].start_seconds, Counter())[agent_id.rsplit("-", 1)[0]] += 1
    for spec in data["shifts"]:
        hours, minutes = spec["start"].split(":")
        mix = by_start[int(hours) * 3600 + int(minutes) * 60]
        assert mix.total() == spec["agents"]
        for group, count in groups.items():
            # Within 2 of its share: each end of a shift's block may cut into a group's even spacing.
            assert abs(mix[group] - spec["agents"] * count / 1500) < 2, (spec["start"], group)
    # 22:30 for 8.5 h: yesterday's occurrence is on until 07:00, today's from 22:30.
    night = scenario.shifts[next(a for a, s in scenario.shifts.items() if s[-1].start_seconds == 81_000)]
    assert night == (Shift(81_000 - 86_400, 510 * 60, 30 * 60), Shift(81_000, 510 * 60, 30 * 60))
    on_at_midnight = sum(1 for shifts in scenario.shifts.values() if shifts[0].start_seconds < 0)
    assert on_at_midnight == sum(s["agents"] for s in data["shifts"] if s["start"] > "15:30")  # ends past midnight


def test_a_yaml_scenario_maps_languages_and_clearances_to_hard_attributes() -> None:
    scenario = parse_scenario(yaml.safe_load(SMALL.read_text()))
    queues = {q.queue_id: q for q in scenario.engine.queues}
    assert queues["bank/cards"].required_attributes == {"clearance:pci"}
    assert queues["bank/japanese"].required_attributes == {"lang:ja"}
    assert queues["shop/orders"].required_attributes == frozenset()
    result = simulate(scenario, seed=1)
    served_by: dict[str, set[str]] = {c.queue_id: set() for c in result.contacts}
    for contact in result.contacts:
        if contact.agent_id is not None:
            served_by[contact.queue_id].add(contact.agent_id.rsplit("-", 1)[0])
    # Only the bilingual group speaks Japanese and holds PCI; it is not certified for the shop.
    assert served_by == {"bank/cards": {"bilingual"}, "bank/japanese": {"bilingual"}, "shop/orders": {"general"}}


def test_the_report_gives_each_tenants_results_against_its_target() -> None:
    scenario = parse_scenario(yaml.safe_load(SMALL.read_text()))
    result = simulate(scenario, seed=2)
    output = report(scenario, result)
    assert set(output["tenants"]) == {"bank", "shop"}
    assert output["overall"]["offered"] == sum(t["offered"] for t in output["tenants"].values()) == len(result.contacts)
    for tenant_id, row in output["tenants"].items():
        contacts = [c for c in result.contacts if c.tenant_id == tenant_id]
        target = row["answer_target_seconds"]
        within = sum(1 for c in contacts if c.answered_at is not None and c.answered_at - c.arrived_at <= target)
        assert row["service_level"] == pytest.approx(within / (row["answered"] + row["abandoned"]))
        assert row["met"] is (row["service_level"] >= row["target_service_level"])
    assert output["tenants"]["shop"]["target_service_level"] == 0.9
    assert output["overall"]["tenants_met"] == sum(t["met"] for t in output["tenants"].values())


def set_in(path: tuple[str | int, ...], value: Any) -> Callable[[Any], None]:
    def change(data: Any) -> None:
        for key in path[:-1]:
            data = data[key]
        data[path[-1]] = value

    return change


def delete(path: tuple[str | int, ...]) -> Callable[[Any], None]:
    def change(data: Any) -> None:
        for key in path[:-1]:
            data = data[key]
        del data[path[-1]]

    return change


BAD = [
    (set_in(("tenants", 0, "aht_seconds"), -1), "Expected `float` > 0.0 - at `$.tenants[0].aht_seconds`"),
    (set_in(("tenants", 2, "sla", "service_level"), 1.5), "at `$.tenants[2].sla.service_level`"),
    (delete(("tenants", 0, "sla")), "missing required field `sla` - at `$.tenants[0]`"),
    (set_in(("tenants", 0, "aht"), 200), "unknown field `aht` - at `$.tenants[0]`"),
    (set_in(("tenants", 1, "share"), 0.5), "tenant shares add up to 1.42, not 1 - at `$.tenants`"),
    (
        set_in(("tenants", 0, "queues", 0, "share"), 0.9),
        "queue shares add up to 1.45, not 1 - at `$.tenants[0].queues`",
    ),
    (set_in(("tenants", 1, "id"), "t01"), "duplicate tenant id 't01' - at `$.tenants[1]`"),
    (
        set_in(("tenants", 0, "queues", 1, "name"), "cards"),
        "duplicate queue name 'cards' - at `$.tenants[0].queues[1]`",
    ),
    (delete(("tenants", 3, "patience_seconds")), "patience_seconds is required"),
    (set_in(("tenants", 0, "queues", 0, "language"), "fr"), "'fr' is not one of the tenant's languages"),
    (set_in(("tenants", 0, "clearances"), ["medical"]), "no agent group can serve this queue"),
    (set_in(("tenants", 3, "queues", 0, "language"), "ja"), None),  # the international group speaks Japanese
    (delete(("intraday_weights", 95)), "intraday weights add up to"),
    (set_in(("intraday_weights", 3), -0.1), "at `$.intraday_weights[3]`"),
    (
        set_in(("agent_groups", 0, "certified"), ["t06", "t99"]),
        "unknown tenant 't99' - at `$.agent_groups[0].certified`",
    ),
    (set_in(("agent_groups", 4, "languages"), ["ja"]), "speaks none of tenant 't05'"),
    (
        set_in(("agent_groups", 1, "proficiency", "t05"), 3),
        "not certified for: t05 - at `$.agent_groups[1].proficiency`",
    ),
    (set_in(("agent_groups", 1, "proficiency", "t01"), 9), "at `$.agent_groups[1].proficiency"),
    (set_in(("agent_groups", 1, "count"), "many"), "Expected `int`, got `str` - at `$.agent_groups[1].count`"),
    (set_in(("shifts", 0, "start"), "25:00"), "at `$.shifts[0].start`"),
    (set_in(("shifts", 0, "agents"), 23), "the shifts staff 1499 agents but the agent groups have 1500"),
    (set_in(("shifts", 2, "break_minutes"), 510), "the break must be shorter than the shift - at `$.shifts[2]"),
    (set_in(("handle_time_distribution",), "gamma, mean = the tenant's aht_seconds"), "unknown distribution 'gamma'"),
    (set_in(("handle_time_distribution",), "lognormal"), "lognormal needs a coefficient of variation"),
    (set_in(("handle_time_distribution",), "exponential, coefficient of variation 2"), "cannot read"),
    (set_in(("patience_distribution",), "weibull"), "cannot read 'weibull'"),
    (set_in(("agent_policy",), "loudest"), "at `$.agent_policy`"),
]


@pytest.mark.parametrize(("change", "message"), BAD)
def test_bad_files_are_refused_naming_the_field(change: Callable[[Any], None], message: str | None) -> None:
    data = copy.deepcopy(reference())
    change(data)
    if message is None:
        parse_scenario(data)  # a control: a valid change passes
        return
    with pytest.raises(ScenarioError) as refused:
        parse_scenario(data)
    assert message in str(refused.value)
    assert isinstance(refused.value, ValueError)


def test_a_file_that_is_not_a_mapping_is_refused() -> None:
    with pytest.raises(ScenarioError, match="Expected `object`, got `array`"):
        parse_scenario([])


def test_optional_fields() -> None:
    data = yaml.safe_load(SMALL.read_text())
    data["patience_distribution"] = "none"
    data["handle_time_distribution"] = "exponential"
    del data["shifts"]
    data["contact_policy"] = "priority_aging"
    data["tenants"][0].update(weight=2.0, guaranteed_share=0.2)
    data["tenants"][0]["queues"][0]["priority"] = 1
    scenario = parse_scenario(data)
    assert scenario.shifts == {}
    assert scenario.staffed_seconds() == 20 * 3600
    assert all(a.patience_seconds is None and a.handle.sigma_seconds is None for a in scenario.arrivals)
    assert scenario.engine.contact_policy is ContactPolicy.PRIORITY_AGING
    bank = scenario.engine.tenants[0]
    assert (bank.weight, bank.guaranteed_share) == (2.0, 0.2)
    assert scenario.engine.queues[0].priority == 1


def test_the_copy_of_the_reference_center_is_the_shared_file_as_it_is() -> None:
    """Tests and benchmarks read the copy in tests/data; where ../shared exists it must be identical."""
    shared = ROOT.parent / "shared" / "reference-center.json"
    if shared.exists():
        assert shared.read_bytes() == REFERENCE.read_bytes()
    assert parse_scenario(reference()).engine.agents
