"""Write each student's feedback: the measured figures and the diagnoses.

A Markdown page and a self-contained HTML page (inline CSS, no external
assets). Lines of the trusted tests never appear, even inside a traceback.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from html import escape
from pathlib import Path
from typing import Any

from checker.grading.grade import StudentGrade
from checker.harness.runner import TRUSTED, BudgetOutcome, ExerciseOutcome
from checker.manifest import Course, Exercise

FOLDER = "feedback"
HIDDEN = "[a line of the trusted tests, hidden]"
_MAX_FIGURE = 200
# Lines this short ("assert x", "pass") say nothing about the tests.
_MIN_SECRET = 12
_BOOKKEEPING = "checker_"

Redact = Callable[[str], str]


def redactor(*, course: Course, trusted: Path = TRUSTED) -> Redact:
    """Return a function that hides any line copied from the trusted tests."""
    # Helper modules next to the tests are as secret as the tests themselves.
    modules = {trusted / e.tests for e in course.exercises} | set(trusted.rglob("*.py"))
    secret: set[str] = set()
    for module in modules:
        try:
            lines = module.read_text().splitlines()
        except OSError:
            continue
        secret |= {s for line in lines if len(s := line.strip()) >= _MIN_SECRET}

    def redact(text: str) -> str:
        return "\n".join(
            HIDDEN if line.strip() in secret else line for line in text.splitlines()
        )

    return redact


def figures(budget: BudgetOutcome) -> dict[str, Any]:
    """Return the budget's measured figures, without the plugin's bookkeeping."""
    return {
        str(key): value
        for key, value in budget.properties.items()
        if not str(key).startswith(_BOOKKEEPING)
    }


def _figure(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= _MAX_FIGURE else text[:_MAX_FIGURE] + "…"


def _pairs(
    grade: StudentGrade, course: Course
) -> list[tuple[ExerciseOutcome, Exercise | None]]:
    known = {exercise.id: exercise for exercise in course.exercises}
    return [(outcome, known.get(outcome.id)) for outcome in grade.exercises]


def _verdict(budget: BudgetOutcome) -> str:
    return "met" if budget.passed else "missed"


def shown_source(source: str) -> str:
    """Name a submission as the student knows it, not by the grader's path."""
    return Path(source).name or source


def feedback_markdown(grade: StudentGrade, *, course: Course, redact: Redact) -> str:
    """Return the student's feedback page in Markdown."""
    lines = [
        f"# Feedback: {grade.name}",
        "",
        f"**Score: {grade.points} / {grade.max_points}** "
        f"(graded in {grade.seconds:g} s from `{shown_source(grade.source)}`)",
        "",
    ]
    if grade.reason:
        lines += [f"> Not graded: {redact(grade.reason)}", ""]
    for outcome, exercise in _pairs(grade, course):
        title = f" — {exercise.title}" if exercise else ""
        lines += [
            f"## {outcome.id}{title} ({outcome.points} / {outcome.max_points})",
            "",
        ]
        if outcome.reason and not grade.reason:
            lines += [f"> Could not grade: {redact(outcome.reason)}", ""]
        lines += ["| budget | result | points |", "| --- | --- | --- |"]
        lines += [
            f"| {b.budget} | {_verdict(b)} | {b.points} / {b.max_points} |"
            for b in outcome.budgets
        ]
        lines.append("")
        for budget in outcome.budgets:
            measured = ", ".join(
                f"{key} = {_figure(value)}" for key, value in figures(budget).items()
            )
            if measured:
                lines += [f"**{budget.budget}** measured: {measured}", ""]
        if not outcome.reason:
            for message, budgets in outcome.diagnoses().items():
                if not message:
                    continue
                lines += [f"**{', '.join(budgets)}** diagnosis:", "", "```text"]
                lines += [redact(message), "```", ""]
        if exercise and exercise.hints and outcome.status != "passed":
            lines += ["Hints:", ""] + [f"- {hint}" for hint in exercise.hints] + [""]
    return "\n".join(lines)


_CSS = """
body { margin: 0; background: #f4f5f7; color: #1f2933;
  font: 16px/1.5 -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; }
main { max-width: 960px; margin: 0 auto; padding: 32px 24px 48px; }
header { display: flex; align-items: center; justify-content: space-between;
  gap: 24px; margin-bottom: 24px; }
h1 { font-size: 28px; margin: 0 0 4px; }
.source { color: #52606d; font-size: 14px; margin: 0; }
.score { text-align: right; min-width: 200px; }
.score strong { font-size: 36px; }
.meter { height: 10px; background: #e4e7eb; border-radius: 5px; overflow: hidden;
  margin-top: 6px; }
.meter span { display: block; height: 100%; background: #3ebd93; }
.alert { background: #ffeeee; border-left: 4px solid #e12d39; padding: 12px 16px;
  border-radius: 4px; margin: 0 0 20px; }
section { background: #fff; border-radius: 8px; padding: 20px 24px; margin-bottom: 20px;
  box-shadow: 0 1px 3px rgba(15, 23, 42, 0.12); }
section h2 { font-size: 20px; margin: 0 0 12px; display: flex;
  justify-content: space-between; align-items: center; gap: 16px; }
.badge { font-size: 13px; padding: 2px 10px; border-radius: 12px; font-weight: 600;
  white-space: nowrap; flex-shrink: 0; }
.passed { background: #e3f9e5; color: #0e5c2f; }
.failed { background: #fff3c4; color: #8d2b0b; }
.error { background: #ffe3e3; color: #8a041a; }
table { width: 100%; border-collapse: collapse; font-size: 15px;
  table-layout: fixed; }
col.budget { width: 20%; } col.result { width: 12%; } col.points { width: 10%; }
td:first-child { font-weight: 600; overflow-wrap: anywhere; }
th, td { text-align: left; padding: 8px 10px; border-bottom: 1px solid #e4e7eb;
  vertical-align: top; }
th { color: #52606d; font-weight: 600; font-size: 13px; text-transform: uppercase; }
td.points { white-space: nowrap; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: 2px 12px;
  margin: 0; font-size: 14px; }
dt { color: #52606d; } dd { margin: 0; font-family: "DejaVu Sans Mono", monospace; }
pre { background: #1f2933; color: #f5f7fa; padding: 12px 14px; border-radius: 6px;
  white-space: pre-wrap; word-break: break-word; font-size: 13px; margin: 8px 0 0; }
.hints { margin: 14px 0 0; color: #334e68; font-size: 15px; }
.hints ul { margin: 4px 0 0; padding-left: 20px; }
footer { color: #7b8794; font-size: 13px; text-align: center; }
"""


def _figures_html(budget: BudgetOutcome) -> str:
    if not figures(budget):
        return ""
    items = "".join(
        f"<dt>{escape(str(key))}</dt><dd>{escape(_figure(value))}</dd>"
        for key, value in figures(budget).items()
    )
    return f"<dl>{items}</dl>"


def _exercise_html(
    outcome: ExerciseOutcome,
    exercise: Exercise | None,
    grade: StudentGrade,
    redact: Redact,
) -> str:
    title = f" — {escape(exercise.title)}" if exercise else ""
    rows = []
    first = {message: budgets[0] for message, budgets in outcome.diagnoses().items()}
    for budget in outcome.budgets:
        diagnosis = ""
        if budget.message and budget.message in first and not outcome.reason:
            diagnosis = (
                f"<pre>{escape(redact(budget.message))}</pre>"
                if first[budget.message] == budget.budget
                else f"<p>The same cause as {escape(first[budget.message])}.</p>"
            )
        rows.append(
            f'<tr><td>{escape(budget.budget)}</td><td><span class="badge '
            f'{"passed" if budget.passed else "failed"}">{_verdict(budget)}</span>'
            f'</td><td class="points">{budget.points} / {budget.max_points}</td>'
            f"<td>{_figures_html(budget)}{diagnosis}</td></tr>"
        )
    reason = ""
    if outcome.reason and not grade.reason:
        reason = (
            f'<p class="alert">Could not grade: {escape(redact(outcome.reason))}</p>'
        )
    hints = ""
    if exercise and exercise.hints and outcome.status != "passed":
        items = "".join(f"<li>{escape(hint)}</li>" for hint in exercise.hints)
        hints = f'<div class="hints"><strong>Hints</strong><ul>{items}</ul></div>'
    return (
        f"<section><h2><span>{escape(outcome.id)}{title}</span>"
        f'<span class="badge {outcome.status}">{outcome.points} / '
        f"{outcome.max_points}</span></h2>{reason}"
        '<table><colgroup><col class="budget"><col class="result">'
        '<col class="points"><col></colgroup><thead><tr><th>budget</th>'
        "<th>result</th><th>points</th>"
        f"<th>measured and diagnosis</th></tr></thead><tbody>{''.join(rows)}"
        f"</tbody></table>{hints}</section>"
    )


def feedback_html(grade: StudentGrade, *, course: Course, redact: Redact) -> str:
    """Return the student's feedback as one self-contained HTML page."""
    share = 100 * grade.points // grade.max_points if grade.max_points else 0
    alert = (
        f'<p class="alert">Not graded: {escape(redact(grade.reason))}</p>'
        if grade.reason
        else ""
    )
    sections = "".join(
        _exercise_html(outcome, exercise, grade, redact)
        for outcome, exercise in _pairs(grade, course)
    )
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>Feedback: {escape(grade.name)}</title><style>{_CSS}</style>"
        f"</head><body><main><header><div><h1>Feedback: {escape(grade.name)}</h1>"
        f'<p class="source">{escape(shown_source(grade.source))} · graded in'
        f" {grade.seconds:g} s"
        f'</p></div><div class="score"><strong>{grade.points} / {grade.max_points}'
        f'</strong><div class="meter"><span style="width: {share}%"></span></div>'
        f"</div></header>{alert}{sections}"
        "<footer>Django at Scale · measured on PostgreSQL and Redis</footer>"
        "</main></body></html>\n"
    )


def feedback_write(
    grades: list[StudentGrade], *, course: Course, out: Path, trusted: Path = TRUSTED
) -> list[Path]:
    """Write `feedback/<student>.md` and `.html` into `out`; return the paths."""
    folder = out / FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    redact = redactor(course=course, trusted=trusted)
    written = []
    for grade in grades:
        for suffix, render in ((".md", feedback_markdown), (".html", feedback_html)):
            path = folder / f"{grade.name}{suffix}"
            path.write_text(render(grade, course=course, redact=redact))
            written.append(path)
    return written
