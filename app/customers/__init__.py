"""Customers: the tenant's end customers, pushed by its CRM (by the CRM's id) or entered by its staff."""
