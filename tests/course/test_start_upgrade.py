"""`course start` on a `.course/` whose PostgreSQL cluster an older server made."""

import json
import os
import shutil
import tempfile
from pathlib import Path

import psycopg
import pytest

from checker.services.layout import Layout
from checker.services.postgres import EmbeddedPostgres, _server_major

# The upgrade is the embedded server's: a pass against external servers
# (DATABASE_URL set, as in CI's second pass) has nothing of it to prove.
pytestmark = pytest.mark.skipif(
    bool(os.environ.get("DATABASE_URL")),
    reason="the embedded PostgreSQL's upgrade; DATABASE_URL names an external one",
)


@pytest.fixture
def old_home(course_env):
    """Give the miniature course an embedded home holding a PostgreSQL 16 cluster.

    The cluster is a data folder whose PG_VERSION says 16, all the version
    check reads; the learner had seeded the tiny set with seed 5.
    """
    home = Path(tempfile.mkdtemp(prefix="course-services-"))
    layout = Layout(home)
    (layout.postgres_data / "base").mkdir(parents=True)
    (layout.postgres_data / "PG_VERSION").write_text("16\n")
    database = f"{layout.run}/shop"
    (home / "seed.json").write_text(
        json.dumps({"scale": "tiny", "seed": 5, "database": database})
    )
    course_env["COURSE_HOME"] = str(home)
    del course_env["DATABASE_URL"]
    yield layout
    EmbeddedPostgres(layout).stop()
    shutil.rmtree(home, ignore_errors=True)


def test_start_moves_an_old_cluster_aside_and_reseeds_the_learners_data_set(
    old_home, course
):
    refused = course("seed", "--scale", "tiny")

    result = course("start")

    assert refused.returncode == 1
    assert "run `make start` (or `course start`)" in refused.stdout
    assert result.returncode == 0, result.stdout + result.stderr
    [backup] = [p for p in old_home.home.iterdir() if p.name.startswith("postgres-")]
    assert (backup / "PG_VERSION").read_text() == "16\n"
    out = " ".join(result.stdout.split())
    assert f"✓ Moved the PostgreSQL 16 cluster aside to {backup} " in out
    assert "✓ Seeded the tiny data set." in out
    with psycopg.connect(host=str(old_home.run), user="postgres", dbname="shop") as c:
        version = c.execute("SHOW server_version_num").fetchone()[0]
        products = c.execute("SELECT count(*) FROM catalog_product").fetchone()[0]
    assert version.startswith(_server_major())
    assert products > 0
