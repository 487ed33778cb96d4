"""Webhook retry waits and the overdue sweep come from the settings: Standard Webhooks' schedule and a sweep a
minute by default, short ones where a test's workers set them (tests/integration/test_webhook_faults.py)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest

from app.core.broker import PeriodicJob, periodic_jobs
from app.core.settings import SettingsError, get_settings, load_settings
from app.integrations import service
from app.integrations.actors import resend_overdue_deliveries
from app.server.scheduler import _trigger

VARIABLES = (
    "TENLINE_WEBHOOK_RETRY_DELAYS_SECONDS",
    "TENLINE_WEBHOOK_OVERDUE_AFTER_SECONDS",
    "TENLINE_WEBHOOK_OVERDUE_SWEEP_SECONDS",
)


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """The webhook variables unset; the cached settings are read again from the environment after each change."""
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)
    get_settings.cache_clear()
    yield monkeypatch
    get_settings.cache_clear()


def sweep_job() -> PeriodicJob:
    return next(job for job in periodic_jobs() if job.actor is resend_overdue_deliveries)


def test_by_default_eight_attempts_over_about_27_hours_and_a_sweep_a_minute(environment: pytest.MonkeyPatch) -> None:
    hours = [delay / dt.timedelta(hours=1) for delay in service.retry_delays()]
    assert hours == pytest.approx([5 / 3600, 5 / 60, 0.5, 2, 5, 10, 10])
    assert service.max_attempts() == 8
    assert 26 < sum(hours) < 28
    assert _trigger(sweep_job()).interval == dt.timedelta(minutes=1)
    assert get_settings().webhook_overdue_after_seconds == 120


def test_the_waits_and_the_sweep_follow_the_environment(environment: pytest.MonkeyPatch) -> None:
    environment.setenv("TENLINE_WEBHOOK_RETRY_DELAYS_SECONDS", "0.5, 2")
    environment.setenv("TENLINE_WEBHOOK_OVERDUE_SWEEP_SECONDS", "1.5")
    get_settings.cache_clear()
    assert service.retry_delays() == (dt.timedelta(seconds=0.5), dt.timedelta(seconds=2))
    assert service.max_attempts() == 3
    # Read when the scheduler builds its triggers (a worker's start), not when the actor was declared.
    assert _trigger(sweep_job()).interval == dt.timedelta(seconds=1.5)


@pytest.mark.parametrize("value", ["0,5", "", "-1", "five", "[5, 300]"])
def test_a_schedule_without_positive_waits_is_refused_by_name(environment: pytest.MonkeyPatch, value: str) -> None:
    environment.setenv("TENLINE_WEBHOOK_RETRY_DELAYS_SECONDS", value)
    with pytest.raises(SettingsError, match="TENLINE_WEBHOOK_RETRY_DELAYS_SECONDS"):
        load_settings()
