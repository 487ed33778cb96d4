"""The pure SLA core: measures from counts, measurement windows, projection and states. Stdlib only.

- ``measures``: ``SlCounts`` (what a span's contacts add up to for one answer target), the three
  service-level definitions, every contract measure as a ``Ratio``, and ``engine_attainment``, the one
  mapping of a contract's service level onto the routing engine's counters.
- ``windows``: 15-minute intervals, and windows of 15/30/60 minutes, a day or a month in the tenant's
  time zone.
- ``evaluation``: the value so far, the projected end-of-window value and the state (met, at_risk,
  breached, no_data) of a target; the method is in that module's docstring.
"""

from app.sla.engine.evaluation import (
    MIN_VOLUME,
    Assessment,
    Goal,
    Progress,
    State,
    assess,
    no_data,
    progress_of,
    project,
)
from app.sla.engine.measures import (
    SHARES,
    WITHOUT_SOURCE,
    Definition,
    EngineAttainment,
    Measure,
    Ratio,
    SlCounts,
    WorkFigures,
    engine_attainment,
    measure_ratio,
    service_level,
)
from app.sla.engine.windows import (
    INTERVAL,
    Window,
    WindowKind,
    day_bounds,
    interval_start,
    interval_starts,
    local_date,
    previous_window,
    window_at,
)

__all__ = [
    "INTERVAL",
    "MIN_VOLUME",
    "SHARES",
    "WITHOUT_SOURCE",
    "Assessment",
    "Definition",
    "EngineAttainment",
    "Goal",
    "Measure",
    "Progress",
    "Ratio",
    "SlCounts",
    "State",
    "Window",
    "WindowKind",
    "WorkFigures",
    "assess",
    "day_bounds",
    "engine_attainment",
    "interval_start",
    "interval_starts",
    "local_date",
    "measure_ratio",
    "no_data",
    "previous_window",
    "progress_of",
    "project",
    "service_level",
    "window_at",
]
