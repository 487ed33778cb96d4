"""Alembic from code: `tenline db upgrade` and `tenline db revision` use the [tool.alembic] table."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def alembic_config(owner_url: str | None = None) -> Config:
    config = Config(toml_file=str(PROJECT_ROOT / "pyproject.toml"))
    config.set_main_option("script_location", str(PROJECT_ROOT / "migrations"))
    if owner_url:
        config.set_main_option("sqlalchemy.url", owner_url.replace("%", "%%"))
    return config


def upgrade(owner_url: str, revision: str = "heads") -> None:
    command.upgrade(alembic_config(owner_url), revision)


def downgrade(owner_url: str, revision: str) -> None:
    command.downgrade(alembic_config(owner_url), revision)


def revision(owner_url: str, message: str, *, autogenerate: bool = True) -> None:
    command.revision(alembic_config(owner_url), message=message, autogenerate=autogenerate)


def check(owner_url: str) -> None:
    """Raises when the models and the migrations disagree (a migration is missing)."""
    command.check(alembic_config(owner_url))
