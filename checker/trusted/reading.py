"""Read what a shop page shows, without importing the shop.

The "same-output" budgets compare these rows with the rows the trusted side
computes from the run's database (`checker.trusted.expected`).
"""

from __future__ import annotations

import csv
import html
import io
import re
from collections.abc import Sequence
from typing import Any

__all__ = [
    "Row",
    "admin_rows",
    "assert_same",
    "bestseller_rows",
    "category_link_rows",
    "category_rows",
    "category_sales_rows",
    "csv_rows",
    "history_orders",
    "product_list_rows",
    "product_page_rows",
    "recent_order_rows",
    "review_rows",
    "rows_of",
    "status_counts",
]

Row = tuple[Any, ...]
_TAG = re.compile(r"<[^>]+>")
_SPACE = re.compile(r"\s+")


def _text(fragment: str) -> str:
    return html.unescape(_SPACE.sub(" ", _TAG.sub("", fragment))).strip()


def _rows(page: str, row_class: str) -> list[list[str]]:
    found = re.findall(rf'<tr class="{row_class}">(.*?)</tr>', page, re.DOTALL)
    return [re.findall(r"<td>(.*?)</td>", row, re.DOTALL) for row in found]


def assert_same(what: str, shown: Sequence[Row], expected: Sequence[Row]) -> None:
    """Fail naming the first row that differs from the database's."""
    if list(shown) == list(expected):
        return
    if len(shown) != len(expected):
        raise AssertionError(
            f"{what} shows {len(shown)} rows; the database says {len(expected)}. "
            "The change must not alter what the page shows."
        )
    number, (got, want) = next(
        (n, pair)
        for n, pair in enumerate(zip(shown, expected, strict=True), 1)
        if pair[0] != pair[1]
    )
    raise AssertionError(
        f"{what} row {number} shows {got!r}; the database says {want!r}. "
        "The change must not alter what the page shows."
    )


def product_list_rows(page: str) -> list[Row]:
    """Return name, category, brand, tags, price, reviews, rating per row."""
    rows = []
    for cells in _rows(page, "product"):
        tags = tuple(
            sorted(_text(t) for t in re.findall(r"<span[^>]*>(.*?)</span>", cells[3]))
        )
        rows.append(
            (
                _text(cells[0]),
                _text(cells[1]),
                _text(cells[2]),
                tags,
                *map(_text, cells[4:]),
            )
        )
    return rows


def review_rows(page: str) -> list[Row]:
    """Return the title, rating and author of each review on a product page."""
    return re.findall(
        r'<article class="review">\s*<h3>(.*?) \((\d)/5\)</h3>\s*<p>by (.*?) on', page
    )


def rows_of(page: str, row_class: str) -> list[Row]:
    """Return the text of each cell of the table rows of class `row_class`."""
    return [tuple(_text(cell) for cell in cells) for cells in _rows(page, row_class)]


def recent_order_rows(page: str) -> list[Row]:
    """Return the cells of the dashboard's recent orders."""
    return rows_of(page, "order")


def status_counts(page: str) -> list[Row]:
    """Return the dashboard's orders per status."""
    return re.findall(r"<li>(\w+): (\d+)</li>", page)


def history_orders(page: str) -> list[Row]:
    """Return each order's heading and its items (sorted) from a history page."""
    orders = []
    for section in re.findall(
        r'<section class="order">(.*?)</section>', page, re.DOTALL
    ):
        heading = _text(re.search(r"<h2>(.*?)</h2>", section, re.DOTALL).group(1))  # type: ignore[union-attr]
        items = sorted(
            tuple(_text(c) for c in cells) for cells in _rows(section, "item")
        )
        orders.append((heading, tuple(items)))
    return orders


def category_rows(page: str) -> list[Row]:
    """Return the product count line and each product row of a category page."""
    count = re.findall(r"<p>(\d+) products</p>", page)
    rows = [tuple(_text(cell) for cell in cells) for cells in _rows(page, "product")]
    return [("count", *count), *rows]


def csv_rows(content: bytes) -> list[Row]:
    """Return the rows of a CSV export, header first."""
    return [tuple(row) for row in csv.reader(io.StringIO(content.decode()))]


def _first(pattern: str, page: str) -> str | None:
    found = re.search(pattern, page, re.DOTALL)
    return _text(found.group(1)) if found else None


def product_page_rows(page: str) -> list[Row]:
    """Return the name, price, stock, review count and reviews of a product page."""
    return [
        ("name", _first(r"<h1>(.*?)</h1>", page)),
        ("price", _first(r'<p class="price">(.*?)</p>', page)),
        ("stock", _first(r'<p class="price">.*?</p>\s*<p>(.*?)</p>', page)),
        ("reviews", _first(r"<h2>Reviews \((\d+)\)</h2>", page)),
        *(("review", *review) for review in review_rows(page)),
    ]


def category_link_rows(page: str) -> list[Row]:
    """Return the name and address of each category link on the product list."""
    links = re.search(r"<p>Categories:(.*?)</p>", page, re.DOTALL)
    found = re.findall(r'<a href="([^"]*)">(.*?)</a>', links.group(1) if links else "")
    return [(_text(name), html.unescape(url)) for url, name in found]


def bestseller_rows(sales: Sequence[dict[str, Any]]) -> list[Row]:
    """Return name, slug, units and revenue of each bestseller a selector returned."""
    return [
        (
            row.get("product__name"),
            row.get("product__slug"),
            str(row.get("units")),
            str(row.get("revenue")),
        )
        for row in sales
    ]


def category_sales_rows(sales: Sequence[dict[str, Any]]) -> list[Row]:
    """Return name, units and revenue of each category a selector returned."""
    return [
        (
            row.get("product__category__name"),
            str(row.get("units")),
            str(row.get("revenue")),
        )
        for row in sales
    ]


def admin_rows(page: str) -> int:
    """Return how many objects an admin change list shows."""
    table = re.search(r'<table id="result_list">(.*?)</table>', page, re.DOTALL)
    if table is None:
        return 0
    body = re.search(r"<tbody>(.*?)</tbody>", table.group(1), re.DOTALL)
    return len(re.findall(r"<tr\b", body.group(1))) if body else 0
