"""Run lesson notebooks in a shell_plus kernel: interactively or headless.

django-extensions' own `shell_plus --kernel` fails with IPython 9, so the
kernel is a plain ipykernel that loads the extension `shell_plus --notebook`
uses, with the shop's settings in its environment.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING

from checker.harness.runner import ExerciseOutcome
from checker.services.layout import Layout, project_root

if TYPE_CHECKING:
    from rich.console import Console

KERNEL_NAME = "django-at-scale"


def jupyter_path(layout: Layout | None = None) -> Path:
    """Return the folder to put on JUPYTER_PATH, holding the kernelspec."""
    return (layout or Layout.default()).home / "jupyter"


def install_kernelspec(
    layout: Layout | None = None, *, settings: str = "config.settings.dev"
) -> Path:
    """Write the shell_plus kernelspec under `.course/jupyter` and return it."""
    folder = jupyter_path(layout) / "kernels" / KERNEL_NAME
    folder.mkdir(parents=True, exist_ok=True)
    spec = {
        "argv": [
            sys.executable,
            "-m",
            "ipykernel_launcher",
            "-f",
            "{connection_file}",
            "--ext",
            "django_extensions.management.notebook_extension",
        ],
        "display_name": "Django at Scale (shell_plus)",
        "language": "python",
        "env": {
            "DJANGO_SETTINGS_MODULE": settings,
            "PYTHONPATH": str(project_root() / "shop_app"),
            # A notebook cell runs inside the kernel's event loop; the ORM
            # refuses sync calls there unless told this is deliberate.
            "DJANGO_ALLOW_ASYNC_UNSAFE": "true",
        },
    }
    (folder / "kernel.json").write_text(json.dumps(spec, indent=2) + "\n")
    return folder


def execute_notebook(path: Path, *, timeout: int = 300, settings: str) -> object:
    """Execute a notebook top to bottom in the shell_plus kernel; return it."""
    import nbformat
    from nbclient import NotebookClient

    install_kernelspec(settings=settings)
    os.environ["JUPYTER_PATH"] = str(jupyter_path())
    notebook = nbformat.read(path, as_version=4)  # type: ignore[no-untyped-call]
    client = NotebookClient(
        notebook,
        timeout=timeout,
        kernel_name=KERNEL_NAME,
        resources={"metadata": {"path": str(path.parent)}},
    )
    client.execute()
    return notebook


class CheckReport:
    """The outcome of `check()`: a table and diagnoses, as HTML in Jupyter."""

    def __init__(self, outcomes: list[ExerciseOutcome]) -> None:
        self.outcomes = outcomes

    @property
    def passed(self) -> bool:
        return all(o.status == "passed" for o in self.outcomes)

    def __repr__(self) -> str:
        lines = []
        for outcome in self.outcomes:
            lines.append(
                f"{outcome.id}: {outcome.status} "
                f"({outcome.points}/{outcome.max_points} points)"
            )
            found = outcome.diagnoses()
            for message, budgets in found.items():
                lines.append(f"  {', '.join(budgets)}: {message}")
            if outcome.reason and outcome.reason not in found:
                lines.append(f"  {outcome.reason}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        rows = []
        for outcome in self.outcomes:
            # A diagnosis is written once, beside the first budget it explains.
            first = {budgets[0]: m for m, budgets in outcome.diagnoses().items()}
            shown = {
                b: budgets for budgets in outcome.diagnoses().values() for b in budgets
            }
            for budget in outcome.budgets:
                colour = "#1a7f37" if budget.passed else "#cf222e"
                mark = "✔" if budget.passed else "✘"
                if budget.budget not in shown:
                    message = ""
                elif budget.budget in first:
                    message = first[budget.budget]
                else:
                    message = f"(see {shown[budget.budget][0]})"
                rows.append(
                    f"<tr><td>{escape(outcome.id)}</td><td>{escape(budget.budget)}</td>"
                    f'<td style="color:{colour}">{mark}</td>'
                    f"<td>{budget.points}/{budget.max_points}</td>"
                    f'<td style="text-align:left"><div style="white-space:pre-wrap;'
                    f'word-break:normal;overflow-wrap:break-word">'
                    f"{escape(message)}</div></td></tr>"
                )
            if not outcome.budgets and outcome.reason:
                rows.append(
                    f"<tr><td>{escape(outcome.id)}</td><td></td>"
                    '<td style="color:#cf222e">✘</td><td>0/'
                    f"{outcome.max_points}</td><td>{escape(outcome.reason)}</td></tr>"
                )
        return (
            "<table><thead><tr><th>exercise</th><th>budget</th><th></th>"
            "<th>points</th><th>diagnosis</th></tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table>"
        )


def check(target: str | None = None) -> CheckReport:
    """Grade an exercise or lesson (all when None) exactly as `course check` does."""
    from rich.console import Console

    from checker.course.check import run_checks
    from checker.course.manifest import load_course

    course = load_course()
    outcomes = run_checks(course, list(course.select(target)), Console(quiet=True))
    return CheckReport(outcomes)


def notebook_command(args: argparse.Namespace, console: Console) -> int:
    """Open Jupyter Lab in the shell_plus kernel at a lesson's notebook."""
    from checker.course.manifest import load_course
    from checker.services import ensure_up

    course = load_course()
    lesson = course.lesson(args.lesson) if args.lesson else None
    for message in ensure_up():
        console.print(message)
    install_kernelspec()
    target = lesson.notebook if lesson else "notebooks"
    env = {**os.environ, "JUPYTER_PATH": str(jupyter_path())}
    extra = list(getattr(args, "extra", []))
    # Containers and CI run as root, where Jupyter refuses to start unless told.
    if hasattr(os, "geteuid") and os.geteuid() == 0 and "--allow-root" not in extra:
        console.print("[dim]Running as root: starting Jupyter with --allow-root.[/]")
        extra.append("--allow-root")
    return subprocess.call(
        [sys.executable, "-m", "jupyter", "lab", target, *extra],
        cwd=course.root,
        env=env,
    )
