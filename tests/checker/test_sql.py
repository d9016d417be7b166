from checker.sql import (
    fetched_columns,
    is_select,
    is_transaction_statement,
    normalise,
    shorten,
    tables,
)

GET_CATEGORY = (
    'SELECT "catalog_category"."id", "catalog_category"."name" '
    'FROM "catalog_category" WHERE "catalog_category"."id" = %s LIMIT 21'
)


def test_normalise_replaces_values_and_unquotes_identifiers():
    assert normalise(GET_CATEGORY) == (
        "SELECT catalog_category.id, catalog_category.name FROM catalog_category "
        "WHERE catalog_category.id = # LIMIT #"
    )


def test_normalise_makes_queries_differing_only_in_values_equal():
    first = "SELECT * FROM t WHERE a = 1 AND b = 'x'"
    second = "select *   from t\n where a = 22 and b = 'it''s'"
    assert normalise(first) == normalise(second)


def test_normalise_folds_in_lists_of_any_length():
    one = normalise('SELECT "t"."id" FROM "t" WHERE "t"."id" IN (%s)')
    three = normalise('SELECT "t"."id" FROM "t" WHERE "t"."id" IN (%s, %s, %s)')
    assert one == three == "SELECT t.id FROM t WHERE t.id IN (#)"


def test_normalise_folds_multi_row_values():
    sql = 'INSERT INTO "t" ("a", "b") VALUES (%s, %s), (%s, %s), (%s, %s)'
    assert normalise(sql) == "INSERT INTO t (a, b) VALUES (#, #)"


def test_normalise_keeps_different_columns_apart():
    assert normalise("SELECT a FROM t WHERE x = 1") != normalise(
        "SELECT a FROM t WHERE y = 1"
    )


def test_fetched_columns_lists_the_outer_select_only():
    sql = (
        'SELECT "b"."id", "b"."title", (SELECT COUNT(*) FROM "t" WHERE "t"."b_id" = '
        '"b"."id") AS "n" FROM "b"'
    )
    assert fetched_columns(sql) == [
        "b.id",
        "b.title",
        "(SELECT COUNT(*) FROM t WHERE t.b_id = b.id) AS n",
    ]


def test_fetched_columns_skips_distinct():
    assert fetched_columns('SELECT DISTINCT "b"."id" FROM "b"') == ["b.id"]


def test_fetched_columns_is_empty_for_writes():
    assert fetched_columns('UPDATE "b" SET "title" = %s') == []


def test_shorten_hides_the_select_list_and_qualifiers_of_a_single_table():
    assert shorten(GET_CATEGORY) == (
        "SELECT ... FROM catalog_category WHERE id = # LIMIT #"
    )


def test_shorten_keeps_a_short_select_list():
    sql = 'SELECT COUNT(*) AS "__count" FROM "b"'
    assert shorten(sql) == "SELECT COUNT(*) AS __count FROM b"


def test_shorten_keeps_qualifiers_when_tables_are_joined():
    sql = (
        'SELECT "b"."id", "a"."name" FROM "b" INNER JOIN "a" ON ("b"."a_id" = '
        '"a"."id") WHERE "a"."id" = %s'
    )
    assert shorten(sql) == (
        "SELECT ... FROM b INNER JOIN a ON (b.a_id = a.id) WHERE a.id = #"
    )


def test_shorten_cuts_long_statements():
    sql = "SELECT a FROM t WHERE " + " AND ".join(f"c{i} = 1" for i in range(40))
    short = shorten(sql, width=60)
    assert len(short) == 60
    assert short.endswith("…")


def test_transaction_statements_are_recognised():
    for sql in ('SAVEPOINT "s1"', 'RELEASE SAVEPOINT "s1"', "BEGIN", "COMMIT"):
        assert is_transaction_statement(sql), sql
    assert not is_transaction_statement(GET_CATEGORY)


def test_is_select_refuses_writes_including_writing_ctes():
    assert is_select(GET_CATEGORY)
    assert is_select("WITH x AS (SELECT 1) SELECT * FROM x")
    assert not is_select("WITH x AS (DELETE FROM t RETURNING id) SELECT * FROM x")
    assert not is_select('UPDATE "t" SET "a" = 1')


def test_tables_lists_each_table_once_in_order():
    sql = 'SELECT * FROM "b" INNER JOIN "a" ON (1 = 1) INNER JOIN "b" ON (1 = 1)'
    assert tables(sql) == ["b", "a"]
