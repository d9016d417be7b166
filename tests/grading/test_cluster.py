"""`course grade --broker` on a cluster: a broker, three `course grade-worker`
processes with services of their own, one killed mid-run, a submission that
kills its worker each time, and the gradebook of a local run."""

import contextlib
import csv
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

import psutil
import pytest
from kombu import Connection, Queue

from checker.grading.results import FOLDER, trusted_digest
from checker.grading.tasks import TASK, queue_for
from checker.services.layout import Layout
from checker.services.postgres import EmbeddedPostgres
from checker.services.redis import EmbeddedRedis
from tests.grading.conftest import COMMAND, REPO, run_course, shop_copy, shop_solve

pytestmark = [pytest.mark.services, pytest.mark.cluster]

LIMITS = ("--timeout", "20", "--memory", "1024", "--output", "16")
# Longer than a run of the fixture course, so a live worker keeps its task.
VISIBILITY = "15"
POISON = "poison"
CRASHED = "a grading worker died while grading it, 3 times; not graded again"


@pytest.fixture(scope="module")
def broker(tmp_path_factory):
    """Return a broker URL: the external RabbitMQ when set, else a Redis of its own."""
    external = os.environ.get("CELERY_BROKER_URL", "")
    if external.startswith("amqp://"):
        yield external
        return
    layout = Layout(tmp_path_factory.mktemp("broker"))
    redis = EmbeddedRedis(layout)
    redis.start()
    yield f"redis+socket://{layout.redis_socket}?virtual_host=0"
    redis.stop()


def _machine_down(layout):
    """Stop a worker's own servers, even where service URLs point elsewhere."""
    EmbeddedRedis(layout).stop()
    EmbeddedPostgres(layout).stop()


def _worker(home, broker, course_args, name, logs):
    """Start `course grade-worker` as a machine of its own: its own services."""
    env = {**os.environ, "COLUMNS": "200"}
    # Separate machines: no external service URLs, embedded ones in `home`.
    for key in ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "CACHE_KEY_PREFIX"):
        env.pop(key, None)
    env["COURSE_HOME"] = str(home)
    log = (logs / f"{name}.log").open("w")
    return subprocess.Popen(
        [str(COMMAND), "grade-worker", "--broker", broker, "--name", f"{name}@test",
         "--visibility", VISIBILITY, "--loglevel", "INFO", *map(str, course_args)],
        cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip


def _graded(process):
    """Return the names of the submissions `process`'s pool is grading now."""
    names = []
    for child in psutil.Process(process.pid).children(recursive=True):
        try:
            database = urlsplit(child.environ().get("DATABASE_URL", "")).path
            if "pytest" in " ".join(child.cmdline()) and "/grade_" in database:
                names.append((child, database.rpartition("_")[2]))
        except psutil.Error:
            continue
    return names


def _size(broker):
    """Return the class size: 20 on Redis; on RabbitMQ, in CI's second pass, 5.

    The first pass proves the class of 20; the second proves RabbitMQ's
    redelivery, which needs no more than a few submissions.
    """
    return 5 if broker.startswith("amqp://") else 20


def _class(folder, size):
    """Build `size` submissions (naive, solved, broken), a refused one and the
    poison one."""
    specs = []
    for number in range(1, size + 1):
        root = shop_copy(folder / f"s{number:02d}")
        if number % 3 == 1:
            shop_solve(root)
        elif number % 3 == 2:
            (root / "shop_app" / "catalog" / "selectors.py").write_text("def (:\n")
        specs.append(str(root))
    (folder / "notzip.zip").write_text("not an archive\n")
    specs.append(str(folder / "notzip.zip"))
    specs.append(str(shop_copy(folder / POISON)))
    return specs


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, broker, course_args):
    """Grade the class on three workers, killing one and the poison's runs."""
    folder = tmp_path_factory.mktemp("cluster")
    specs = _class(folder / "class", _size(broker))
    # The embedded PostgreSQL runs as a user of its own when started as root,
    # and pytest's folders are the grader's alone.
    machines = Path(tempfile.mkdtemp(prefix="course-cluster-"))
    machines.chmod(0o755)
    homes = [machines / f"machine{n}" for n in (1, 2, 3)]
    workers = [
        _worker(home, broker, course_args, f"w{n}", folder)
        for n, home in enumerate(homes, start=1)
    ]
    out = folder / "grades"
    log = (folder / "instructor.log").open("w")
    instructor = subprocess.Popen(
        [str(COMMAND), "grade", *specs, "--out", str(out), "--broker", broker,
         "--visibility", VISIBILITY, *LIMITS, *map(str, course_args)],
        cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
        env={**os.environ, "COLUMNS": "200"},
    )  # fmt: skip
    killed, poisoned = None, 0
    deadline = time.monotonic() + 240
    try:
        while instructor.poll() is None and time.monotonic() < deadline:
            if all(worker.poll() is not None for worker in workers):
                break
            done = len(list((out / FOLDER).glob("*.json"))) if out.exists() else 0
            for number, worker in enumerate(workers, start=1):
                if worker.poll() is not None:
                    continue
                for child, name in _graded(worker):
                    if name == POISON:
                        # The poison kills the pool process grading it.
                        with_pool = child.parent()
                        os.killpg(child.pid, signal.SIGKILL)
                        with_pool.kill()
                        poisoned += 1
                    elif killed is None and done >= min(3, len(specs) // 4):
                        # Once some grades are in, the first machine seen with
                        # a submission in hand dies: in a class of 5 the
                        # first machine may never hold one after the third.
                        os.killpg(worker.pid, signal.SIGKILL)
                        os.killpg(child.pid, signal.SIGKILL)
                        killed = (name, f"w{number}@test")
                        break
            time.sleep(0.1)
    finally:
        if instructor.poll() is None:
            instructor.kill()
            instructor.wait()
        for worker in workers:
            if worker.poll() is None:
                worker.send_signal(signal.SIGTERM)
                try:
                    worker.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    os.killpg(worker.pid, signal.SIGKILL)
        for home in homes:
            _machine_down(Layout(home))
        shutil.rmtree(machines, ignore_errors=True)
    output = (folder / "instructor.log").read_text()
    return folder, specs, out, instructor.returncode, output, killed, poisoned


@pytest.fixture(scope="module")
def local(cluster, course_args):
    """Return the gradebook a local `course grade` gives the class, but the poison.

    The class holds copies of three shops and a refused archive: the local run
    grades one of each (s01 solved, s02 broken, s03 naive, notzip), and each
    copy's row is its original's under the copy's name.
    """
    folder, specs, *_ = cluster
    out = folder / "local"
    originals = [*specs[:3], specs[-2]]
    process = run_course(
        "grade", *originals, "--out", out, "-j", "2", *LIMITS, *course_args
    )
    assert process.returncode == 0, process.stdout + process.stderr
    header, *rows = _rows(out / "grades.csv")
    graded = {row[0]: row for row in rows}
    expected = [header]
    for spec in specs[:-1]:
        name = Path(spec).name.removesuffix(".zip")
        original = name if name == "notzip" else f"s{(int(name[1:]) - 1) % 3 + 1:02d}"
        expected.append([name, *graded[original][1:]])
    return expected


def _rows(path):
    with path.open() as handle:
        return list(csv.reader(handle))


def test_the_instructor_finishes_once_every_submission_has_its_row(cluster, broker):
    _, specs, out, returncode, output, *_ = cluster

    assert returncode == 0, output
    assert len(specs) == _size(broker) + 2
    assert [row[0] for row in _rows(out / "grades.csv")[1:]] == [
        Path(spec).name.removesuffix(".zip") for spec in specs
    ]


def test_a_killed_workers_submission_is_graded_by_another_worker(cluster):
    _, _, out, _, _, killed, _ = cluster

    assert killed is not None, "no worker was killed mid-run"
    name, worker = killed
    stored = json.loads((out / FOLDER / f"{name}.json").read_text())
    assert stored["worker"] in {"w1@test", "w2@test", "w3@test"} - {worker}
    assert stored["grade"]["exercises"][0]["budgets"], stored


def test_a_submission_that_kills_its_worker_each_time_ends_with_a_reason(cluster):
    _, _, out, _, _, _, poisoned = cluster
    rows = {row[0]: row for row in _rows(out / "grades.csv")}

    assert poisoned == 3
    assert rows[POISON][1:] == ["0", "0", "0", "6", CRASHED]


def test_the_gradebook_equals_that_of_a_local_run(cluster, local):
    _, _, out, *_ = cluster

    assert _rows(out / "grades.csv")[:-1] == local


def test_a_worker_refuses_a_task_whose_trusted_tests_differ(
    tmp_path, broker, course_args, fixture_course
):
    trusted = shutil.copytree(fixture_course / "trusted", tmp_path / "trusted")
    module = trusted / "grade_fx_quotes.py"
    module.write_text(module.read_text() + "\n# Another instructor's edit.\n")
    theirs = trusted_digest(course_root=fixture_course, trusted=trusted)
    ours = trusted_digest(
        course_root=fixture_course, trusted=fixture_course / "trusted"
    )
    machine = Path(tempfile.mkdtemp(prefix="course-cluster-"))
    machine.chmod(0o755)
    options = ["--course", fixture_course, "--trusted", trusted]
    worker = _worker(machine / "home", broker, options, "other", tmp_path)
    replies = Queue(f"course-grade-test-replies.{ours[:8]}", durable=True)
    try:
        with Connection(broker) as conn:
            replies.bind(conn.default_channel).declare()
            replies.bind(conn.default_channel).purge()
            task = {
                "name": "alice",
                "number": 1,
                "trusted": ours,
                "reply": replies.name,
            }
            # Sent to the other tests' queue by hand: our own never goes there.
            conn.Producer().publish(
                {"task": TASK, "id": "refusal-test", "args": [task], "kwargs": {}},
                routing_key=queue_for(theirs),
                exchange="",
                serializer="json",
                headers={"task": TASK, "id": "refusal-test", "lang": "py"},
                declare=[Queue(queue_for(theirs), durable=True)],
            )
            got = []
            with conn.Consumer(
                replies, callbacks=[lambda b, m: (got.append(b), m.ack())]
            ):
                deadline = time.monotonic() + 60
                while not got and time.monotonic() < deadline:
                    with contextlib.suppress(TimeoutError):
                        conn.drain_events(timeout=1)
            replies.bind(conn.default_channel).delete()
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=30)
        _machine_down(Layout(machine / "home"))
        shutil.rmtree(machine, ignore_errors=True)

    [body] = got
    assert (body["kind"], body["name"]) == ("refused", "alice")
    assert body["reason"] == (
        f"other@test refused it: its trusted tests are {theirs[:12]}, not the "
        f"instructor's {ours[:12]}"
    )
