"""Integrations: a tenant's outgoing webhooks (Standard Webhooks signatures, retries, delivery log)."""
