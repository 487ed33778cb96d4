"""Workforce planning: Erlang staffing, forecasts of contacts and handle time, staffing plans.

Pure cores (stdlib only, no I/O, mypy strict; an import-linter contract keeps them so): `erlang` (Erlang C
and A, shrinkage; also behind `tenline simulate`'s predictions), `calculator` (the staffing question of
`tenline wfm erlang` and the calculator page), `forecast` (seasonal index x trend, held-out error) and
`staffing` (plans per queue and for the shared pool, staff from presence). `service` brings them the data
(reporting rollups, SLA contracts, the router's presence log); `controllers` serves /api/v1/wfm.
"""
