"""Every recorder keeps one contract, the engine imports in one direction, and
"which project line ran this" is answered by origins for every recorder."""

import ast
import json
import sys
from pathlib import Path

import pytest
from django.core.cache import cache

from checker.cache import CacheRecorder
from checker.origins import call_site
from checker.queries import QueryRecorder
from checker.recorders import Recorder
from checker.resources import ResourceRecorder
from checker.tasks import TaskRecorder
from tests.checker_testapp.models import Book
from tests.checker_testapp.tasks import add

CHECKER = Path(__file__).resolve().parents[2] / "checker"


@pytest.mark.django_db
@pytest.mark.parametrize(
    "recorder",
    [
        QueryRecorder(),
        CacheRecorder(cross_check=False),
        TaskRecorder(),
        ResourceRecorder(memory=False),
    ],
    ids=lambda recorder: type(recorder).__name__,
)
def test_every_recorder_records_a_with_block_as_plain_json(recorder):
    with recorder as entered:
        list(Book.objects.all())
        cache.get("contract-key")
        add(1, 2)

    assert isinstance(recorder, Recorder)
    assert entered is recorder
    data = recorder.to_dict()
    assert json.loads(json.dumps(data)) == data


def _imports(path: Path) -> set[str]:
    # Every import counts, those inside functions and under TYPE_CHECKING too:
    # a circle hidden in a function is still a circle.
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def _engine_graph() -> dict[str, set[str]]:
    # The engine's own modules: the flat top of checker/ and cache/.
    paths = [*CHECKER.glob("*.py"), *(CHECKER / "cache").glob("*.py")]
    modules = {}
    for path in paths:
        parts = path.relative_to(CHECKER.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        modules[name] = path
    return {
        name: {m for m in _imports(path) if m in modules and m != name}
        for name, path in modules.items()
    }


def _circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Return the import circles in a graph, each from its first module."""
    found = []
    for start in sorted(graph):
        pending = [(start, [start])]
        while pending:
            module, path = pending.pop()
            for imported in sorted(graph.get(module, ())):
                if imported == start:
                    found.append([*path, start])
                elif imported not in path and imported > start:
                    pending.append((imported, [*path, imported]))
    return found


def test_the_circle_finder_finds_a_circle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}

    assert _circles(graph) == [["a", "b", "c", "a"]]


def test_no_engine_module_imports_a_module_that_imports_it_back():
    graph = _engine_graph()

    assert "checker.receipts" in graph["checker.measure"]
    assert _circles(graph) == []


def _here() -> str:
    return f"tests/checker/test_recorders.py:{sys._getframe(1).f_lineno}"


def test_call_site_is_the_first_line_under_the_project_roots(settings):
    settings.CHECKER_PROJECT_ROOTS = ["tests/checker"]

    assert call_site() == _here()


def test_call_site_is_none_outside_the_project_roots(settings):
    settings.CHECKER_PROJECT_ROOTS = ["shop_app"]

    assert call_site() is None
