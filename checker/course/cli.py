"""The `course` command: every subcommand, its options and its doc line.

Each subcommand names its handler as `module:function`, imported only when
that subcommand runs, so `course check` loads what checking needs and no more.
Grading's two subcommands are declared by `checker.grading`, beside the grader.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from rich.console import Console

from checker.course.manifest import ManifestError
from checker.services import ServiceError

SCALES = ("tiny", "small", "large")

Handler = Callable[[argparse.Namespace, Console], int]
if TYPE_CHECKING:
    Commands = argparse._SubParsersAction[argparse.ArgumentParser]


def _command(
    commands: Commands,
    name: str,
    handler: str,
    help_text: str,
    *,
    usage: str | None = None,
) -> argparse.ArgumentParser:
    command = commands.add_parser(
        name, help=help_text, description=help_text, usage=usage
    )
    command.set_defaults(handler=handler)
    return command


def _setup(commands: Commands) -> None:
    command = _command(
        commands,
        "start",
        "checker.course.start:start_command",
        "start services, migrate and seed: everything to begin",
    )
    command.add_argument(
        "--scale",
        choices=SCALES,
        help="seed this data set (default: keep the shop's data, else small)",
    )
    command.add_argument(
        "--seed", type=int, help="random seed; the same seed gives the same rows"
    )
    command = _command(
        commands,
        "services",
        "checker.course.start:services_command",
        "start, stop or report the embedded PostgreSQL and Redis",
    )
    command.add_argument("action", choices=["up", "down", "status"])
    command = _command(
        commands,
        "stack",
        "checker.course.deploy:stack_command",
        "start, stop or report the shop under Gunicorn behind Nginx (lesson 9)",
    )
    command.add_argument("action", choices=["up", "down", "status"])
    command = _command(
        commands,
        "load",
        "checker.course.deploy:load_command",
        "load the dev server, Gunicorn and Gunicorn behind Nginx with wrk, and"
        " print requests/s, p50, p99 and errors",
    )
    command.add_argument(
        "--path", default="/products/", help="the page to load (default: /products/)"
    )
    command.add_argument(
        "--requests",
        type=int,
        default=2000,
        help="stop each target after about this many requests (default: 2000)",
    )
    command.add_argument(
        "--seconds",
        type=float,
        default=10,
        help="and after this many seconds at most (default: 10)",
    )
    command.add_argument(
        "--connections",
        type=int,
        default=16,
        help="connections kept busy at once (default: 16)",
    )
    command = _command(
        commands,
        "traffic",
        "checker.course.traffic:traffic_command",
        "send a bounded mix of requests over the shop's pages to a shop running"
        " on loopback, and print each endpoint's requests and time (lesson 11)",
    )
    command.add_argument(
        "--url",
        default="http://127.0.0.1:8000",
        help="the running shop (default: http://127.0.0.1:8000, runserver's)",
    )
    command.add_argument(
        "--requests", type=int, default=200, help="requests to send (default: 200)"
    )
    command.add_argument(
        "--seconds",
        type=float,
        default=60,
        help="and stop after this many seconds at most (default: 60)",
    )
    command.add_argument(
        "--seed", type=int, default=0, help="the same seed sends the same requests"
    )
    command = _command(
        commands,
        "seed",
        "checker.course.start:seed_command",
        "replace the shop's data with a generated data set",
    )
    command.add_argument(
        "--scale", choices=SCALES, default="small", help="the data set (default: small)"
    )
    command.add_argument(
        "--seed",
        type=int,
        default=0,
        help="random seed; the same seed gives the same rows",
    )


def _learner(commands: Commands) -> None:
    _command(commands, "list", "checker.course.check:overview", "show your progress")
    command = _command(
        commands,
        "check",
        "checker.course.check:check",
        "grade the current exercise (or the one named) on your shop, and passed"
        " ones whose files changed",
    )
    command.add_argument("target", nargs="?", help="an exercise or a lesson id")
    command.add_argument("--all", action="store_true", help="every exercise")
    command = _command(
        commands,
        "watch",
        "checker.course.watch:run_watch",
        "re-check an exercise on every save",
    )
    command.add_argument("exercise", nargs="?", help="default: the next unfinished")
    command = _command(
        commands,
        "hint",
        "checker.course.hints:hint",
        "show the next hint of an exercise (default: the current one)",
    )
    command.add_argument(
        "exercise", nargs="?", help="an exercise id, a prefix of one, or a lesson"
    )
    command.add_argument(
        "--all", action="store_true", help="show the hints already unlocked"
    )
    command = _command(
        commands,
        "solution",
        "checker.course.hints:solution",
        "show the reference solution of an exercise",
    )
    command.add_argument("exercise", help="an exercise id or a prefix of one")
    command.add_argument("--yes", action="store_true", help="show it anyway")
    command = _command(
        commands,
        "reset",
        "checker.course.reset:reset",
        "put an exercise's files back as your lesson starts (yours are saved)",
    )
    command.add_argument("exercise", nargs="?", help="an exercise id, e.g. 01-product")
    command.add_argument(
        "--lesson", metavar="NN", help="reset every exercise of a lesson"
    )
    command.add_argument(
        "--from",
        dest="base",
        metavar="REF",
        help="the commit the course starts from (default: origin/HEAD, else HEAD)",
    )
    command = _command(
        commands,
        "notebook",
        "checker.course.notebooks:notebook_command",
        "open a lesson's notebook; further options go to Jupyter Lab",
        usage="course notebook [LESSON] [JUPYTER OPTIONS, e.g. --no-browser]",
    )
    command.add_argument("lesson", nargs="?", help="a lesson id, e.g. 01 or 1")
    command.set_defaults(passes_extra=True)


def _history(commands: Commands) -> None:
    command = _command(
        commands,
        "tags",
        "checker.history.tags:tags",
        "build one git tag per lesson (lesson-01, ...) in this clone",
    )
    command.add_argument(
        "--from",
        dest="base",
        metavar="REF",
        help="the commit the course starts from (default: origin/HEAD, else HEAD)",
    )
    command = _command(
        commands,
        "goto",
        "checker.history.goto:goto",
        "switch to a lesson's start; your work is saved first",
    )
    command.add_argument("lesson", help="a lesson id (03, lesson-03) or 'solved'")
    command.add_argument(
        "--scale",
        choices=SCALES,
        default="small",
        help="the data set to seed after the switch (default: small)",
    )
    command.add_argument("--seed", type=int, default=0, help="the random seed")
    command.add_argument(
        "--no-database",
        action="store_true",
        help="switch the files only: no backup, migration, seed or cache flush",
    )
    command = _command(
        commands,
        "release",
        "checker.history.release:release",
        "build a student edition without solutions, for a classroom",
    )
    command.add_argument("--out", required=True, help="a new folder for the edition")
    command.add_argument(
        "--from",
        dest="base",
        metavar="REF",
        help="the course commit to release (default: HEAD)",
    )
    command.add_argument(
        "--with-tags",
        dest="with_tags",
        action="store_true",
        default=True,
        help="build the lesson tags in the edition (the default)",
    )
    command.add_argument(
        "--without-tags",
        dest="with_tags",
        action="store_false",
        help="only the naive start, no lesson tags",
    )
    command.add_argument(
        "--through",
        metavar="NN",
        help="ship the lesson tags up to lesson NN only, to release lesson by lesson",
    )


def _grading(commands: Commands) -> None:
    # `course grade` and `course dev check` keep their options beside the
    # grader, whose engineer changes them with it.
    from checker.grading import register

    register(commands)


def build_parser() -> argparse.ArgumentParser:
    """Describe every subcommand and its options."""
    parser = argparse.ArgumentParser(
        prog="course",
        description="Django at Scale: set up the shop, then measure and grade it.",
    )
    parser.set_defaults(handler="checker.course.check:overview")
    commands = parser.add_subparsers(dest="command")
    _setup(commands)
    _learner(commands)
    _history(commands)
    _grading(commands)
    return parser


def _handler(name: str | Handler) -> Handler:
    if callable(name):
        return name
    module, function = name.split(":")
    found: Handler = getattr(importlib.import_module(module), function)
    return found


def main(argv: Sequence[str] | None = None) -> int:
    """Run the `course` command and return its exit status."""
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and not getattr(args, "passes_extra", False):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    args.extra = extra
    console = Console()
    try:
        return int(_handler(args.handler)(args, console))
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
