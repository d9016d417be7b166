"""Receipts: a measurement as plain data, text, a rich table, or HTML.

Every renderer reads only the plain data of `Measurement.to_dict()`, so a
receipt saved as JSON renders the same later as it did when it was measured.
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

from checker.resources import format_bytes

if TYPE_CHECKING:
    from rich.console import RenderableType

__all__ = ["render_html", "render_rich", "render_text"]

_LISTED = 20


def _headline(data: dict[str, Any]) -> str:
    count = data["query_count"]
    parts = [f"{count} {'query' if count == 1 else 'queries'}"]
    resources = data.get("resources") or {}
    if resources.get("wall_ms") is not None:
        parts.append(f"{resources['wall_ms']:.1f} ms")
    if resources.get("peak_bytes") is not None:
        parts.append(f"peak {format_bytes(resources['peak_bytes'])}")
    return f"{data['label'] or 'Measured code'}: " + ", ".join(parts)


def _group_line(group: dict[str, Any]) -> str:
    line = f"{group['count']} x {group['short']}"
    if group.get("origin"):
        line += f" — from {group['origin']}"
    if group.get("via"):
        line += f" via {group['via']}"
    if group.get("fix"):
        line += f". {group['fix']}"
    return line


def _eager_line(load: dict[str, Any]) -> str:
    where = f" at {load['origin']}" if load.get("origin") else ""
    return f'{load["via"]}: {load["call"]}("{load["lookup"]}"){where}. {load["fix"]}'


_EAGER_COLUMNS = ["relation", "loaded by", "at", "fix"]


def _eager_rows(data: dict[str, Any]) -> list[list[str]]:
    return [
        [
            load["via"],
            f'{load["call"]}("{load["lookup"]}")',
            load.get("origin") or "",
            load["fix"],
        ]
        for load in data.get("unused_eager") or []
    ]


def _query_line(query: dict[str, Any]) -> tuple[str, str, str]:
    origin = query.get("origin") or ""
    return f"{query['duration_ms']:.2f} ms", query["normalised"], origin


def _recorded(section: dict[str, Any] | None) -> bool:
    """Tell whether another recorder's section holds anything worth showing."""
    if not section:
        return False
    return any(
        bool(value)
        for value in section.values()
        if isinstance(value, list | int | float)
    )


def _flat(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{key} {_flat(item)}" for key, item in value.items())
    return str(value)


def _names(records: list[Any]) -> str:
    names = [str(r.get("name")) for r in records if isinstance(r, dict) and "name" in r]
    return (
        f" ({', '.join(names[:5])}{', ...' if len(names) > 5 else ''})" if names else ""
    )


def _summary(section: dict[str, Any]) -> list[tuple[str, str]]:
    # Sections from the cache and task recorders are shown by their figures,
    # the size of their lists and the names in them, whatever their shape.
    rows = []
    for key, value in section.items():
        if isinstance(value, list):
            rows.append((key, f"{len(value)}{_names(value)}"))
        elif isinstance(value, dict):
            if value:
                rows.append(
                    (key, "; ".join(f"{k}: {_flat(v)}" for k, v in value.items()))
                )
        else:
            rows.append((key, str(value)))
    return rows


def render_text(data: dict[str, Any]) -> str:
    """Render the receipt as plain text."""
    lines = [_headline(data)]
    if data["similar"]:
        lines.append("Similar queries:")
        lines += [f"  {_group_line(group)}" for group in data["similar"]]
    if data["duplicates"]:
        lines.append("Duplicate queries:")
        lines += [f"  {_group_line(group)}" for group in data["duplicates"]]
    if data.get("unused_eager"):
        lines.append("Eager loads never read:")
        lines += [f"  {_eager_line(load)}" for load in data["unused_eager"]]
    for name in ("cache", "tasks"):
        if _recorded(data.get(name)):
            lines.append(f"{name.capitalize()}:")
            lines += [f"  {key}: {value}" for key, value in _summary(data[name])]
    if data.get("plans"):
        lines.append("Plans:")
        for plan in data["plans"]:
            scans = "; ".join(_scan_text(scan) for scan in plan["scans"])
            lines.append(f"  {plan['sql']} -> {scans}")
    queries = [query for query in data["queries"] if not query["transaction"]]
    if queries:
        lines.append("Queries:")
        for number, query in enumerate(queries[:_LISTED], start=1):
            time, sql, origin = _query_line(query)
            where = f" — {origin}" if origin else ""
            lines.append(f"  {number:>3}. {time:>9}  {sql}{where}")
        if len(queries) > _LISTED:
            lines.append(f"  ... and {len(queries) - _LISTED} more")
    return "\n".join(lines)


def _plan_rows(plans: list[dict[str, Any]]) -> list[list[str]]:
    return [
        [
            plan["sql"],
            "; ".join(_scan_text(scan) for scan in plan["scans"]),
            plan.get("origin") or "",
        ]
        for plan in plans
    ]


def _scan_text(scan: dict[str, Any]) -> str:
    text = str(scan["node_type"])
    if scan.get("index"):
        text += f" using {scan['index']}"
    if scan.get("relation"):
        text += f" on {scan['relation']}"
    return text


def render_rich(data: dict[str, Any]) -> RenderableType:
    """Render the receipt as rich tables for a terminal."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    parts: list[RenderableType] = [Text(_headline(data), style="bold")]
    if data["similar"] or data["duplicates"]:
        table = Table(title="Repeated queries", expand=False)
        for column in ("kind", "count", "SQL", "from", "via", "fix"):
            table.add_column(column, overflow="fold")
        for kind in ("similar", "duplicates"):
            for group in data[kind]:
                table.add_row(
                    kind,
                    str(group["count"]),
                    group["short"],
                    group.get("origin") or "",
                    group.get("via") or "",
                    group.get("fix") or "",
                )
        parts.append(table)
    if eager_rows := _eager_rows(data):
        table = Table(title="Eager loads never read", expand=False)
        for column in _EAGER_COLUMNS:
            table.add_column(column, overflow="fold")
        for row in eager_rows:
            table.add_row(*row)
        parts.append(table)
    for name in ("cache", "tasks"):
        if _recorded(data.get(name)):
            table = Table(title=name.capitalize())
            table.add_column("figure")
            table.add_column("value")
            for key, value in _summary(data[name]):
                table.add_row(key, value)
            parts.append(table)
    if data.get("plans"):
        table = Table(title="Plans")
        for column in ("SQL", "scans", "from"):
            table.add_column(column, overflow="fold")
        for row in _plan_rows(data["plans"]):
            table.add_row(*row)
        parts.append(table)
    queries = [query for query in data["queries"] if not query["transaction"]]
    if queries:
        table = Table(title="Queries")
        for column in ("#", "time", "SQL", "from"):
            table.add_column(column, overflow="fold")
        for number, query in enumerate(queries[:_LISTED], start=1):
            table.add_row(str(number), *_query_line(query))
        parts.append(table)
    return Group(*parts)


def _html_table(headers: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(header)}</th>" for header in headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in row) + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def render_html(data: dict[str, Any]) -> str:
    """Render the receipt as HTML, for Jupyter."""
    parts = [f"<p><strong>{html.escape(_headline(data))}</strong></p>"]
    repeated = [
        [
            kind,
            str(g["count"]),
            g["short"],
            g.get("origin") or "",
            g.get("via") or "",
            g.get("fix") or "",
        ]
        for kind in ("similar", "duplicates")
        for g in data[kind]
    ]
    if repeated:
        parts.append("<p>Repeated queries</p>")
        parts.append(
            _html_table(["kind", "count", "SQL", "from", "via", "fix"], repeated)
        )
    if eager_rows := _eager_rows(data):
        parts.append("<p>Eager loads never read</p>")
        parts.append(_html_table(_EAGER_COLUMNS, eager_rows))
    for name in ("cache", "tasks"):
        if _recorded(data.get(name)):
            parts.append(f"<p>{name.capitalize()}</p>")
            rows = [[key, value] for key, value in _summary(data[name])]
            parts.append(_html_table(["figure", "value"], rows))
    if data.get("plans"):
        parts.append("<p>Plans</p>")
        parts.append(_html_table(["SQL", "scans", "from"], _plan_rows(data["plans"])))
    queries = [query for query in data["queries"] if not query["transaction"]]
    if queries:
        rows = [
            [str(number), *_query_line(query)]
            for number, query in enumerate(queries[:_LISTED], start=1)
        ]
        parts.append("<p>Queries</p>")
        parts.append(_html_table(["#", "time", "SQL", "from"], rows))
    return "<div class='checker-receipt'>" + "".join(parts) + "</div>"
