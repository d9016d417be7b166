"""`checker.course.cli`: one module declares every subcommand, and loads little."""

import subprocess
import sys

from checker.course.cli import build_parser

COMMANDS = {
    "start", "services", "seed", "list", "check", "watch", "hint", "solution",
    "reset", "notebook", "tags", "goto", "release", "grade", "dev",
}  # fmt: skip


def test_every_subcommand_is_declared_with_a_doc_line():
    [commands] = [
        action
        for action in build_parser()._actions
        if action.__class__.__name__ == "_SubParsersAction"
    ]

    # Grading declares its own beside the grader (`grade-worker`, ...).
    assert set(commands.choices) >= COMMANDS
    helps = {choice.dest: choice.help for choice in commands._choices_actions}
    assert all(helps[name] for name in commands.choices)


def test_the_check_command_loads_neither_django_nor_pytest_before_its_child():
    probe = (
        "import sys\n"
        "from checker.course import cli\n"
        "cli._handler(cli.build_parser().parse_args(['check']).handler)\n"
        "print(sorted(m for m in ('django', 'pytest') if m in sys.modules))\n"
    )

    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )

    assert done.stdout.strip() == "[]"


def test_the_old_entry_point_still_runs_the_command():
    done = subprocess.run(
        [sys.executable, "-m", "checker.cli", "--help"], capture_output=True, text=True
    )

    assert done.returncode == 0
    assert "Django at Scale: set up the shop, then measure and grade it." in (
        done.stdout
    )
