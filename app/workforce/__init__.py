"""Workforce planning: staffing math (Erlang C and Erlang A in `app.workforce.erlang`), forecasts and plans.

`app.workforce.erlang` is a pure core (stdlib `math` only, no I/O) shared by the `tenline simulate`
command (its predictions next to the simulated figures) and the planning features.
"""
