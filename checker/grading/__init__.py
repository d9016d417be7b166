"""Grade a class: many submissions, isolated, limited, in parallel."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table

from checker.harness.runner import TRUSTED, Limits
from checker.manifest import Course, ManifestError, load_course
from checker.services import ensure_up

if TYPE_CHECKING:
    from checker.grading.exports import Student
    from checker.grading.grade import GradingPlan, StudentGrade


def _course(args: argparse.Namespace) -> Course:
    course = load_course(args.course)
    if getattr(args, "lessons", None):
        course = course.only(args.lessons)
    if not course.exercises:
        raise ManifestError(f"{course.root / 'course.toml'} lists no exercises.")
    return course


def _plan(args: argparse.Namespace, console: Console) -> GradingPlan | None:
    """Return what to grade against, or None after saying why it cannot."""
    from checker.grading.grade import GradingPlan
    from checker.harness.sandbox import enforcement

    missing = enforcement()
    if missing:
        console.print("[yellow]This machine cannot fence a submission:[/]")
        for line in missing:
            console.print(f"  - {line}")
        if not args.unsafe:
            console.print(
                "Refusing to grade: a submission could forge its grade or harm "
                "other runs. Grade on Linux as root with bubblewrap and cgroups, "
                "or pass --unsafe to grade anyway."
            )
            return None
        console.print("[yellow]Grading anyway (--unsafe).[/]")
    course = _course(args)
    for message in ensure_up():
        console.print(message)
    return GradingPlan(
        course=course,
        trusted=args.trusted.resolve(),
        limits=Limits(args.timeout, args.memory, args.output),
        sandbox=not missing,
        seed=args.seed,
    )


def _grade(args: argparse.Namespace, console: Console) -> int:
    from checker.grading.exports import RosterError, roster_load
    from checker.grading.grade import grade_class

    if args.jobs < 1:
        console.print("[red]error:[/] -j needs at least 1 job.")
        return 2
    if args.broker and args.jobs != 1:
        console.print(
            "[red]error:[/] -j does not apply with --broker: each "
            "`course grade-worker -c N` says how many it grades at once."
        )
        return 2
    try:
        roster = roster_load(args.roster) if args.roster else None
    except RosterError as error:
        console.print(f"[red]error:[/] {error}")
        return 2
    plan = _plan(args, console)
    if plan is None:
        return 2
    if args.broker:
        from checker.grading.cluster import grade_class_on_workers

        grades = grade_class_on_workers(
            args.submissions,
            plan=plan,
            broker=args.broker,
            out=args.out,
            ref=args.ref,
            console=console,
            resume=args.resume,
            visibility=args.visibility,
        )
    else:
        grades = grade_class(
            args.submissions,
            plan=plan,
            jobs=args.jobs,
            ref=args.ref,
            console=console,
            out=args.out,
            resume=args.resume,
        )
    _class_write(grades, plan=plan, args=args, roster=roster, console=console)
    return 0


def _grade_worker(args: argparse.Namespace, console: Console) -> int:
    import os

    from checker.grading import tasks
    from checker.grading.isolation import run_token
    from checker.grading.results import trusted_digest
    from checker.harness.cgroups import leftovers_remove
    from checker.harness.database import leftovers_drop

    if args.concurrency < 1:
        console.print("[red]error:[/] -c needs at least 1 process.")
        return 2
    args.seed = None
    plan = _plan(args, console)
    if plan is None:
        return 2
    # A worker killed earlier left its runs' databases, roles and cgroups.
    leftovers_drop()
    leftovers_remove()
    trusted = trusted_digest(course_root=plan.course.root, trusted=plan.trusted)
    queue = tasks.queue_for(trusted)
    # The pool's processes fork from here and inherit what to grade with.
    tasks.WORKER = tasks.WorkerState(plan=plan, trusted=trusted, run=run_token())
    tasks.cluster_configure(
        tasks.app, broker=args.broker, queue=queue, visibility=args.visibility
    )
    name = args.name or f"grader-{os.getpid()}@%h"
    console.print(
        f"Grading tasks for trusted tests {trusted[:12]} from {queue}, "
        f"{args.concurrency} at a time, as {name}."
    )
    tasks.app.worker_main(
        [
            "worker",
            "--queues", queue,
            "--concurrency", str(args.concurrency),
            "--pool", "prefork",
            "--hostname", name,
            "--loglevel", args.loglevel,
            "--without-gossip",
            "--without-mingle",
        ]
    )  # fmt: skip
    return 0


def _class_write(
    grades: list[StudentGrade],
    *,
    plan: GradingPlan,
    args: argparse.Namespace,
    roster: dict[str, Student] | None,
    console: Console,
) -> None:
    from checker.grading.exports import exports_write, unrostered
    from checker.grading.feedback import feedback_write, redactor
    from checker.grading.gradebook import gradebook_write

    out: Path = args.out
    course = plan.course
    table_path, json_path = gradebook_write(grades, course=course, out=out)
    pages = feedback_write(grades, course=course, out=out, trusted=plan.trusted)
    exports_write(
        grades,
        out=out,
        redact=redactor(course=course, trusted=plan.trusted),
        roster=roster,
        assignment=args.assignment,
    )
    table = Table("student", "points", "note")
    for grade in grades:
        table.add_row(grade.name, f"{grade.points}/{grade.max_points}", grade.note)
    console.print(table)
    console.print(
        f"Graded {_counted(len(grades), 'submission')}: {table_path}, {json_path}"
        f" and {_counted(len(pages) // 2, 'feedback page')} in {out / 'feedback'}."
    )
    if roster is not None:
        console.print(
            f"Gradebook imports: {out / 'canvas.csv'} (Canvas) and "
            f"{out / 'moodle.csv'} (Moodle)."
        )
        missing = unrostered(grades, roster)
        if missing:
            console.print(
                f"[yellow]Not in the roster, so in neither import:[/] "
                f"{', '.join(missing)}"
            )


def _dev_check(args: argparse.Namespace, console: Console) -> int:
    from checker.grading.authoring import course_check

    course = _course(args)
    for message in ensure_up():
        console.print(message)
    checks = course_check(
        course=course,
        trusted=args.trusted.resolve(),
        limits=Limits(args.timeout, args.memory, args.output),
    )
    table = Table("exercise", "naive shop", "with its solution")
    for check in checks:
        table.add_row(
            check.exercise,
            f"[red]{check.naive}[/]" if check.naive else "[green]fails as expected[/]",
            f"[red]{check.solved}[/]" if check.solved else "[green]passes[/]",
        )
    console.print(table)
    broken = [check.exercise for check in checks if not check.ok]
    if broken:
        console.print(
            f"[red]{len(broken)} exercise(s) need work:[/] {', '.join(broken)}"
        )
        return 1
    console.print(f"All {len(checks)} exercises fail unsolved and pass solved.")
    return 0


def _dev_patches(args: argparse.Namespace, console: Console) -> int:
    from checker.history.patches import (
        PatchStop,
        Solution,
        patches_abort,
        patches_rebuild,
    )
    from checker.services.layout import Layout

    course = _course(args)
    work = Layout.default().home / "patches-rebuild"
    if args.abort:
        patches_abort(course.root, work=work)
        console.print(f"Dropped the rebuild in {work}; no patch was rewritten.")
        return 0
    solutions = [Solution(e.id, e.solution) for e in course.exercises]
    try:
        rewritten = patches_rebuild(
            course.root, solutions, work=work, resume=args.resume, stop=args.stop
        )
    except PatchStop as stop:
        console.print(str(stop), markup=False)
        return 1
    if rewritten:
        console.print(f"Rewrote {len(rewritten)} patch(es): {', '.join(rewritten)}.")
    else:
        console.print("Every patch applies as it is; none was rewritten.")
    return 0


def _dev_readmes(args: argparse.Namespace, console: Console) -> int:
    from checker.course.readmes import readmes_stale

    stale = readmes_stale(_course(args), write=not args.check)
    if not stale:
        console.print("Every exercise README says what course.toml says.")
        return 0
    if args.check:
        console.print(
            f"[red]{len(stale)} README(s) differ from course.toml:[/]"
            f" {', '.join(stale)}. `course dev readmes` rewrites them."
        )
        return 1
    console.print(f"Rewrote {len(stale)} README(s): {', '.join(stale)}.")
    return 0


def _counted(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def _course_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--course",
        type=Path,
        default=None,
        help="folder holding course.toml and solutions/ (default: this checkout)",
    )
    parser.add_argument(
        "--trusted",
        type=Path,
        default=TRUSTED,
        help="folder of the trusted exercise tests (default: checker/trusted)",
    )
    parser.add_argument(
        "--timeout", type=float, default=600.0, help="seconds per submission"
    )
    parser.add_argument(
        "--memory", type=int, default=3072, help="memory limit per submission, MiB"
    )
    parser.add_argument(
        "--output",
        type=int,
        default=256,
        help="largest file (the output log included) per submission, MiB",
    )


def _visibility(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--visibility",
        type=float,
        default=1800.0,
        help="seconds after which a Redis broker hands a task that no worker "
        "acknowledged to another worker (longer than a run; default 1800)",
    )


def register(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add `course grade` and `course dev check` to the command line."""
    grade = commands.add_parser(
        "grade",
        help="grade submissions against the trusted tests; write grades and feedback",
    )
    grade.add_argument(
        "submissions",
        metavar="SUBMISSION",
        nargs="+",
        help="a directory, a git repository (repo.git@tag), or a .zip/.tar.gz",
    )
    grade.add_argument("--out", type=Path, required=True, help="folder for the results")
    grade.add_argument(
        "-j", "--jobs", type=int, default=1, help="submissions graded at once"
    )
    grade.add_argument("--ref", help="git tag or branch for repositories without @ref")
    grade.add_argument(
        "--lessons",
        help="grade only these lessons' exercises: 3, 01-03 or 1,4-5 (default: all)",
    )
    grade.add_argument(
        "--seed",
        type=int,
        help="draw every run's data sizes from this seed (grades.json records it)",
    )
    grade.add_argument(
        "--resume",
        action="store_true",
        help="keep the results already in --out for unchanged submissions and "
        "trusted tests; grade only the rest",
    )
    grade.add_argument(
        "--roster",
        type=Path,
        help="CSV mapping submission names to student ids: also write "
        "canvas.csv and moodle.csv (docs/grading-exports.md)",
    )
    grade.add_argument(
        "--assignment",
        default="Django at Scale",
        help="the assignment's column in canvas.csv and moodle.csv",
    )
    grade.add_argument(
        "--broker",
        help="grade on the `course grade-worker` processes of this Celery broker "
        "(redis://..., amqp://...) instead of here",
    )
    _visibility(grade)
    grade.add_argument(
        "--unsafe",
        action="store_true",
        help="grade even where the sandbox cannot be enforced (see the warning)",
    )
    _course_options(grade)
    grade.set_defaults(handler=_grade)

    worker = commands.add_parser(
        "grade-worker",
        help="grade the submissions a `course grade --broker` publishes, "
        "on this machine",
    )
    worker.add_argument("--broker", required=True, help="the Celery broker's URL")
    worker.add_argument(
        "-c",
        "--concurrency",
        type=int,
        default=1,
        help="submissions graded at once (about one per two cores)",
    )
    worker.add_argument("--name", help="the worker's name (default: grader-PID@host)")
    worker.add_argument(
        "--loglevel", default="WARNING", help="Celery's log level (default: WARNING)"
    )
    worker.add_argument(
        "--unsafe",
        action="store_true",
        help="grade even where the sandbox cannot be enforced (see the warning)",
    )
    _visibility(worker)
    _course_options(worker)
    worker.set_defaults(handler=_grade_worker)

    dev = commands.add_parser("dev", help="commands for course authors")
    actions = dev.add_subparsers(dest="dev_command", required=True)
    check = actions.add_parser(
        "check", help="every exercise fails on the naive shop and passes solved"
    )
    _course_options(check)
    check.set_defaults(handler=_dev_check)
    readmes = actions.add_parser(
        "readmes",
        help="write each exercise's README from course.toml and its author's prose",
    )
    readmes.add_argument(
        "--check", action="store_true", help="only name the READMEs that would change"
    )
    readmes.add_argument("--course", type=Path, default=None, help=argparse.SUPPRESS)
    readmes.set_defaults(handler=_dev_readmes)
    patches = actions.add_parser(
        "patches",
        help="carry every solution patch over a change to the naive shop, in order",
    )
    patches.add_argument(
        "--continue",
        dest="resume",
        action="store_true",
        help="go on after fixing and committing a patch that did not apply",
    )
    patches.add_argument(
        "--stop", metavar="EXERCISE", help="stop after this patch, to edit it"
    )
    patches.add_argument(
        "--abort", action="store_true", help="drop the rebuild, rewriting nothing"
    )
    patches.add_argument("--course", type=Path, default=None, help=argparse.SUPPRESS)
    patches.set_defaults(handler=_dev_patches)
