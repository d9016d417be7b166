"""Deterministic seed data for the shop, loaded with PostgreSQL COPY."""
