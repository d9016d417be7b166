"""Normalise SQL so similar statements group together, and read SELECT lists."""

from __future__ import annotations

import re
from functools import lru_cache

from sqlparse import lexer
from sqlparse import tokens as T

__all__ = [
    "fetched_columns",
    "is_select",
    "is_transaction_statement",
    "normalise",
    "shorten",
    "tables",
]

_TRANSACTION_WORDS = (
    "BEGIN",
    "COMMIT",
    "ROLLBACK",
    "SAVEPOINT",
    "RELEASE",
    "START TRANSACTION",
    "END",
    "SET TRANSACTION",
)
_SHORT_LIST = 24
_IN_LIST = re.compile(r"\bIN \(#(?:, #)+\)")
_VALUES_ROWS = re.compile(r"\((#(?:, #)*)\)(?:, \(\1\))+")
_QUALIFIED = re.compile(r"\b[A-Za-z_][\w$]*\.([A-Za-z_][\w$]*)")
_FROM_TABLE = re.compile(r"\b(?:FROM|JOIN|UPDATE|INTO)\s+\"?([A-Za-z_][\w$]*)\"?")


@lru_cache(maxsize=4096)
def is_transaction_statement(sql: str) -> bool:
    """Tell whether the statement only controls a transaction or savepoint."""
    head = sql.lstrip()[:20].upper()
    return head.startswith(_TRANSACTION_WORDS)


def is_select(sql: str) -> bool:
    """Tell whether the statement only reads (a SELECT, or EXPLAIN-able WITH)."""
    head = sql.lstrip()[:7].upper()
    if head.startswith("SELECT"):
        return True
    if head.startswith("WITH"):
        normalised = normalise(sql)
        return not re.search(r"\b(INSERT|UPDATE|DELETE|MERGE)\b", normalised)
    return False


def _token_text(ttype: object, value: str) -> str:
    if ttype in T.Name.Placeholder or ttype in T.Literal.Number:
        return "#"
    if ttype in T.Literal.String.Single:
        return "#"
    if ttype in T.Literal.String.Symbol:
        return value.strip('"')
    if ttype in T.Keyword:
        return value.upper()
    return value


@lru_cache(maxsize=4096)
def normalise(sql: str) -> str:
    """Return the statement with literals and placeholders as `#`, lists folded.

    Identifiers lose their quotes, whitespace collapses to single spaces, and
    `IN (#, #, #)` or multi-row `VALUES` fold to one item, so that queries
    differing only in their values or list lengths compare equal.
    """
    parts: list[str] = []
    for ttype, value in lexer.tokenize(sql):  # type: ignore[no-untyped-call]
        if ttype in T.Whitespace or ttype in T.Newline or ttype in T.Comment:
            if parts and parts[-1] != " ":
                parts.append(" ")
            continue
        parts.append(_token_text(ttype, value))
    text = "".join(parts).strip()
    text = _IN_LIST.sub("IN (#)", text)
    return _VALUES_ROWS.sub(r"(\1)", text)


def _split_top_level(sql: str) -> tuple[str, str, str] | None:
    """Split a normalised SELECT into (head, select list, rest) at depth 0."""
    depth = 0
    start = end = -1
    for match in re.finditer(r"\(|\)|\bSELECT\b|\bFROM\b", sql):
        word = match.group()
        if word == "(":
            depth += 1
        elif word == ")":
            depth -= 1
        elif depth == 0 and word == "SELECT" and start < 0:
            start = match.end()
        elif depth == 0 and word == "FROM" and start >= 0:
            end = match.start()
            break
    if start < 0:
        return None
    if end < 0:
        return sql[:start], sql[start:], ""
    return sql[:start], sql[start:end], sql[end:]


def _split_commas(text: str) -> list[str]:
    items: list[str] = []
    depth = 0
    current: list[str] = []
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            items.append("".join(current).strip())
            current = []
        else:
            current.append(char)
    if "".join(current).strip():
        items.append("".join(current).strip())
    return items


@lru_cache(maxsize=4096)
def _fetched_columns(sql: str) -> tuple[str, ...]:
    split = _split_top_level(normalise(sql))
    if split is None:
        return ()
    select_list = re.sub(r"^\s*DISTINCT(?: ON \(.*?\))?\s+", "", split[1])
    return tuple(_split_commas(select_list))


def fetched_columns(sql: str) -> list[str]:
    """Return the items of the outermost SELECT list, e.g. `book.title`."""
    return list(_fetched_columns(sql))


def tables(sql: str) -> list[str]:
    """Return the tables named after FROM, JOIN, UPDATE or INTO, in order."""
    seen: dict[str, None] = {}
    for name in _FROM_TABLE.findall(sql):
        seen.setdefault(name, None)
    return list(seen)


def _is_short_list(select_list: str) -> bool:
    return (
        len(select_list.strip()) <= _SHORT_LIST and len(_split_commas(select_list)) == 1
    )


@lru_cache(maxsize=4096)
def shorten(sql: str, width: int = 120) -> str:
    """Return a one-line digest: SELECT list as `...`, columns unqualified.

    Qualifiers are dropped only when the statement reads a single table, so
    the digest stays unambiguous for joins.
    """
    text = normalise(sql)
    split = _split_top_level(text)
    # A short SELECT list such as `COUNT(*) AS __count` says more than `...`.
    if split is not None and split[2] and not _is_short_list(split[1]):
        text = f"{split[0]} ... {split[2]}"
    if " JOIN " not in text:
        head, _, rest = text.partition(" FROM ")
        if rest:
            text = head + " FROM " + _QUALIFIED.sub(r"\1", rest)
    if len(text) > width:
        text = text[: width - 1].rstrip() + "…"
    return text
