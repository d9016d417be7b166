"""What a seeding run loaded, and how fast."""

from dataclasses import dataclass, field

from rich.table import Table


@dataclass(frozen=True)
class TableReport:
    """The rows loaded into one table and the seconds it took."""

    table: str
    rows: int
    seconds: float

    @property
    def rows_per_second(self) -> float:
        """Return the load rate, or 0 for a table loaded in no measurable time."""
        return self.rows / self.seconds if self.seconds else 0.0


@dataclass
class SeedReport:
    """The outcome of one `seed_shop` run."""

    scale: str
    seed: int
    tables: list[TableReport] = field(default_factory=list)
    finishing_seconds: float = 0.0
    seconds: float = 0.0

    @property
    def rows(self) -> int:
        """Return the number of rows loaded across all tables."""
        return sum(table.rows for table in self.tables)

    @property
    def rows_per_second(self) -> float:
        """Return the overall load rate, truncation, indexes and ANALYZE included."""
        return self.rows / self.seconds if self.seconds else 0.0

    def counts(self) -> dict[str, int]:
        """Return the rows loaded per table name."""
        return {table.table: table.rows for table in self.tables}


def report_table(report: SeedReport) -> Table:
    """Render `report` as a rich table with one line per table and a total."""
    table = Table(
        title=f"seed_shop --scale {report.scale} --seed {report.seed}",
        show_footer=True,
    )
    table.add_column("table", footer="total")
    table.add_column("rows", justify="right", footer=f"{report.rows:,}")
    table.add_column("seconds", justify="right", footer=f"{report.seconds:.2f}")
    table.add_column("rows/s", justify="right", footer=f"{report.rows_per_second:,.0f}")
    for line in report.tables:
        table.add_row(
            line.table,
            f"{line.rows:,}",
            f"{line.seconds:.2f}",
            f"{line.rows_per_second:,.0f}",
        )
    table.add_row(
        "rebuild indexes and foreign keys, ANALYZE",
        "",
        f"{report.finishing_seconds:.2f}",
        "",
    )
    return table
