"""How an index was built, read from the statements the migrations sent."""

from checker.trusted.indexes import index_builds

APPLIED = (
    'INSERT INTO "django_migrations" ("app", "name", "applied") VALUES'
    " ('orders', '{}', '2026-12-03 09:41:58+00:00'::timestamptz) RETURNING"
    ' "django_migrations"."id"'
)
# The naive shop's first migration: the table and its foreign key's index in
# one transaction, then the migration recorded.
INITIAL = [
    (0, "BEGIN"),
    (0, 'CREATE TABLE "orders_order" ("id" bigint NOT NULL PRIMARY KEY)'),
    (0, 'CREATE INDEX "orders_order_customer_id_0b76f6a4" ON "orders_order" ("c")'),
    (0, "COMMIT"),
    (0, APPLIED.format("0001_initial")),
]
NEWEST = 'INDEX "order_newest_idx" ON "orders_order" ("created_at" DESC, "id" DESC)'


def test_an_index_made_with_its_table_blocks_no_writes():
    [build] = index_builds(INITIAL)

    assert build.index == "orders_order_customer_id_0b76f6a4"
    assert build.with_table and build.in_transaction
    assert not build.blocks_writes
    assert build.where == "shop_app/orders/migrations/0001_initial.py"


def test_a_plain_create_index_in_a_later_migration_blocks_writes():
    later = [
        (0, "BEGIN"),
        (0, f"CREATE {NEWEST}"),
        (0, "COMMIT"),
        (0, APPLIED.format("0002_order_indexes")),
    ]
    [_, build] = index_builds(INITIAL + later)

    assert build.index == "order_newest_idx" and build.table == "orders_order"
    assert build.blocks_writes and not build.concurrently
    assert build.where == "shop_app/orders/migrations/0002_order_indexes.py"


def test_a_plain_create_index_outside_a_transaction_still_blocks_writes():
    later = [(0, f"CREATE {NEWEST}"), (0, APPLIED.format("0002_order_indexes"))]
    [_, build] = index_builds(INITIAL + later)

    assert not build.in_transaction
    assert build.blocks_writes


def test_a_concurrent_build_outside_a_transaction_blocks_no_writes():
    later = [
        (0, f"CREATE INDEX CONCURRENTLY {NEWEST.removeprefix('INDEX ')}"),
        (0, APPLIED.format("0002_order_indexes")),
    ]
    [_, build] = index_builds(INITIAL + later)

    assert build.concurrently and not build.in_transaction
    assert not build.blocks_writes


def test_a_concurrent_build_inside_a_transaction_block_is_told_apart():
    later = [
        (1, "BEGIN"),
        (1, f"CREATE INDEX CONCURRENTLY {NEWEST.removeprefix('INDEX ')}"),
        (1, "ROLLBACK"),
    ]
    [_, build] = index_builds(INITIAL + later)

    assert build.in_transaction and not build.with_table
    assert build.where == "a statement of no recorded migration"


def test_each_statement_of_a_text_that_holds_several_is_read():
    later = [
        (
            0,
            f"CREATE INDEX CONCURRENTLY IF NOT EXISTS x ON orders_order (id); "
            f"CREATE UNIQUE {NEWEST}",
        )
    ]
    builds = index_builds(INITIAL + later)

    assert [(b.index, b.concurrently) for b in builds[1:]] == [
        ("x", True),
        ("order_newest_idx", False),
    ]
    assert builds[2].blocks_writes


def test_an_index_made_in_another_connection_s_transaction_is_not_with_its_table():
    # The table's transaction is open on connection 0; connection 1 is not in it.
    statements = [
        (0, "BEGIN"),
        (0, 'CREATE TABLE "orders_order" ("id" bigint NOT NULL PRIMARY KEY)'),
        (1, "BEGIN"),
        (1, f"CREATE {NEWEST}"),
    ]
    [build] = index_builds(statements)

    assert build.in_transaction and not build.with_table
    assert build.blocks_writes
