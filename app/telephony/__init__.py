"""Telephony: ports and adapters that turn calls into routing events and routing decisions into call control.

`app.telephony.simulator` is the simulator adapter's pure core (no I/O, a seeded `random.Random`): it
generates traffic (Poisson arrivals per queue with an intraday curve, exponential or lognormal handle
times, exponential caller patience) and simulated agents, drives the pure routing engine
(`app.routing.engine`) with a discrete-event loop, and measures what happened (`tenline simulate`).
"""
