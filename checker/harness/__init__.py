"""Run a shop under test apart from the trusted side, and collect evidence."""
