"""The learner's loop: progress, check, hint, solution, reset, watch."""

from __future__ import annotations

import argparse

from rich.console import Console


def overview(args: argparse.Namespace, console: Console) -> int:
    """Show the progress table and the next exercise."""
    console.print("No exercises yet.")
    return 0


def register(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the learner's subcommands to the command line."""
