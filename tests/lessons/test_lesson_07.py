"""Lesson 7's budgets that guard a fix can still fail: break a piece of it.

Every patch of lessons 1-7 is applied, then one piece of each lesson 7 fix
is taken out on the scratch copy: the budget that guards it must fail, from
the plans and buffers PostgreSQL reported, saying what broke.
"""

from __future__ import annotations

import re

import pytest

from tests.lessons.conftest import graded_with_breaks

GRADED = ("07-product-list", "07-recent-orders", "07-search")
BREAKS = [
    # The covering index on the approved reviews is never created: each
    # product's count and average read its reviews from the table.
    (
        "shop_app/catalog/migrations/0002_product_review_indexes.py",
        r'^        migrations\.AddIndex\(\n            model_name="review",\n'
        r"(?:.*\n)*?        \),\n",
        "",
    ),
    # The orders' indexes are built by a plain AddIndex, in a transaction.
    (
        "shop_app/orders/migrations/0002_order_indexes.py",
        r"^        AddIndexConcurrently\(",
        "        migrations.AddIndex(",
    ),
    (
        "shop_app/orders/migrations/0002_order_indexes.py",
        r"^    atomic = False\n",
        "",
    ),
    # The foreign key keeps its own index beside the one that leads with its
    # column.
    (
        "shop_app/orders/migrations/0002_order_indexes.py",
        r"^        migrations\.AlterField\(\n(?:.*\n)*?        \),\n",
        "",
    ),
    # The trigram index is built on name itself, which the search's
    # UPPER(name) LIKE cannot use.
    (
        "shop_app/catalog/migrations/0003_product_name_trgm_idx.py",
        r"^                django\.contrib\.postgres\.indexes\.OpClass\(\n"
        r"(?:.*\n)*?                \),\n",
        "",
    ),
    (
        "shop_app/catalog/migrations/0003_product_name_trgm_idx.py",
        r'^                name="product_name_trgm_idx",',
        '                fields=["name"],\n'
        '                opclasses=["gin_trgm_ops"],\n'
        '                name="product_name_trgm_idx",',
    ),
]


@pytest.fixture(scope="module")
def broken_outcomes(tmp_path_factory, grade, course):
    root = tmp_path_factory.mktemp("broken-07")
    return graded_with_breaks(root, grade, course, "07-search", GRADED, BREAKS)


def test_without_the_covering_index_the_product_list_reads_the_reviews_table(
    broken_outcomes,
):
    budgets = broken_outcomes["07-product-list"]

    assert budgets["sort-index"].passed
    message = budgets["buffers"].message
    assert not budgets["buffers"].passed
    assert message.startswith("GET /products/ touched "), message
    assert re.search(
        r"Most of them: [A-Za-z ]+Scan .*?on catalog_review \(", message
    ), message


def test_a_plain_add_index_on_the_orders_is_named_as_postgresql_received_it(
    broken_outcomes,
):
    budgets = broken_outcomes["07-recent-orders"]

    assert budgets["index"].passed and budgets["buffers"].passed
    assert not budgets["concurrently"].passed
    assert re.match(
        r"shop_app/orders/migrations/0002_order_indexes\.py sent PostgreSQL "
        r"CREATE INDEX order_newest_idx ON orders_order \(created_at DESC, id "
        r"DESC\): a CREATE INDEX without CONCURRENTLY on a table that already "
        r"exists, which blocks every write to orders_order until it ends "
        r"\(budget: every index a migration adds to orders_order and "
        r"orders_orderitem built with CREATE INDEX CONCURRENTLY, outside a "
        r"transaction, as the checker saw PostgreSQL receive it while it ran "
        r"your migrations\)\. Build each index",
        budgets["concurrently"].message,
    ), budgets["concurrently"].message


def test_the_foreign_key_s_own_index_kept_beside_the_composite_is_named(
    broken_outcomes,
):
    message = broken_outcomes["07-recent-orders"]["redundant"].message

    assert re.match(
        r"GET /account/orders/ \(a customer with 5 orders\): SELECT .*? ran "
        r"[A-Za-z ]+Scan.*?; orders_order still has orders_order_customer_id_"
        r"[0-9a-f]+, on \(customer_id\) alone.*? \(budget: a customer's orders "
        r"read through an index that leads with customer_id",
        message,
    ), message


def test_a_trigram_index_on_name_is_named_as_unused_by_the_upper_case_search(
    broken_outcomes,
):
    budgets = broken_outcomes["07-search"]

    assert budgets["same-output"].passed
    assert not budgets["buffers"].passed
    message = budgets["trigram-index"].message
    assert not budgets["trigram-index"].passed
    assert re.match(
        r"GET /products/\?q=duct\+\d{4}: SELECT .*? — from shop_app/catalog/"
        r"views\.py:\d+ ran Seq Scan on catalog_product \(1 row\), which read "
        r"[\d,]+ rows of catalog_product to keep 1 \(budget: the matching "
        r"products found through a trigram index, whatever the table holds\)\. "
        r"catalog_product has product_name_trgm_idx \(gin \(name gin_trgm_ops\)\) "
        r"is a trigram index, but not on the UPPER\(name\) the query compares\. "
        r"A B-tree orders",
        message,
    ), message
