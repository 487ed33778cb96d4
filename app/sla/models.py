"""SLA tables: contract versions and their targets, the evaluation of each target's windows, raised alerts.

A tenant's contract is a series of immutable versions: a new version supersedes the others from its
``effective_from`` (a date in the tenant's time zone); the version in force on a day is the one with the
latest ``effective_from`` on or before it (the higher version number on the same date). Nothing updates a
version or its targets: the runtime role is granted no UPDATE on them (see the migration).
"""

from __future__ import annotations

import datetime as dt
import uuid

import sqlalchemy as sa
from sqlmodel import Field

from app.core.clock import utcnow
from app.core.models import TenantScoped

TIMESTAMP = sa.DateTime(timezone=True)


class SlaContractVersion(TenantScoped, table=True):
    __tablename__ = "sla_contract_versions"
    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "version"),
        sa.Index("ix_sla_contract_versions_effective", "tenant_id", "effective_from", "version"),
    )

    version: int  # 1, 2, ... per tenant
    effective_from: dt.date
    definition: str = Field(max_length=32)  # app.sla.engine.Definition
    short_abandon_seconds: int
    # What the version rests on (the signed amendment, who agreed it): the contract is agreed outside Tenline.
    note: str = Field(default="", max_length=1000)
    created_by: str = Field(default="", max_length=254)
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=TIMESTAMP)


class SlaTarget(TenantScoped, table=True):
    """One target of a contract version: a measure, its goal, its window and whether only business hours count."""

    __tablename__ = "sla_targets"
    __table_args__ = (
        sa.ForeignKeyConstraint(
            ["tenant_id", "contract_version_id"],
            ["sla_contract_versions.tenant_id", "sla_contract_versions.id"],
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint("tenant_id", "contract_version_id", "position"),
    )

    contract_version_id: uuid.UUID
    position: int
    measure: str = Field(max_length=32)  # app.sla.engine.Measure
    window_kind: str = Field(max_length=8)  # app.sla.engine.WindowKind
    business_hours_only: bool = Field(default=False)
    # The goal: at least ``minimum``, at most ``maximum`` (shares 0..1, or seconds for ASA and AHT).
    minimum: float | None = Field(default=None)
    maximum: float | None = Field(default=None)
    within_seconds: int | None = Field(default=None)  # service level's answer target T


class SlaEvaluation(TenantScoped, table=True):
    """The latest evaluation of one target in one window; a closed window keeps its final one."""

    __tablename__ = "sla_evaluations"
    __table_args__ = (
        sa.ForeignKeyConstraint(
            ["tenant_id", "target_id"], ["sla_targets.tenant_id", "sla_targets.id"], ondelete="CASCADE"
        ),
        sa.UniqueConstraint("tenant_id", "target_id", "window_start"),
    )

    contract_version_id: uuid.UUID
    target_id: uuid.UUID
    window_start: dt.datetime = Field(sa_type=TIMESTAMP)
    window_end: dt.datetime = Field(sa_type=TIMESTAMP)
    value: float | None = Field(default=None)
    projected: float | None = Field(default=None)
    state: str = Field(max_length=16)  # app.sla.engine.State
    volume: float = Field(default=0.0)
    evaluated_at: dt.datetime = Field(sa_type=TIMESTAMP)


class SlaAlert(TenantScoped, table=True):
    """A target at risk or breached in a window: raised once per (target, window, state), whoever evaluates.

    The unique key is what makes it once: concurrent or repeated evaluations insert the same key, one wins,
    and only the winner's transaction emits the outbox event.
    """

    __tablename__ = "sla_alerts"
    __table_args__ = (
        sa.ForeignKeyConstraint(
            ["tenant_id", "target_id"], ["sla_targets.tenant_id", "sla_targets.id"], ondelete="CASCADE"
        ),
        sa.UniqueConstraint("tenant_id", "target_id", "window_start", "state"),
        sa.Index("ix_sla_alerts_raised", "tenant_id", "raised_at"),
    )

    contract_version_id: uuid.UUID
    target_id: uuid.UUID
    window_start: dt.datetime = Field(sa_type=TIMESTAMP)
    window_end: dt.datetime = Field(sa_type=TIMESTAMP)
    state: str = Field(max_length=16)
    value: float | None = Field(default=None)
    projected: float | None = Field(default=None)
    raised_at: dt.datetime = Field(default_factory=utcnow, sa_type=TIMESTAMP)
