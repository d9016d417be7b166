"""Exercise READMEs: what `course.toml` says, written out, with the author's prose.

An exercise's README shows the task, the files to edit and the budgets. The
parts the manifest holds (title, lesson, files, budgets and points, how many
hints) are written from it, so the two never drift; the author writes only
the prose (the task, notes on where to edit, what each budget measures). The
hints themselves stay out: `course hint` gives them one at a time.

`course dev readmes` rewrites every README this way; `--check` only says which
would change.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePosixPath

from checker.course.manifest import Course, Exercise, Lesson, ManifestError

EXERCISES = "exercises"
_ROW = re.compile(r"^\| `(?P<budget>[^`]+)` \| *\d+ *\| (?P<measured>.*) \|$")
# A file of the manifest in the list, and what the author says of it.
_LISTED = re.compile(r"^- `(?P<path>shop_app/[^`]*)`(?P<rest>.*)$")
# What stands for the list when the manifest hides an exercise's files.
_UNNAMED = "The files to edit are not named here: finding them is the exercise."
# The lines of the Hints section that are written from the manifest.
_GENERATED_HINTS = re.compile(
    r"^(\d+\. |`course hint |Once it passes, `course solution )"
)
# The sentence before the table, which says how the points are earned.
_ALONE = re.compile(r" ?Each budget earns its points on its own[^:]*(:[^:]*)?:$")


@dataclass(frozen=True)
class Prose:
    """What the author wrote in a README: everything the manifest cannot say."""

    task: str
    where: str
    grading: str
    measured: dict[str, str]
    notes: str
    # What follows a file's path in the list, e.g. "(the new migration)".
    annotations: dict[str, str]
    # Advice beside the hints (how to try it by hand), not a hint itself.
    practice: str


def _sections(text: str, path: str) -> dict[str, str]:
    found: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in text.splitlines():
        if line.startswith("## "):
            current = found.setdefault(line[3:].strip(), [])
        elif current is not None:
            current.append(line)
    missing = [
        s for s in ("The task", "Where to edit", "How it is graded") if s not in found
    ]
    if missing:
        raise ManifestError(f"{path}: no '## {missing[0]}' section.")
    return {name: "\n".join(lines).strip() for name, lines in found.items()}


def prose_read(text: str, path: str) -> Prose:
    """Return the author's prose of a README, leaving out what is generated."""
    sections = _sections(text, path)
    annotations, where = {}, []
    for line in sections["Where to edit"].splitlines():
        listed = _LISTED.match(line)
        if listed:
            annotations[listed["path"]] = listed["rest"]
        elif not line.startswith(_UNNAMED):
            where.append(line)
    practice = "\n".join(
        line
        for line in sections.get("Hints", "").splitlines()
        if not _GENERATED_HINTS.match(line)
    ).strip()
    grading, measured, notes = [], {}, []
    for line in sections["How it is graded"].splitlines():
        row = _ROW.match(line)
        if row:
            measured[row["budget"]] = row["measured"].strip()
        elif line.startswith("|"):
            continue
        elif measured:
            notes.append(line)
        else:
            grading.append(line)
    intro = _ALONE.sub("", "\n".join(grading).strip())
    return Prose(
        task=sections["The task"],
        where="\n".join(where).strip(),
        grading=intro,
        measured=measured,
        notes="\n".join(notes).strip(),
        annotations=annotations,
        practice=practice,
    )


def _points_sentence(exercise: Exercise) -> str:
    guards = [f"`{g}`" for g in exercise.guards]
    if not guards:
        return "Each budget earns its points on its own:"
    names = " and ".join(
        [", ".join(guards[:-1]), guards[-1]] if guards[:-1] else guards
    )
    one = len(guards) == 1
    return (
        f"Each budget earns its points on its own, except {names}, which"
        f" {'guards' if one else 'guard'} the fix: a shop that has not tried yet"
        f" meets {'it' if one else 'them'}, so {'its' if one else 'their'} points"
        " count once every other budget is met:"
    )


def _unnamed(exercise: Exercise) -> str:
    return (
        f"{_UNNAMED} `course reset {exercise.id}` puts back only the files its"
        " fix belongs in, as your lesson starts (your versions saved first), so"
        " the other exercises' work stays as it is; once it passes, `course"
        f" solution {exercise.id}` shows them."
    )


def readme_write(
    course: Course, lesson: Lesson, exercise: Exercise, prose: Prose
) -> str:
    """Return the README of `exercise` from the manifest and the author's prose."""
    unknown = sorted(set(prose.measured) - set(exercise.points))
    if unknown:
        raise ManifestError(
            f"{readme_path(exercise)} describes budget {unknown[0]!r},"
            f" which course.toml does not grade."
        )
    undescribed = [b for b in exercise.points if b not in prose.measured]
    if undescribed:
        raise ManifestError(
            f"{readme_path(exercise)}: add a row saying what budget"
            f" {undescribed[0]!r} measures."
        )
    number = int(lesson.id)
    rows = "\n".join(
        f"| `{budget}` | {points} | {prose.measured[budget]} |"
        for budget, points in exercise.points.items()
    )
    files = (
        _unnamed(exercise)
        if exercise.files_hidden
        else "\n".join(
            f"- `{path}`{prose.annotations.get(path, '')}" for path in exercise.files
        )
    )
    blocks = [
        f"# {exercise.id}: {exercise.title}",
        f"Lesson {number}, {lesson.title}: read the chapter [`{lesson.chapter}`]"
        f"(../../{lesson.chapter}) and open its notebook with"
        f" `course notebook {lesson.id}`.",
        f"## The task\n\n{prose.task}",
        "## Where to edit\n\n" + "\n\n".join(filter(None, [files, prose.where])),
        "## How it is graded\n\n"
        + " ".join(filter(None, [prose.grading, _points_sentence(exercise)]))
        + f"\n\n| budget | points | what is measured |\n| --- | ---: | --- |\n{rows}"
        + (f"\n\n{prose.notes}" if prose.notes else ""),
        "## Hints\n\n"
        f"`course hint {exercise.id}` gives its {len(exercise.hints)} hints one at a"
        " time, from gentle to specific, and `course hint --all"
        f" {exercise.id}` shows again the ones you have seen. They are not"
        " written here, so that each one comes only when you ask for it."
        + (f"\n\n{prose.practice}" if prose.practice else ""),
        f"Once it passes, `course solution {exercise.id}` shows the reference patch"
        " and its measured before and after.",
    ]
    return "\n\n".join(blocks) + "\n"


def readmes_stale(course: Course, *, write: bool) -> list[str]:
    """Return the READMEs that differ from what they should say; rewrite if asked."""
    stale = []
    for lesson in course.lessons:
        for exercise in lesson.exercises:
            relative = str(readme_path(exercise))
            path = course.root / relative
            if not path.is_file():
                raise ManifestError(f"{relative} is missing.")
            text = path.read_text()
            wanted = readme_write(course, lesson, exercise, prose_read(text, relative))
            if wanted != text:
                stale.append(relative)
                if write:
                    path.write_text(wanted)
    return stale


def readme_path(exercise: Exercise) -> PurePosixPath:
    """Return where an exercise's README lives, from the course's root."""
    return PurePosixPath(EXERCISES, exercise.id, "README.md")
