"""Collecting through Stripe: a customer per tenant, finalised invoices pushed as Stripe invoices, and Stripe's
webhooks received, verified and deduplicated.

``gateway`` wraps the official library's ``StripeClient`` (configured by settings; with no API key it reports
"not configured" and pushes nothing). ``service`` and ``controllers`` receive Stripe's webhooks and hand invoice
events to the handlers the invoice domain registers.
"""
