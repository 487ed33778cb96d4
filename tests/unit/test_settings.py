"""Settings are validated at start, and a bad value is reported by the variable's name."""

from __future__ import annotations

import subprocess
import sys

import pytest

from app.core.settings import Settings, SettingsError, load_settings


def test_bad_values_name_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TENLINE_PORT", "eighty")
    monkeypatch.setenv("TENLINE_DATABASE_URL", "mysql://root@localhost/tenline")
    with pytest.raises(SettingsError) as error:
        load_settings()
    message = str(error.value)
    assert "TENLINE_PORT" in message and "TENLINE_DATABASE_URL" in message
    assert "PostgreSQL" in message


def test_production_refuses_the_development_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TENLINE_ENVIRONMENT", "production")
    monkeypatch.delenv("TENLINE_SECRET_KEY", raising=False)
    with pytest.raises(SettingsError, match="TENLINE_SECRET_KEY"):
        load_settings()


def test_redis_socket_urls_are_accepted() -> None:
    assert Settings(redis_url="unix:///tmp/redis.sock").redis_url == "unix:///tmp/redis.sock"


def test_the_cli_reports_a_bad_setting_and_exits_2() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "app.server.cli", "db", "upgrade"],
        env={"TENLINE_LOG_LEVEL": "LOUD", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert "TENLINE_LOG_LEVEL" in result.stderr
    assert "Traceback" not in result.stderr
