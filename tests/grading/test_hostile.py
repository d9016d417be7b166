"""`course grade` on lesson 1 with a class of hostile submissions, sandboxed.

One run grades every submission of `tests.grading.hostile.CORPUS` beside the
canaries; the tests read its rows and look for harm to the instructor, the
neighbours and the machine.
"""

import csv
import json
import os
import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest

from checker.grading.grade import FIRST_UID
from checker.harness.database import PREFIX
from checker.harness.sandbox import CGROUP_PREFIX, CGROUP_ROOT, enforcement
from checker.harness.shop import sizes_draw
from checker.services import database_url
from tests.grading.conftest import COMMAND, REPO
from tests.grading.hostile import (
    CORPUS,
    EXERCISES,
    MARK,
    MEMORY_MIB,
    OUTPUT_MIB,
    ROLE,
    SEED,
    TIMEOUT,
    hole,
    shop_make,
)
from tests.lessons.conftest import shop_copy

pytestmark = pytest.mark.skipif(
    bool(enforcement()),
    reason="the sandbox cannot be enforced here: " + "; ".join(enforcement()),
)

TRUSTED = REPO / "checker" / "trusted"
# Planted in the instructor's database before the class is graded, so that
# even a machine whose `shop` database was never migrated has rows to lose.
CANARY_TABLE = "hostile_canary"
CANARIES = ("naive", "partial", "solved")
_OWNER = re.compile(r"course run: pid=(\d+) ")
_WRITTEN = ("rewritten by a daemon", "written from a submission")


def _course(folder: Path) -> Path:
    """Write a course of lesson 1 only, with the repository's solutions."""
    manifest = (REPO / "course.toml").read_text()
    start = manifest.index('[[lessons]]\nid = "01"')
    end = manifest.index("[[lessons]]", start + 1)
    folder.mkdir()
    (folder / "course.toml").write_text(manifest[start:end])
    shutil.copytree(REPO / "solutions", folder / "solutions")
    return folder


def _canary_plant() -> None:
    with psycopg.connect(database_url("shop", libpq=True), autocommit=True) as db:
        db.execute(f"DROP TABLE IF EXISTS {CANARY_TABLE}")
        db.execute(f"CREATE TABLE {CANARY_TABLE} AS SELECT generate_series(1, 9) n")


def _instructor_rows() -> dict[str, int]:
    """Count the rows of every table of the instructor's `shop` database."""
    with psycopg.connect(database_url("shop", libpq=True)) as db:
        tables = db.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
        ).fetchall()
        return {
            table: db.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0]
            for (table,) in tables
        }


def _server_names() -> dict[str, str | None]:
    """Return every run role and database with its owner comment, and our roles."""
    pattern = PREFIX.replace("_", r"\_") + "%"
    with psycopg.connect(database_url("postgres", libpq=True)) as db:
        rows = db.execute(
            "SELECT 'role ' || rolname, shobj_description(oid, 'pg_authid')"
            " FROM pg_roles WHERE rolname LIKE %(p)s OR rolname IN (%(r)s, %(h)s)"
            " UNION ALL SELECT 'database ' || datname,"
            " shobj_description(oid, 'pg_database') FROM pg_database"
            " WHERE datname LIKE %(p)s",
            {"p": pattern, "r": ROLE, "h": "hostile_corpus"},
        ).fetchall()
    return dict(rows)


def _pid_alive(pid: int) -> bool:
    return Path(f"/proc/{pid}").exists()


def _cgroups() -> set[str]:
    roots = [CGROUP_ROOT / name for name in ("memory", "pids")]
    if (CGROUP_ROOT / "cgroup.controllers").exists():
        roots = [CGROUP_ROOT]
    found = set()
    for root in roots:
        for directory, children, _ in os.walk(root):
            for child in list(children):
                if child.startswith(CGROUP_PREFIX):
                    children.remove(child)
                    found.add(str(Path(directory, child)))
    return found


def _class_processes() -> list[str]:
    """Return the processes running as a sandbox user, but another live run's.

    Other graders on the machine hand out the same uids; their processes sit
    in a cgroup named after a trusted process that is still running.
    """
    found = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            text = status.read_text()
            groups = (status.parent / "cgroup").read_text()
        except OSError:
            continue
        uid = int(re.search(r"^Uid:\s+(\d+)", text, re.MULTILINE)[1])
        owner = re.search(rf"/{CGROUP_PREFIX}(\d+)-", groups)
        if owner and _pid_alive(int(owner[1])) and int(owner[1]) not in _ours():
            continue
        if FIRST_UID <= uid <= FIRST_UID + len(CORPUS):
            name = re.search(r"^Name:\s+(.*)$", text, re.MULTILINE)[1]
            found.append(f"{status.parent.name} {name} uid={uid}")
    return found


def _ours() -> set[int]:
    """Return nothing: once `course grade` has ended, no trusted process is ours."""
    return set()


def _host_marks() -> list[Path]:
    return [
        *Path(MARK).parent.glob(Path(MARK).name + "*"),
        *(
            p
            for p in (REPO / "hostile.txt", REPO / "checker" / "hostile.py")
            if p.exists()
        ),
    ]


def _trusted_files() -> set[str]:
    return {str(p.relative_to(TRUSTED)) for p in TRUSTED.rglob("*") if p.is_file()}


def _roles_drop() -> None:
    with psycopg.connect(database_url("postgres", libpq=True), autocommit=True) as db:
        for role in (ROLE, "hostile_corpus"):
            db.execute(f"DROP ROLE IF EXISTS {role}")


@dataclass(frozen=True)
class Graded:
    """The finished run, its grades, and what the machine looked like around it."""

    process: subprocess.CompletedProcess[str]
    seconds: float
    out: Path
    rows: dict[str, dict[str, str]]
    students: dict[str, dict[str, Any]]
    before: dict[str, Any]
    after: dict[str, Any]


def _grade_class(
    specs: list[str], *, out: Path, course: Path, timeout: int, memory: int, limit: int
) -> subprocess.CompletedProcess[str]:
    """Run `course grade` on the submissions `specs`, sandboxed, three at a time.

    Many of them wait on a sleep or a timeout, not on the CPU.
    """
    return subprocess.run(
        [
            str(COMMAND), "grade", *specs,
            "--out", str(out),
            "-j", "3",
            "--seed", str(SEED),
            "--timeout", str(timeout),
            "--memory", str(memory),
            "--output", str(OUTPUT_MIB),
            "--course", str(course),
            "--trusted", str(TRUSTED),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=limit,
        env={**os.environ, "COLUMNS": "200"},
    )  # fmt: skip


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """Grade the hostile class once, -j 3, with the seed fixed."""
    folder = tmp_path_factory.mktemp("hostile")
    course = _course(folder / "course")
    specs = []
    for entry in CORPUS:
        root = shop_make(folder / "class" / entry.name, entry.base)
        entry.build(root)
        specs.append(str(root))
    for mark in _host_marks():
        mark.unlink()
    _roles_drop()
    _canary_plant()
    before = {
        "shop": _instructor_rows(),
        "names": _server_names(),
        "cgroups": _cgroups(),
        "trusted": _trusted_files(),
    }
    out = folder / "out"
    started = time.monotonic()
    process = _grade_class(
        specs, out=out, course=course, timeout=TIMEOUT, memory=MEMORY_MIB, limit=40 * 60
    )
    seconds = time.monotonic() - started
    # Killed processes leave /proc a moment after their cgroup is removed.
    deadline = time.monotonic() + 10
    while _class_processes() and time.monotonic() < deadline:
        time.sleep(0.2)
    after = {
        "shop": _instructor_rows(),
        "names": _server_names(),
        "cgroups": _cgroups(),
        "trusted": _trusted_files(),
        "processes": _class_processes(),
        "marks": [str(mark) for mark in _host_marks()],
    }
    with psycopg.connect(database_url("shop", libpq=True), autocommit=True) as db:
        db.execute(f"DROP TABLE IF EXISTS {CANARY_TABLE}")
    rows: dict[str, dict[str, str]] = {}
    students: dict[str, dict[str, Any]] = {}
    if (out / "grades.csv").exists():
        with (out / "grades.csv").open() as handle:
            rows = {row["student"]: row for row in csv.DictReader(handle)}
        document = json.loads((out / "grades.json").read_text())
        students = {s["student"]: s for s in document["students"]}
    yield Graded(process, seconds, out, rows, students, before, after)
    _roles_drop()


def test_the_seed_draws_none_of_the_sizes_answers_were_tuned_for():
    assert not {4, 12} & set(sizes_draw(SEED))


def test_grading_the_hostile_class_finishes_and_exits_0(graded):
    assert graded.process.returncode == 0, graded.process.stdout[-3000:]
    assert f"Graded {len(CORPUS)} submissions" in " ".join(
        graded.process.stdout.split()
    )


def test_the_class_has_thirty_attacks_beside_the_canaries(graded):
    attacks = [entry for entry in CORPUS if entry.name not in CANARIES]

    assert (len(attacks) >= 30, list(graded.rows)) == (
        True,
        [entry.name for entry in CORPUS],
    )


def _row_params() -> list[Any]:
    return [
        pytest.param(
            entry,
            id=entry.name,
            marks=[pytest.mark.xfail(strict=True, reason=reason)]
            if (reason := hole(entry.name))
            else [],
        )
        for entry in CORPUS
    ]


@pytest.mark.parametrize("entry", _row_params())
def test_each_submission_gets_the_row_it_deserves(graded, entry):
    row = graded.rows[entry.name]
    points = tuple(row[exercise] for exercise in EXERCISES)

    assert (points, row["total"], row["max"]) == (
        entry.points,
        str(sum(map(int, entry.points))),
        "23",
    ), row["note"]
    if isinstance(entry.note, str):
        assert row["note"] == entry.note
    else:
        assert entry.note.fullmatch(row["note"]), row["note"]


@pytest.mark.parametrize("name", CANARIES)
def test_every_canary_keeps_each_budget_it_earns_alone(graded, name):
    student = graded.students[name]
    passed = {
        (exercise["id"], budget["budget"])
        for exercise in student["exercises"]
        for budget in exercise["budgets"]
        if budget["passed"]
    }
    earned = {
        "naive": {
            ("01-product-pages", "same-output"),
            ("01-recent-orders", "same-output"),
        },
        "partial": {
            *(("01-product-pages", b) for b in ("list-queries", "detail-queries")),
            *(("01-product-pages", b) for b in ("no-duplicates", "same-output")),
            ("01-recent-orders", "same-output"),
        },
    }

    if name == "solved":
        assert student["points"] == student["max_points"] == 23
    else:
        assert passed == earned[name]


def test_every_run_records_the_fixed_seed(graded):
    seeds = {
        exercise["seed"]
        for student in graded.students.values()
        for exercise in student["exercises"]
        if not student["reason"]
    }

    assert seeds == {SEED}


def test_a_blinded_recorder_is_named_and_the_servers_count_stands(graded):
    budgets = [
        budget
        for exercise in graded.students["blind-recorder"]["exercises"]
        for budget in exercise["budgets"]
    ]
    said = [b["message"] for b in budgets if "the shop's own recorder" in b["message"]]

    assert len(said) == len(budgets), [b["message"][:80] for b in budgets]
    assert (
        "GET /products/: the shop's own recorder reported 0 queries; PostgreSQL "
        "received"
    ) in said[0]


def test_the_instructors_shop_database_is_untouched(graded):
    assert graded.before["shop"][CANARY_TABLE] == 9
    assert graded.after["shop"] == graded.before["shop"]


@pytest.mark.xfail(
    bool(hole("roles")), strict=True, reason=hole("roles") or "not a hole"
)
def test_no_submission_creates_a_role_or_keeps_one(graded):
    made = {
        name
        for name in graded.after["names"]
        if name in {f"role {ROLE}", "role hostile_corpus"}
    }

    assert made == set()


def test_no_run_database_role_or_cgroup_is_left(graded):
    def dead(names: dict[str, str | None]) -> set[str]:
        gone = set()
        for name, comment in names.items():
            owner = _OWNER.match(comment or "")
            if owner and not _pid_alive(int(owner[1])):
                gone.add(name)
        return gone

    left = dead(graded.after["names"]) - dead(graded.before["names"])
    cgroups = {
        path
        for path in graded.after["cgroups"] - graded.before["cgroups"]
        if not _pid_alive(int(Path(path).name.split("-")[1]))
    }

    assert (sorted(left), sorted(cgroups)) == ([], [])


def test_no_process_of_the_class_is_alive_afterwards(graded):
    assert graded.after["processes"] == []


def test_the_trusted_tests_hold_no_file_written_by_a_submission(graded):
    # The course's own authors may add trusted modules meanwhile.
    new = {
        n for n in graded.after["trusted"] - graded.before["trusted"] if "hostile" in n
    }
    written = [
        name
        for name in graded.after["trusted"]
        if any(
            text in (TRUSTED / name).read_text(errors="replace") for text in _WRITTEN
        )
    ]

    assert (sorted(new), written) == ([], [])


def test_the_out_folder_holds_only_what_the_grader_wrote(graded):
    files = sorted(
        str(path.relative_to(graded.out))
        for path in graded.out.rglob("*")
        if path.is_file()
    )
    expected = sorted(
        [
            "grades.csv",
            "grades.json",
            *(
                f"{folder}/{e.name}{suffix}"
                for e in CORPUS
                for folder, suffix in (
                    ("feedback", ".md"),
                    ("feedback", ".html"),
                    ("classroom", ".json"),
                    ("results", ".json"),
                )
            ),
        ]
    )

    assert files == expected
    assert "forged" not in (graded.out / "grades.csv").read_text()


def test_nothing_a_submission_writes_lands_on_the_host(graded):
    assert graded.after["marks"] == []


def test_feedback_shows_no_trusted_source_and_escapes_the_shops_html(graded):
    secrets = [
        line.strip()
        for line in (TRUSTED / "test_lesson_01.py").read_text().splitlines()
        if len(line.strip()) > 30 and not line.strip().startswith(("#", '"', "@"))
    ]
    shown = {
        page.name: [s for s in secrets if s in page.read_text()]
        for page in (graded.out / "feedback").iterdir()
    }
    exfiltrate = (graded.out / "feedback" / "exfiltrate.html").read_text()

    assert {name: found for name, found in shown.items() if found} == {}
    assert (
        "<script>alert(1)</script>" in exfiltrate,
        "&lt;script&gt;" in exfiltrate,
    ) == (
        False,
        True,
    )


# Lesson 9: the relay between Nginx and Gunicorn is the evidence that a request
# reached Django. Each shop below solves the lesson and then tries a way
# around the relay; the honest one only solves it.
DEPLOY_EXERCISES = ("09-nginx", "09-gunicorn")
DEPLOY_TIMEOUT = 300
# Gunicorn's 2 x cores + 1 workers, Nginx and `check --deploy` beside them.
DEPLOY_MEMORY_MIB = 2048
# Nginx passes the static files to a server on loopback and the pages to a
# socket beside the one the course names: both past {{ upstream }}.
_AROUND = """
    location /static/ {
        proxy_pass http://127.0.0.1:8001;
    }
"""
# Nginx answers the pages itself, from a file the shop ships among its static
# files, with the headers Django would have sent.
_FILES = """
    location = /products/ {
        alias {{ static_root }}forged/page.html;
        default_type text/html;
    }
    location = /api/products/ {
        alias {{ static_root }}forged/page.json;
        default_type application/json;
    }
    location = /admin/login/ {
        add_header Strict-Transport-Security "max-age=31536000" always;
        add_header Set-Cookie "csrftoken=forged; Secure; Path=/" always;
        alias {{ static_root }}forged/page.html;
        default_type text/html;
    }
"""
# Gunicorn, once ready, moves the course's relay folder aside and answers in
# its place on a socket of its own: Nginx's path then leads there.
_MOVED = """

def when_ready(server):
    import os
    import socket
    import threading

    relay = os.path.join(os.environ["HOME"], "stack-relay")
    os.rename(relay, relay + "-moved")
    os.mkdir(relay)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(os.path.join(relay, "gunicorn.sock"))
    os.chmod(os.path.join(relay, "gunicorn.sock"), 0o777)
    listener.listen(64)
    page = (
        b"HTTP/1.1 200 OK\\r\\nContent-Type: text/html\\r\\nContent-Length: 2\\r\\n"
        b"Strict-Transport-Security: max-age=31536000\\r\\n"
        b"Set-Cookie: csrftoken=forged; Secure\\r\\nConnection: close\\r\\n\\r\\nok"
    )

    def answer():
        while True:
            connection, _ = listener.accept()
            connection.recv(65536)
            connection.sendall(page)
            connection.close()

    threading.Thread(target=answer, daemon=True).start()
"""


def _deploy_shop(root: Path, build: str) -> Path:
    """Return the naive shop with lesson 9's patches, and the attack `build`."""
    shop_copy(root, [f"solutions/{name}.patch" for name in DEPLOY_EXERCISES])
    nginx = root / "shop_app" / "deploy" / "nginx.conf"
    text = nginx.read_text()
    # The honest HTTPS server block ends with its `location /`; the attacks
    # go in before it.
    anchor = "    location / {\n        proxy_pass http://shop;"
    if build == "around":
        text = text.replace(
            "    server {{ upstream }};",
            "    server {{ upstream }};\n"
            "    server unix:{{ static_root }}../gunicorn.sock;",
        )
        nginx.write_text(text.replace(anchor, _AROUND + "\n" + anchor))
    elif build == "files":
        forged = root / "shop_app" / "catalog" / "static" / "forged"
        forged.mkdir(parents=True)
        (forged / "page.html").write_text("<html><body>" + "forged " * 200 + "</body>")
        (forged / "page.json").write_text('{"results": ["' + "forged " * 200 + '"]}')
        nginx.write_text(text.replace(anchor, _FILES + "\n" + anchor))
    elif build == "moved":
        gunicorn = root / "shop_app" / "deploy" / "gunicorn.conf.py"
        gunicorn.write_text(gunicorn.read_text() + _MOVED)
    return root


@pytest.fixture(scope="module")
def deploy_graded(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    """Grade lesson 9 once, sandboxed, on the honest shop and three attacks."""
    folder = tmp_path_factory.mktemp("hostile-deploy")
    manifest = (REPO / "course.toml").read_text()
    start = manifest.index('[[lessons]]\nid = "09"')
    end = manifest.index("[[lessons]]", start + 1)
    course = folder / "course"
    course.mkdir()
    (course / "course.toml").write_text(manifest[start:end])
    shutil.copytree(REPO / "solutions", course / "solutions")
    builds = ("honest", "around", "files", "moved")
    specs = [str(_deploy_shop(folder / "class" / b, b)) for b in builds]
    out = folder / "out"
    process = _grade_class(
        specs,
        out=out,
        course=course,
        timeout=DEPLOY_TIMEOUT,
        memory=DEPLOY_MEMORY_MIB,
        limit=20 * 60,
    )
    assert process.returncode == 0, process.stdout[-3000:] + process.stderr[-3000:]
    document = json.loads((out / "grades.json").read_text())
    return {
        student["student"]: {
            (exercise["id"], budget["budget"]): budget
            for exercise in student["exercises"]
            for budget in exercise["budgets"]
        }
        for student in document["students"]
    }


def test_the_honest_deployment_earns_every_budget(deploy_graded):
    failed = {
        key: budget["message"]
        for key, budget in deploy_graded["honest"].items()
        if not budget["passed"]
    }

    assert failed == {}


def test_routes_past_the_upstream_fail_every_budget_and_are_named(deploy_graded):
    budgets = deploy_graded["around"]
    message = budgets[("09-nginx", "static")]["message"]

    assert not any(budget["passed"] for budget in budgets.values())
    assert "Nginx would reach the shop by a way the course cannot" in message
    assert "`proxy_pass http://127.0.0.1:8001;` goes somewhere other" in message
    assert "`proxy_pass http://shop;` goes somewhere other" in message


def test_pages_nginx_answers_from_files_never_count(deploy_graded):
    budgets = deploy_graded["files"]
    failed = {key for key, budget in budgets.items() if not budget["passed"]}

    assert failed == {
        *(("09-nginx", b) for b in ("static", "compressed", "redirect", "secure")),
        *(("09-gunicorn", b) for b in ("load", "reload", "check-deploy")),
    }
    for key in failed:
        assert "never passed the course's relay" in budgets[key]["message"]


def test_a_relay_moved_aside_fails_what_rests_on_it(deploy_graded):
    budgets = deploy_graded["moved"]
    failed = {key for key, budget in budgets.items() if not budget["passed"]}
    relayed = {
        *(("09-nginx", b) for b in ("static", "compressed", "redirect", "secure")),
        ("09-nginx", "upload"),
        *(("09-gunicorn", b) for b in ("load", "reload", "check-deploy")),
    }

    assert failed == relayed
    for key in failed:
        message = budgets[key]["message"]
        assert "relay between Nginx and Gunicorn was tampered with" in message
        assert "/home/stack-relay" in message
