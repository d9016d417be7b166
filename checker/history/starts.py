"""Find the lesson the learner is at and the tree that lesson starts from.

The start is built from the course's own commit and its solution patches, the
way `course tags` builds its tags, so it is the same whether the tags exist
or not and whatever the learner has committed since.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from checker.course.manifest import Course
from checker.history.chain import (
    SOLVED,
    Base,
    PatchError,
    build_trees,
    choose_base,
    course_at,
    lesson_tag,
    patches_at,
    plan_steps,
)
from checker.history.git import Git, GitError
from checker.history.workspace import lesson_branch

_LESSON_BRANCH = re.compile(r"course/lesson-(?P<lesson>[^/]+)")


@dataclass(frozen=True)
class LessonStart:
    """The tree a lesson starts from, and how to name it to the learner."""

    lesson: str
    tree: str
    base: Base

    @property
    def tag(self) -> str:
        return lesson_tag(self.lesson)


def current_lesson(git: Git, course: Course) -> str:
    """Return the id of the lesson whose start the learner's HEAD is built on.

    A branch `course goto` made names its lesson; otherwise the newest lesson
    tag that HEAD descends from; otherwise the first lesson, which is where a
    learner who never switched works.
    """
    ids = [lesson.id for lesson in course.lessons]
    branch = git.run("symbolic-ref", "--quiet", "--short", "HEAD", check=False)
    found = _LESSON_BRANCH.fullmatch(branch)
    if found and found["lesson"] in ids:
        return found["lesson"]
    if branch == lesson_branch(SOLVED) and ids:
        return ids[-1]
    for lesson_id in reversed(ids):
        commit = git.commit_of(f"refs/tags/{lesson_tag(lesson_id)}")
        if commit and git.ok("merge-base", "--is-ancestor", commit, "HEAD"):
            return lesson_id
    return ids[0]


def lesson_start(
    git: Git, lesson_id: str, *, requested: str | None = None
) -> LessonStart:
    """Return the tree `lesson_id` starts from: the base, earlier lessons solved."""
    base = choose_base(git, requested)
    # The steps come from the course as it is at the base, as `course tags`'s do.
    steps = plan_steps(course_at(git, base.commit), solved=False)
    tags = [step.tag for step in steps]
    if lesson_tag(lesson_id) not in tags:
        raise GitError(
            f"The course at {base.label} has no lesson {lesson_id}, so its start"
            " cannot be built. Nothing was changed."
        )
    index = tags.index(lesson_tag(lesson_id))
    try:
        trees = build_trees(git, base, steps[: index + 1], patches_at(git, base.commit))
    except PatchError:
        raise
    except GitError:
        # A student edition ships its lesson tags, not the patches they apply.
        tag = lesson_tag(lesson_id)
        if git.commit_of(f"refs/tags/{tag}") is None:
            raise
        return LessonStart(lesson_id, git.run("rev-parse", f"{tag}^{{tree}}"), base)
    return LessonStart(lesson_id, trees[-1], base)
