"""Settings from the environment (prefix ``TENLINE_``) and an optional ``.env`` file.

Validated once at start: a bad value stops the process with a message naming the variable.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class SettingsError(Exception):
    """A setting is missing or malformed; the message names the variable and what is wrong."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TENLINE_", env_file=".env", extra="ignore")

    environment: Literal["development", "test", "production"] = "development"
    # Runtime role: owns nothing, subject to row-level security.
    database_url: str | None = None
    # Owner role: runs migrations. Defaults to the runtime URL's server with the owner role.
    database_owner_url: str | None = None
    redis_url: str | None = None
    data_dir: Path = Path(".tenline")
    secret_key: str = Field(default="dev-insecure-secret-key-change-me-please", min_length=32)
    base_url: str = "http://127.0.0.1:8000"
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_json: bool = True
    session_ttl_seconds: int = Field(default=8 * 3600, ge=60)
    login_rate_limit: str = "5/minute"
    # Every /api/v1 request counts against its tenant's window (an operator's against the operator's own).
    api_rate_limit: str = "600/minute"
    # How long a POST's Idempotency-Key and its first response are kept (the issue asks at least a day).
    idempotency_ttl_seconds: int = Field(default=86_400, ge=86_400, le=30 * 86_400)
    access_token_ttl_seconds: int = Field(default=3600, ge=30, le=86400)
    max_request_body_bytes: int = Field(default=1_048_576, ge=1024)
    db_pool_size: int = Field(default=10, ge=1, le=200)
    worker_processes: int = Field(default=1, ge=1, le=64)
    worker_threads: int = Field(default=4, ge=1, le=64)
    # Background jobs: a failed message is retried with exponential backoff, then dead-lettered.
    job_max_retries: int = Field(default=12, ge=0, le=100)
    job_min_backoff_ms: int = Field(default=1000, ge=10)
    job_max_backoff_ms: int = Field(default=900_000, ge=10, le=7 * 86_400_000)
    worker_shutdown_timeout_seconds: int = Field(default=30, ge=1, le=3600)
    # 0: off. Otherwise the worker serves Dramatiq's and Tenline's job metrics on this port.
    worker_metrics_port: int = Field(default=0, ge=0, le=65535)
    outbox_relay_interval_seconds: float = Field(default=0.5, gt=0, le=60)
    outbox_relay_batch_size: int = Field(default=100, ge=1, le=10_000)
    outbox_retention_days: int = Field(default=7, ge=1, le=365)
    scheduler_lock_ttl_seconds: int = Field(default=30, ge=1, le=600)
    # The address carriers call back (webhooks), when it differs from base_url (a proxy or tunnel); signed
    # webhooks are checked against it. Default: base_url.
    public_url: str | None = None
    # Twilio: the account's auth token, which signs every webhook; without it the Twilio routes answer 503.
    twilio_auth_token: SecretStr | None = None
    # An audio file Twilio can fetch, played to callers waiting in line; silence when unset.
    twilio_hold_music_url: str | None = None
    # The router: a standby takes over within about this long after the leader dies.
    router_pool: str = Field(default="default", pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")
    router_lock_ttl_seconds: float = Field(default=5.0, ge=0.5, le=120)
    router_offer_timeout_seconds: float = Field(default=20.0, ge=3, le=600)
    # Reporting: an abandon shorter than this (a wait histogram edge, app.reporting.engine) is a short abandon.
    short_abandon_seconds: int = Field(default=5, ge=0, le=300, multiple_of=5)
    # Outgoing mail (scheduled reports). No host: scheduled reports wait, unsent, until one is configured.
    smtp_host: str | None = None
    smtp_port: int = Field(default=25, ge=1, le=65535)
    smtp_user: str | None = None
    smtp_password: SecretStr | None = None
    smtp_from: str = "Tenline reports <reports@tenline.invalid>"
    # Outgoing webhooks go to public addresses only; networks listed here (comma-separated CIDRs, e.g.
    # "127.0.0.0/8" for a receiver on this machine) are let through as well.
    webhook_allowed_networks: str = ""
    # The waits before each retry of a webhook delivery, in seconds, comma-separated (attempts: one more than
    # there are waits). The default is Standard Webhooks' schedule: eight attempts over about 27 hours.
    webhook_retry_delays_seconds: Annotated[tuple[Annotated[float, Field(gt=0, le=86_400)], ...], NoDecode] = Field(
        default=(5, 300, 1800, 7200, 18_000, 36_000, 36_000), min_length=1, max_length=30
    )
    # A pending delivery this long past its time has lost its message (its worker died) and is sent again; the
    # sweep for such deliveries runs this often.
    webhook_overdue_after_seconds: float = Field(default=120, gt=0, le=86_400)
    webhook_overdue_sweep_seconds: float = Field(default=60, gt=0, le=3600)
    # Stripe (billing). No API key: invoices are kept and shown in Tenline, and nothing is pushed to Stripe.
    stripe_api_key: SecretStr | None = None
    # The signing secret of Tenline's webhook endpoint at Stripe (whsec_...); without it that route answers 503.
    stripe_webhook_secret: SecretStr | None = None
    # A signed webhook older than this is refused (a captured one replayed later); Stripe's libraries use 300.
    stripe_webhook_tolerance_seconds: int = Field(default=300, ge=1, le=86_400)
    # Another address for Stripe's API, e.g. the tests' in-process fake (default: Stripe's own).
    stripe_api_base: str | None = Field(default=None, pattern=r"^https?://[^/?#]+$")
    # Retries of a failed call (network error, 409, 5xx), under the same idempotency key, with backoff.
    stripe_max_network_retries: int = Field(default=2, ge=0, le=10)
    stripe_timeout_seconds: float = Field(default=30, gt=0, le=300)
    # The operator as its invoices name it (the issuer on the printable invoice and its PDF).
    billing_issuer_name: str = Field(default="Tenline", min_length=1, max_length=200)
    # The operator's own currency (ISO 4217): the shared pool's cost is entered in it, and the margin per tenant
    # converts each tenant's revenue into it with the month's exchange rates.
    billing_operator_currency: str = Field(default="EUR", pattern=r"^[A-Z]{3}$")
    # The operator's dunning policy (a tenant may have its own, billing.dunning): an invoice is due this many days
    # after it is issued; a reminder is sent on each of these days after the due date (JSON list, e.g. [7, 14]);
    # the tenant's API clients are suspended this many days after it (unset: never). Live contacts are never
    # touched: suspending the tenant itself is an operator admin's decision.
    billing_payment_terms_days: int = Field(default=14, ge=0, le=365)
    billing_reminder_days: list[int] = Field(default=[7, 14], max_length=10)
    billing_suspend_after_days: int | None = Field(default=30, ge=1, le=3650)
    # Issued invoices and credit notes are the operator's accounting records: erasing a tenant archives them, and
    # they are kept this many years after issue (bookkeeping law: 5 in Norway, 10 in Germany), then purged.
    billing_invoice_retention_years: int = Field(default=10, ge=1, le=30)

    @field_validator("database_url", "database_owner_url")
    @classmethod
    def _postgres_only(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("postgresql://", "postgresql+psycopg://", "postgres://")):
            raise ValueError("must be a PostgreSQL URL (postgresql://user:password@host:port/database)")
        return value

    @field_validator("login_rate_limit", "api_rate_limit")
    @classmethod
    def _rate_limit_spec(cls, value: str) -> str:
        from limits import parse

        try:
            parse(value)
        except ValueError:
            raise ValueError('must be a rate like "600/minute" or "10/second"') from None
        return value

    @field_validator("webhook_retry_delays_seconds", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        return [item.strip() for item in value.split(",") if item.strip()] if isinstance(value, str) else value

    @field_validator("redis_url")
    @classmethod
    def _redis_only(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must be a Redis URL (redis://host:port/db or unix:///path/to/socket)")
        return value

    def checked(self) -> Settings:
        if self.environment == "production" and self.secret_key.startswith("dev-insecure"):
            raise SettingsError("TENLINE_SECRET_KEY: set a random secret of at least 32 characters in production")
        return self


def load_settings() -> Settings:
    try:
        return Settings().checked()
    except ValidationError as exc:
        lines = []
        for error in exc.errors():
            variable = "TENLINE_" + "_".join(str(part) for part in error["loc"]).upper()
            lines.append(f"{variable}: {error['msg']}")
        raise SettingsError("invalid settings:\n  " + "\n  ".join(lines)) from None


@functools.cache
def get_settings() -> Settings:
    return load_settings()
