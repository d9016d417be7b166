"""Grade a class on Celery workers: publish a task per submission, collect results.

The instructor's `course grade --broker URL` unpacks each submission as a
local run does (so a refused one gets the same reason without leaving the
machine), keeps what `--resume` may keep, and publishes the rest, each as an
archive of its `shop_app/`, to the queue of its trusted tests' hash. Results
arrive on a durable reply queue named after the grading folder: each is
stored, then acknowledged, so an instructor interrupted loses none, and the
first result of a student is the one kept.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import tarfile
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kombu import Message, Queue
from rich.console import Console

from checker.grading.grade import (
    GradingPlan,
    StudentGrade,
    class_submissions,
    grading_progress,
    submission_grade,
    ungraded,
)
from checker.grading.results import (
    StoredResult,
    grade_load,
    result_read,
    result_write,
    results_clear,
    reusable,
    tree_digest,
    trusted_digest,
)
from checker.grading.submissions import Submission, submission_unpack
from checker.grading.tasks import TASK, app, cluster_configure, queue_for

# Long enough for a run at the default limit of 600 s to finish twice over.
VISIBILITY = 1800.0


def _reset(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
    if "__pycache__" in info.name.split("/") or info.name.endswith(".pyc"):
        return None
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.mtime = 0
    return info


def submission_pack(root: Path) -> bytes:
    """Return the unpacked submission in `root` as a tar.gz of `shop_app/`."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as bundle:
        bundle.add(root / "shop_app", arcname="shop_app", filter=_reset)
    return buffer.getvalue()


def reply_queue(out: Path, trusted: str) -> str:
    """Return the reply queue of a grading folder: the same when resumed."""
    key = hashlib.sha256(f"{out.resolve()}\0{trusted}".encode()).hexdigest()
    return f"course-grade-results.{key[:16]}"


@dataclass
class _Pending:
    number: int
    submission: Submission
    digest: str


def _prepare(
    submission: Submission, *, number: int, plan: GradingPlan, trusted: str
) -> tuple[StoredResult | None, bytes, str]:
    """Return a result already decided here, or the archive and its hash."""
    with tempfile.TemporaryDirectory(prefix="course-pack-") as scratch:
        try:
            root = submission_unpack(submission, scratch=Path(scratch), caps=plan.caps)
        except Exception:
            # Refused, or failed, as a local run refuses it, with its reason.
            return (
                submission_grade(
                    submission, number=number, plan=plan, run="", trusted=trusted
                ),
                b"",
                "",
            )
        return None, submission_pack(root), tree_digest(root)


def grade_class_on_workers(
    specs: Sequence[str],
    *,
    plan: GradingPlan,
    broker: str,
    out: Path,
    ref: str | None = None,
    console: Console | None = None,
    resume: bool = False,
    visibility: float = VISIBILITY,
) -> list[StudentGrade]:
    """Grade `specs` on the workers of `broker`; return grades in the given order."""
    console = console or Console()
    submissions = class_submissions(specs, ref=ref)
    trusted = trusted_digest(course_root=plan.course.root, trusted=plan.trusted)
    queue = queue_for(trusted)
    cluster_configure(app, broker=broker, queue=queue, visibility=visibility)
    if not resume:
        results_clear(out)
    grades: dict[int, StudentGrade] = {}
    pending: dict[str, _Pending] = {}
    replies = Queue(reply_queue(out, trusted), durable=True, auto_delete=False)
    tasks = Queue(queue, durable=True)
    with grading_progress(console) as progress, app.connection_for_write() as conn:
        bar = progress.add_task("", total=len(submissions))
        replies.bind(conn.default_channel).declare()
        tasks.bind(conn.default_channel).declare()
        for number, submission in enumerate(submissions, start=1):
            decided, archive, digest = _prepare(
                submission, number=number, plan=plan, trusted=trusted
            )
            known = result_read(out, submission.name) if resume else None
            exercises = [e.id for e in plan.course.exercises]
            if known is not None and reusable(known, digest, trusted, exercises):
                decided = known
            if decided is not None:
                result_write(out, decided)
                grades[number] = decided.grade
                progress.update(bar, advance=1, description=submission.name)
                continue
            pending[submission.name] = _Pending(number, submission, digest)
            app.send_task(
                TASK,
                args=[
                    {
                        "name": submission.name,
                        "number": number,
                        "source": submission.label,
                        "archive": base64.b64encode(archive).decode(),
                        "digest": digest,
                        "trusted": trusted,
                        "attempt": 1,
                        "reply": replies.name,
                        "limits": [
                            plan.limits.seconds,
                            plan.limits.memory_mib,
                            plan.limits.output_mib,
                        ],
                        "seed": plan.seed,
                        "lessons": [lesson.id for lesson in plan.course.lessons],
                    }
                ],
                queue=queue,
                connection=conn,
            )
        if pending:
            console.print(
                f"Published {len(pending)} submissions to {queue}; waiting for "
                f"`course grade-worker` processes with trusted tests {trusted[:12]}."
            )

        def received(body: dict[str, Any], message: Message) -> None:
            entry = pending.get(str(body.get("name")))
            if entry is None or body.get("digest", entry.digest) != entry.digest:
                message.ack()  # a second result of one student, or a stale one
                return
            if body["kind"] == "refused":
                # Only a task sent to the wrong queue meets other trusted tests.
                console.print(f"[yellow]{body['reason']}[/]")
                grade = StudentGrade(
                    entry.submission.name,
                    entry.submission.label,
                    ungraded(plan.course.exercises, body["reason"]),
                    reason=body["reason"],
                )
            else:
                grade = grade_load(body["grade"])
            worker = str(body.get("worker", ""))
            result_write(out, StoredResult(grade, entry.digest, trusted, worker))
            message.ack()
            del pending[grade.name]
            grades[entry.number] = grade
            progress.update(
                bar,
                advance=1,
                description=f"{grade.name}: {grade.points}/{grade.max_points}"
                f" on {worker or 'a worker'}",
            )

        with conn.Consumer(replies, callbacks=[received], accept=["json"]):
            while pending:
                # A second's timeout lets Ctrl-C through between messages.
                with contextlib.suppress(TimeoutError):
                    conn.drain_events(timeout=1)
    return [grades[number] for number in sorted(grades)]
