"""Measurements built from what the server received, attributed by the shop."""

import pytest

from checker.harness.evidence import measurement_from_evidence
from checker.harness.shop import ShopError, _reads_only, sizes_draw

CATEGORY = "SELECT id, name FROM catalog_category WHERE id = {} LIMIT 21"
REPORTED_CATEGORY = {
    "sql": "SELECT id, name FROM catalog_category WHERE id = %s LIMIT 21",
    "frame": None,
    "template": ["shop_app/templates/catalog/product_list.html", 15, True],
    "access": {"model": "Product", "field": "category", "relation": "forward"},
}


def _received(*texts):
    return [(text, ()) for text in texts]


def test_the_servers_statements_are_counted_and_lent_the_shops_origins():
    measurement = measurement_from_evidence(
        "GET /products/",
        _received("BEGIN", CATEGORY.format(1), CATEGORY.format(2), "COMMIT"),
        [REPORTED_CATEGORY, REPORTED_CATEGORY],
    )

    [group] = measurement.similar()
    assert measurement.query_count == 2
    assert str(group.origin) == "shop_app/templates/catalog/product_list.html:15"
    assert group.fix() == 'Try select_related("category").'
    assert measurement.disagreement == ""


def test_queries_the_shop_hid_from_its_report_count_and_the_feedback_says_so():
    measurement = measurement_from_evidence(
        "GET /products/",
        _received(CATEGORY.format(1), CATEGORY.format(2), CATEGORY.format(3)),
        [],
    )

    assert measurement.query_count == 3
    assert all(query.access is None for query in measurement.statements)
    assert measurement.disagreement == (
        "GET /products/: the shop's own recorder reported 0 queries; "
        "PostgreSQL received 3, and that count stands."
    )


def test_queries_the_shop_invented_count_for_nothing():
    measurement = measurement_from_evidence(
        "GET /products/", _received(CATEGORY.format(1)), [REPORTED_CATEGORY] * 5
    )

    assert measurement.query_count == 1
    assert "reported 5 queries; PostgreSQL received 1" in measurement.disagreement


def test_a_streamed_queryset_is_one_query_whatever_its_fetches():
    cursor = '"_django_curs_1_sync_1"'
    measurement = measurement_from_evidence(
        "GET /exports/order-items.csv",
        _received(
            f"DECLARE {cursor} NO SCROLL CURSOR WITHOUT HOLD FOR "
            "SELECT id FROM orders_orderitem",
            f"FETCH FORWARD 2000 FROM {cursor}",
            f"FETCH FORWARD 2000 FROM {cursor}",
            f"CLOSE {cursor}",
        ),
        [{"sql": "SELECT id FROM orders_orderitem", "frame": None,
          "template": None, "access": None}],
    )  # fmt: skip

    assert [query.sql for query in measurement.statements] == [
        "SELECT id FROM orders_orderitem"
    ]
    assert measurement.disagreement == ""


def test_a_new_connections_time_zone_setup_is_not_a_query_of_the_page():
    measurement = measurement_from_evidence(
        "GET /", _received("SELECT set_config('TimeZone', 'UTC', false)"), []
    )

    assert measurement.query_count == 0


def test_django_contrib_postgres_type_lookups_on_a_new_connection_are_not_counted():
    measurement = measurement_from_evidence(
        "GET /",
        _received(
            "SELECT oid, typarray FROM pg_type WHERE typname = 'hstore'",
            "SELECT oid, typarray FROM pg_type WHERE typname = 'citext'",
        ),
        [
            {"sql": text, "frame": None, "template": None, "access": None}
            for text in (
                "SELECT oid, typarray FROM pg_type WHERE typname = 'hstore'",
                "SELECT oid, typarray FROM pg_type WHERE typname = 'citext'",
            )
        ],
    )

    assert measurement.query_count == 0
    assert measurement.disagreement == ""


def test_a_page_that_reads_the_type_catalog_itself_still_counts_that_query():
    measurement = measurement_from_evidence(
        "GET /",
        _received("SELECT oid, typarray FROM pg_type WHERE typname = 'circle'"),
        [],
    )

    assert measurement.query_count == 1


def test_a_page_that_deletes_rows_while_it_reads_is_refused():
    measurement = measurement_from_evidence(
        "GET /products/",
        _received("DELETE FROM catalog_product WHERE id > 4", CATEGORY.format(1)),
        [],
    )

    with pytest.raises(ShopError) as refused:
        _reads_only("GET /products/", measurement)

    assert str(refused.value) == (
        "GET /products/ changed the database (DELETE FROM catalog_product WHERE "
        "id > #): a page that shows data must not write it"
    )


def test_a_page_may_save_its_session_while_it_reads():
    measurement = measurement_from_evidence(
        "GET /products/",
        _received(
            'UPDATE "django_session" SET "expire_date" = \'2026-01-01\' '
            "WHERE \"session_key\" = 'x'",
            CATEGORY.format(1),
        ),
        [],
    )

    _reads_only("GET /products/", measurement)


def test_data_sizes_grow_and_come_back_with_the_same_seed():
    drawn = {sizes_draw(seed) for seed in range(50)}

    assert sizes_draw(7) == sizes_draw(7)
    assert len(drawn) > 10
    assert all(first < second < third for first, second, third in drawn)
