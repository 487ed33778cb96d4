"""The three service-level definitions and the other measures, by hand and by property; the router agrees."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.routing.engine.scoring import Attainment
from app.sla.engine import (
    Definition,
    Measure,
    Ratio,
    SlCounts,
    WorkFigures,
    engine_attainment,
    measure_ratio,
    service_level,
)

# 100 contacts: 80 answered (60 within T), 15 abandoned (5 within T, 3 within the short-abandon threshold),
# 5 removed by the queue's rules.
COUNTS = SlCounts(offered=100, answered=80, answered_within=60, abandoned=15, abandoned_within=5, abandoned_short=3)


@pytest.mark.parametrize(
    ("definition", "numerator", "denominator", "value"),
    [
        (Definition.ANSWERED, 60, 80, 0.75),  # 60 / 80
        (Definition.ANSWERED_AND_ABANDONED, 65, 95, 65 / 95),  # (60 + 5) / (80 + 15) = 0.6842
        (Definition.OFFERED_LESS_SHORT_ABANDONS, 60, 97, 60 / 97),  # 60 / (100 - 3) = 0.6186
    ],
)
def test_each_definition_on_a_hand_computed_case(
    definition: Definition, numerator: int, denominator: int, value: float
) -> None:
    ratio = service_level(COUNTS, definition)
    assert (ratio.numerator, ratio.denominator) == (numerator, denominator)
    assert ratio.value == pytest.approx(value)


def test_a_small_hand_computed_interval() -> None:
    # 10 callers: 6 answered within 20 s, 2 answered later, 1 hung up after 3 s, 1 after 40 s.
    counts = SlCounts(offered=10, answered=8, answered_within=6, abandoned=2, abandoned_within=1, abandoned_short=1)
    assert service_level(counts, Definition.ANSWERED).value == pytest.approx(6 / 8)
    assert service_level(counts, Definition.ANSWERED_AND_ABANDONED).value == pytest.approx(7 / 10)
    assert service_level(counts, Definition.OFFERED_LESS_SHORT_ABANDONS).value == pytest.approx(6 / 9)


def test_no_contacts_is_no_value_not_zero() -> None:
    for definition in Definition:
        assert service_level(SlCounts(), definition).value is None
    # Only short abandons: definition 3 has nothing left to measure.
    only_short = SlCounts(offered=2, abandoned=2, abandoned_within=2, abandoned_short=2)
    assert service_level(only_short, Definition.OFFERED_LESS_SHORT_ABANDONS).value is None


def test_the_other_measures_by_hand() -> None:
    work = WorkFigures(answered=80, answer_wait_seconds=1200.0, handled=50, handle_seconds=15_000.0, resolved=44)
    abandonment = measure_ratio(Measure.ABANDONMENT_RATE, COUNTS, work, Definition.ANSWERED)
    assert abandonment is not None and abandonment.value == pytest.approx(12 / 97)  # (15 - 3) / (100 - 3)
    asa = measure_ratio(Measure.ASA, COUNTS, work, Definition.ANSWERED)
    assert asa is not None and asa.value == pytest.approx(15.0)
    aht = measure_ratio(Measure.AHT, COUNTS, work, Definition.ANSWERED)
    assert aht is not None and aht.value == pytest.approx(300.0)
    fcr = measure_ratio(Measure.FCR, COUNTS, work, Definition.ANSWERED)
    assert fcr is not None and fcr.value == pytest.approx(0.88)
    assert measure_ratio(Measure.CSAT, COUNTS, work, Definition.ANSWERED) is None
    assert measure_ratio(Measure.SERIOUS_ERROR_RATE, COUNTS, work, Definition.ANSWERED) is None


@st.composite
def sl_counts(draw: st.DrawFn) -> SlCounts:
    answered = draw(st.integers(0, 500))
    abandoned = draw(st.integers(0, 200))
    abandoned_within = draw(st.integers(0, abandoned))
    return SlCounts(
        offered=answered + abandoned + draw(st.integers(0, 50)),  # removed or still waiting
        answered=answered,
        answered_within=draw(st.integers(0, answered)),
        abandoned=abandoned,
        abandoned_within=abandoned_within,
        abandoned_short=draw(st.integers(0, abandoned_within)),
    )


@given(sl_counts(), st.sampled_from(list(Definition)))
def test_the_router_computes_the_contracts_service_level(counts: SlCounts, definition: Definition) -> None:
    """One computation: the engine's formula over the mapped counters is the contract's service level."""
    mapped = engine_attainment(counts, definition)
    assert min(mapped.answered, mapped.answered_within_target, mapped.abandoned) >= 0
    engine_level = Attainment(mapped.answered, mapped.answered_within_target, mapped.abandoned).service_level()
    contract_level = service_level(counts, definition).value
    if contract_level is None:
        assert engine_level is None
    else:
        assert engine_level == pytest.approx(contract_level)


@given(sl_counts(), sl_counts(), st.sampled_from(list(Definition)))
def test_spans_add_up_by_their_sums(first: SlCounts, second: SlCounts, definition: Definition) -> None:
    total = service_level(first + second, definition)
    assert total == service_level(first, definition) + service_level(second, definition)
    value = total.value
    assert value is None or 0.0 <= value <= 1.0


@given(sl_counts())
def test_definition_3_is_never_kinder_than_definition_2(counts: SlCounts) -> None:
    """3 counts every unanswered contact but the short abandons as a miss; 2 only the abandons after T."""
    second = service_level(counts, Definition.ANSWERED_AND_ABANDONED).value
    third = service_level(counts, Definition.OFFERED_LESS_SHORT_ABANDONS).value
    if second is not None and third is not None:
        assert third <= second + 1e-12


def test_ratio_sum_and_value() -> None:
    assert (Ratio(1, 2) + Ratio(3, 4)).value == pytest.approx(4 / 6)
    assert Ratio().value is None
