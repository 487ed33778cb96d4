"""Scheduled callbacks: a tenant (or its CRM) books a call back to a customer at a time; at that time it joins a
voice queue as a callback contact (it keeps its place in line with nobody on hold) and the agent who takes it
calls the customer.

Life of a callback (``status``): ``scheduled`` until due; the due job (``actors.queue_due_callbacks``) then
marks it ``queued`` with a fresh interaction id and emits ``callback.due`` through the outbox, whose subscribers
put the contact in line (``actors.put_in_line``) and send the tenant's webhooks. The same job settles queued
callbacks from the router's interactions: ``completed`` once the contact ends answered, ``failed`` when it left
the line unanswered (its queue closed) or never reached the router. ``cancelled`` on request, refused once an
agent has taken it; a queued one is taken out of line with ``CallbackCancel``.
"""
