"""Write the class's grades: a CSV row per student and every measurement in JSON."""

from __future__ import annotations

import csv
import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from checker.grading.grade import StudentGrade
from checker.manifest import Course

CSV_NAME = "grades.csv"
JSON_NAME = "grades.json"


def gradebook_rows(grades: list[StudentGrade], *, course: Course) -> list[list[str]]:
    """Return the CSV header and one row per student: points per exercise, total."""
    ids = [exercise.id for exercise in course.exercises]
    rows = [["student", *ids, "total", "max", "note"]]
    for grade in grades:
        points = {outcome.id: outcome.points for outcome in grade.exercises}
        rows.append(
            [
                grade.name,
                *(str(points.get(exercise_id, 0)) for exercise_id in ids),
                str(grade.points),
                str(grade.max_points),
                grade.note,
            ]
        )
    return rows


def _student(grade: StudentGrade) -> dict[str, Any]:
    return {
        "student": grade.name,
        "source": grade.source,
        "points": grade.points,
        "max_points": grade.max_points,
        "reason": grade.reason,
        "note": grade.note,
        "seconds": grade.seconds,
        "exercises": [
            {
                "id": outcome.id,
                "status": outcome.status,
                "points": outcome.points,
                "max_points": outcome.max_points,
                "reason": outcome.reason,
                # Data sizes were drawn from this seed: `course grade --seed`
                # with it grades the same data again.
                "seed": outcome.seed,
                "budgets": [asdict(budget) for budget in outcome.budgets],
            }
            for outcome in grade.exercises
        ],
    }


def gradebook_write(
    grades: list[StudentGrade], *, course: Course, out: Path
) -> tuple[Path, Path]:
    """Write grades.csv and grades.json into `out`; return their paths."""
    out.mkdir(parents=True, exist_ok=True)
    table = out / CSV_NAME
    with table.open("w", newline="") as handle:
        csv.writer(handle).writerows(gradebook_rows(grades, course=course))
    document = out / JSON_NAME
    document.write_text(
        json.dumps(
            {
                "exercises": [
                    {"id": e.id, "title": e.title, "points": e.points}
                    for e in course.exercises
                ],
                "students": [_student(grade) for grade in grades],
            },
            indent=2,
            default=str,
        )
    )
    return table, document
