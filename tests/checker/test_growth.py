import pytest

from checker.growth import measure_growth
from tests.checker_testapp.data import library_create
from tests.checker_testapp.models import Book

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.checker_testapp.urls")]


def _growth(client, path):
    return measure_growth(
        lambda n: library_create(books=n),
        lambda: client.get(path),
        sizes=(3, 8),
        noun="books",
        label=f"GET {path}",
    )


def test_query_count_growing_with_the_rows_is_reported(client):
    growth = _growth(client, "/loop/naive/")

    assert growth.counts == (4, 9)
    assert growth.grows
    assert growth.per_row == 1
    assert growth.verdict == "grows with the number of books (~1 per row)"
    [(group, before)] = growth.grown_groups()
    assert (str(group.access), group.count, before) == ("Book.author", 8, 3)


def test_constant_query_count_is_reported_constant(client):
    growth = _growth(client, "/loop/fixed/")

    assert growth.counts == (1, 1)
    assert not growth.grows
    assert growth.verdict == "constant in the number of books"
    assert growth.grown_groups() == []


def test_each_size_runs_on_its_own_data_and_is_rolled_back(client):
    seen = []
    measure_growth(
        lambda n: library_create(books=n),
        lambda: seen.append(Book.objects.count()),
        sizes=(2, 5),
    )

    assert seen == [2, 5]
    assert Book.objects.count() == 0


def test_sizes_must_grow():
    with pytest.raises(ValueError, match=r"sizes must grow, got \(5, 5\)"):
        measure_growth(lambda n: None, lambda: None, sizes=(5, 5))


def test_growth_serialises_both_runs(client):
    data = _growth(client, "/reverse/naive/").to_dict()

    assert (data["counts"], data["grows"], data["sizes"]) == ([4, 9], True, [3, 8])
    assert data["grown"][0]["via"] == "Author.books"
    assert len(data["runs"]) == 2
