"""Make every commit that wrote a table fail, for the on-commit budgets.

A task published before its transaction commits reaches the broker even when
that transaction then fails; one published on commit does not. No clock is
compared: the broker saw the message or it did not.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from psycopg import sql

__all__ = ["commits_refused"]

_REFUSE = """
CREATE FUNCTION public.course_refuse_commit() RETURNS trigger LANGUAGE plpgsql AS
$$ BEGIN RAISE EXCEPTION 'the checker refused this commit'; END $$;
CREATE CONSTRAINT TRIGGER course_refuse_commit
AFTER INSERT ON public.{table} DEFERRABLE INITIALLY DEFERRED
FOR EACH ROW EXECUTE FUNCTION public.course_refuse_commit();
"""
_ALLOW = """
DROP TRIGGER IF EXISTS course_refuse_commit ON public.{table};
DROP FUNCTION IF EXISTS public.course_refuse_commit();
"""


@contextmanager
def commits_refused(connection: Any, table: str) -> Iterator[None]:
    """Fail the commit of any transaction that inserts into `table`, in the block.

    As a serialization failure or a lost connection can.
    """
    name = sql.Identifier(table)
    connection.execute(sql.SQL(_REFUSE).format(table=name))
    try:
        yield
    finally:
        connection.execute(sql.SQL(_ALLOW).format(table=name))
