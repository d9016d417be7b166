"""Measure what Django code does to the database, cache and task queue."""
