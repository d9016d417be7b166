"""The grading task, run by `course grade-worker` on each grading machine.

A task carries one submission's `shop_app/` as a tar.gz, the hash of that
tree and of the instructor's trusted tests, the limits and the seed. It is
acknowledged only once its result is published (acks late), and a worker
that dies puts it back (reject on worker lost, or the broker's redelivery
when the whole machine goes). A task delivered again counts as an attempt
that crashed a worker: it is published anew with the next attempt number,
and past the last attempt its result says so instead of grading again.
Results go to the instructor's reply queue, keyed by student, so a task run
twice is written into the gradebook once.
"""

from __future__ import annotations

import base64
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from celery import Celery, Task

from checker.grading.grade import (
    GradingPlan,
    StudentGrade,
    submission_grade,
    ungraded,
)
from checker.grading.results import grade_dump
from checker.grading.submissions import Submission
from checker.harness.runner import Limits

TASK = "course.grade_submission"
QUEUE_PREFIX = "course-grade"
# Past this many deliveries, a submission that kept killing its worker ends
# in its row with a reason.
ATTEMPTS = 3

# No Django fixup: a worker grades shops apart and imports none of them,
# whatever DJANGO_SETTINGS_MODULE its shell exports.
app = Celery("course-grade", set_as_current=False, fixups=[])


def queue_for(trusted: str) -> str:
    """Return the queue of the tasks graded against trusted tests `trusted`.

    Only workers with the same trusted tests listen to it.
    """
    return f"{QUEUE_PREFIX}.{trusted[:16]}"


def cluster_configure(
    celery: Celery, *, broker: str, queue: str, visibility: float
) -> None:
    """Point `celery` at `broker`, with late acknowledgements and no results."""
    celery.conf.update(
        broker_url=broker,
        broker_connection_retry_on_startup=True,
        # A Redis broker puts back an unacknowledged task after this long:
        # longer than a run, so a live worker's task is not handed out twice.
        broker_transport_options={
            "visibility_timeout": visibility,
            "unacked_restore_interval": 1,
            "unacked_restore_throttle": 1,
        },
        task_serializer="json",
        accept_content=["json"],
        task_ignore_result=True,
        result_backend=None,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_default_queue=queue,
        worker_prefetch_multiplier=1,
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
    )


@dataclass
class WorkerState:
    """What a grading machine grades with: the plan and its tests' hash."""

    plan: GradingPlan
    trusted: str
    run: str


# Set by `course grade-worker` before the pool forks its processes.
WORKER: WorkerState | None = None


def _reply(celery: Celery, task: dict[str, Any], body: dict[str, Any]) -> None:
    with celery.producer_or_acquire() as producer:
        producer.publish(
            {"name": task["name"], "number": task["number"], **body},
            exchange="",
            routing_key=task["reply"],
            serializer="json",
            delivery_mode=2,
            retry=True,
        )


def _ungraded(task: dict[str, Any], reason: str, state: WorkerState) -> dict[str, Any]:
    grade = StudentGrade(
        task["name"],
        task["source"],
        ungraded(state.plan.course.exercises, reason),
        reason=reason,
    )
    return {"kind": "graded", "grade": grade_dump(grade), "digest": task["digest"]}


@app.task(name=TASK, bind=True)
def grade_submission(self: Task, task: dict[str, Any]) -> None:  # type: ignore[type-arg]
    """Grade one submission and publish its result to the reply queue."""
    state = WORKER
    assert state is not None, "course grade-worker sets the worker's state"
    worker = self.request.hostname or "a worker"
    if task["trusted"] != state.trusted:
        _reply(
            self.app,
            task,
            {
                "kind": "refused",
                "worker": worker,
                "reason": f"{worker} refused it: its trusted tests are "
                f"{state.trusted[:12]}, not the instructor's {task['trusted'][:12]}",
            },
        )
        return
    if (self.request.delivery_info or {}).get("redelivered"):
        attempt = int(task["attempt"])
        if attempt >= ATTEMPTS:
            reason = (
                f"a grading worker died while grading it, {attempt} times; "
                "not graded again"
            )
            _reply(self.app, task, {**_ungraded(task, reason, state), "worker": worker})
            return
        self.apply_async(
            args=({**task, "attempt": attempt + 1},),
            queue=str((self.request.delivery_info or {}).get("routing_key")),
        )
        return
    plan = GradingPlan(
        course=state.plan.course.only(",".join(task["lessons"])),
        trusted=state.plan.trusted,
        limits=Limits(*task["limits"]),
        caps=state.plan.caps,
        sandbox=state.plan.sandbox,
        seed=task["seed"],
    )
    with tempfile.TemporaryDirectory(prefix="course-task-") as scratch:
        archive = Path(scratch, f"{task['name']}.tar.gz")
        archive.write_bytes(base64.b64decode(task["archive"]))
        result = submission_grade(
            Submission(archive, None, task["name"]),
            number=int(task["number"]),
            plan=plan,
            run=state.run,
            trusted=state.trusted,
        )
    grade = result.grade
    grade.source = task["source"]
    if result.submission and result.submission != task["digest"]:
        reason = "the archive the worker received differs from the one sent"
        _reply(self.app, task, {**_ungraded(task, reason, state), "worker": worker})
        return
    _reply(
        self.app,
        task,
        {
            "kind": "graded",
            "grade": grade_dump(grade),
            "digest": task["digest"],
            "worker": worker,
        },
    )
