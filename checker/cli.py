"""The `course` command: one front door for learners and instructors."""

from __future__ import annotations

import argparse
import gc
import sys
from collections.abc import Sequence

from rich.console import Console
from rich.table import Table

from checker.manifest import ManifestError
from checker.services import (
    ServiceError,
    ensure_up,
    service_urls,
    services_down,
    services_status,
)

SCALES = ("tiny", "small", "large")


def _services(args: argparse.Namespace, console: Console) -> int:
    if args.action == "status":
        table = Table("service", "state", "pid", "address", "note")
        for status in services_status():
            state = "[green]running[/]" if status.running else "[red]stopped[/]"
            table.add_row(
                status.name,
                state,
                str(status.pid or "-"),
                status.address,
                status.note,
            )
        urls = service_urls()
        if urls.external_database:
            table.add_row("PostgreSQL", "external", "-", "DATABASE_URL", "")
        if urls.external_redis:
            table.add_row("Redis", "external", "-", "REDIS_URL", "")
        console.print(table)
        console.print(f"Celery broker: {urls.broker}")
        return 0
    messages = ensure_up() if args.action == "up" else services_down()
    for message in messages:
        console.print(message)
    if not messages:
        console.print(f"Nothing to do: services already {args.action}.")
    return 0


def _seed(args: argparse.Namespace, console: Console) -> int:
    from checker.django_env import setup_django
    from checker.services.layout import Layout
    from checker.start import seed

    for message in ensure_up():
        console.print(message)
    setup_django()
    seed(scale=args.scale, seed=args.seed, console=console, layout=Layout.default())
    return 0


def _start(args: argparse.Namespace, console: Console) -> int:
    from checker.start import start

    start(console=console, scale=args.scale, seed_value=args.seed)
    return 0


def _register_setup(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    services = commands.add_parser(
        "services", help="start, stop or report the embedded PostgreSQL and Redis"
    )
    services.add_argument("action", choices=["up", "down", "status"])
    services.set_defaults(handler=_services)
    for name, handler, help_text, scale_help in [
        (
            "start",
            _start,
            "start services, migrate and seed: everything to begin",
            "seed this data set (default: keep the shop's data, else small)",
        ),
        (
            "seed",
            _seed,
            "replace the shop's data with a generated data set",
            "the data set (default: small)",
        ),
    ]:
        command = commands.add_parser(name, help=help_text)
        # `course start` keeps the data a learner seeded unless asked again.
        default = "small" if name == "seed" else None
        command.add_argument(
            "--scale", choices=SCALES, default=default, help=scale_help
        )
        command.add_argument(
            "--seed",
            type=int,
            default=0 if name == "seed" else None,
            help="random seed; the same seed gives the same rows",
        )
        command.set_defaults(handler=handler)


def build_parser() -> argparse.ArgumentParser:
    """Describe every subcommand and its options."""
    from checker import goto, grading, history, learner, release, watch
    from checker.course import reset

    parser = argparse.ArgumentParser(
        prog="course",
        description="Django at Scale: set up the shop, then measure and grade it.",
    )
    parser.set_defaults(handler=learner.overview)
    commands = parser.add_subparsers(dest="command")
    _register_setup(commands)
    learner.register(commands)
    reset.register(commands)
    watch.register(commands)
    grading.register(commands)
    history.register(commands)
    goto.register(commands)
    release.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the `course` command and return its exit status."""
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and not getattr(args, "passes_extra", False):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    args.extra = extra
    console = Console()
    try:
        return int(args.handler(args, console))
    except ServiceError as error:
        console.print(f"[red]error:[/] {error.service} could not start: {error.why}")
        console.print(f"[yellow]try:[/] {error.fix}")
        return 1
    except ManifestError as error:
        console.print(f"[red]error:[/] {error}")
        return 2
    except KeyboardInterrupt:
        console.print("Interrupted.")
        return 130
    finally:
        if argv is None:
            # The command ends here: the interpreter's last collection over
            # every module loaded would add about 0.2 s to a re-check.
            gc.freeze()


if __name__ == "__main__":
    sys.exit(main())
