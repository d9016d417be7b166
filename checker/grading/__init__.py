"""Grade a class: many submissions, isolated, limited, in parallel."""

from __future__ import annotations

import argparse


def register(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add `course grade` to the command line."""
