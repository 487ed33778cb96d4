"""Telephony: ports and adapters that turn calls into routing events and routing decisions into call control.

`app.telephony.simulator` is the simulator adapter's pure core (no I/O, a seeded `random.Random`): it
generates traffic (Poisson arrivals per queue with an intraday curve, exponential or lognormal handle
times, exponential caller patience) and simulated agents, drives the pure routing engine
(`app.routing.engine`) with a discrete-event loop, and measures what happened (`tenline simulate`).
`app.telephony.scenario` turns a multi-tenant scenario file (`tenline simulate --scenario`) into its input.

The entry side of real calls: tenants' entry points (greeting, language choice, menu, default queue,
closed behaviour) and the operator's carrier number registry (`models`, `service`), whether a tenant is
open (`hours`, pure), and the Twilio-compatible adapter (`twilio`, TwiML from `twiml`): signed webhooks
in, router commands (`app.routing.commands`) out, the router's live view (`app.routing.live`) read back.
"""
