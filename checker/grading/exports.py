"""Hand a class's grades to the platforms instructors use.

- `canvas.csv`: Canvas's gradebook import (Grades > Import): the columns of
  its gradebook export, `Student`, `ID`, `SIS User ID`, `SIS Login ID`,
  `Section`, then one assignment column, with a `Points Possible` row.
- `moodle.csv`: Moodle's CSV grade import (Grades > Import > CSV file): a
  column that identifies the user (`ID number` or `Email address`, mapped
  to useridnumber or useremail), one grade column and one feedback column.
- `classroom/<student>.json`: the results GitHub Classroom's autograding
  reporter reads (base64 in `<RUNNER>_RESULTS`): one test per budget, its
  points as score.

A roster CSV maps submission names to the platforms' student ids; a student
the roster does not name is left out of both gradebook imports and listed.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from checker.grading.feedback import Redact
from checker.grading.grade import StudentGrade, summary

CANVAS_NAME = "canvas.csv"
MOODLE_NAME = "moodle.csv"
CLASSROOM_FOLDER = "classroom"
ROSTER_COLUMNS = (
    "submission",
    "name",
    "canvas_id",
    "sis_user_id",
    "sis_login_id",
    "section",
    "id_number",
    "email",
)


class RosterError(Exception):
    """A roster file that cannot be read; the message says why."""


@dataclass(frozen=True)
class Student:
    """One roster row: how each platform knows the student of a submission."""

    submission: str
    name: str = ""
    canvas_id: str = ""
    sis_user_id: str = ""
    sis_login_id: str = ""
    section: str = ""
    id_number: str = ""
    email: str = ""


def roster_load(path: Path) -> dict[str, Student]:
    """Read a roster CSV whose `submission` column names each submission."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            header = reader.fieldnames or []
            if "submission" not in header:
                raise RosterError(
                    f"{path} has no 'submission' column; its columns may be "
                    f"{', '.join(ROSTER_COLUMNS)}"
                )
            rows = list(reader)
    except OSError as error:
        raise RosterError(f"cannot read the roster {path}: {error.strerror}") from None
    roster = {}
    for row in rows:
        values = {
            key: (row.get(key) or "").strip() for key in ROSTER_COLUMNS if key in header
        }
        if values["submission"]:
            roster[values["submission"]] = Student(**values)
    return roster


def _rostered(
    grades: list[StudentGrade], roster: dict[str, Student]
) -> list[tuple[StudentGrade, Student]]:
    return [(grade, roster[grade.name]) for grade in grades if grade.name in roster]


def unrostered(grades: list[StudentGrade], roster: dict[str, Student]) -> list[str]:
    """Return the students whose submission the roster does not name."""
    return [grade.name for grade in grades if grade.name not in roster]


def canvas_rows(
    grades: list[StudentGrade], *, roster: dict[str, Student], assignment: str
) -> list[list[str]]:
    """Return Canvas's import rows: header, points possible, one per student."""
    most = max((grade.max_points for grade in grades), default=0)
    rows = [
        ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", assignment],
        ["Points Possible", "", "", "", "", str(most)],
    ]
    for grade, student in _rostered(grades, roster):
        rows.append(
            [
                student.name or grade.name,
                student.canvas_id,
                student.sis_user_id,
                student.sis_login_id,
                student.section,
                str(grade.points),
            ]
        )
    return rows


def moodle_rows(
    grades: list[StudentGrade], *, roster: dict[str, Student], assignment: str
) -> list[list[str]]:
    """Return Moodle's import rows: an id, an email, the grade and feedback."""
    rows = [["ID number", "Email address", assignment, "Feedback"]]
    for grade, student in _rostered(grades, roster):
        rows.append(
            [
                student.id_number,
                student.email,
                str(grade.points),
                grade.note or "All budgets met.",
            ]
        )
    return rows


def classroom_result(grade: StudentGrade, *, redact: Redact) -> dict[str, Any]:
    """Return a grade as GitHub Classroom's autograding reporter reads it."""
    tests = []
    for outcome in grade.exercises:
        for budget in outcome.budgets:
            status = "pass" if budget.passed else "fail"
            if outcome.reason:
                status = "error"
            tests.append(
                {
                    "name": f"{outcome.id} {budget.budget}",
                    "status": status,
                    "score": budget.points,
                    "message": ""
                    if budget.passed
                    else redact(summary(budget.message or outcome.reason)),
                    "test_code": f"course grade: {outcome.id}, budget {budget.budget}",
                    "filename": "",
                    "line_no": 0,
                    "execution_time": "",
                }
            )
    statuses = {test["status"] for test in tests}
    overall = next((s for s in ("error", "fail") if s in statuses), "pass")
    return {
        "version": 1,
        "status": overall,
        "max_score": grade.max_points,
        "tests": tests,
    }


def _write_csv(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(rows)
    return path


def exports_write(
    grades: list[StudentGrade],
    *,
    out: Path,
    redact: Redact,
    roster: dict[str, Student] | None,
    assignment: str,
) -> list[Path]:
    """Write the classroom results and, with a roster, the gradebook imports."""
    folder = out / CLASSROOM_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for grade in grades:
        path = folder / f"{grade.name}.json"
        path.write_text(json.dumps(classroom_result(grade, redact=redact), indent=2))
        written.append(path)
    if roster is not None:
        written.append(
            _write_csv(
                out / CANVAS_NAME,
                canvas_rows(grades, roster=roster, assignment=assignment),
            )
        )
        written.append(
            _write_csv(
                out / MOODLE_NAME,
                moodle_rows(grades, roster=roster, assignment=assignment),
            )
        )
    return written
