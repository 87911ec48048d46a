"""The run summary people read at the end of an ingest: CLI table, Prefect artifact, logs."""

from __future__ import annotations

from dataclasses import dataclass, field

from etl.counts import BatchCounts
from etl.dumps import DumpResult


@dataclass(slots=True)
class RunSummary:
    run_id: str
    warehouse: str
    dumps: list[DumpResult] = field(default_factory=list)
    failures: list[tuple[str, str]] = field(default_factory=list)
    notes: list[tuple[str, str]] = field(default_factory=list)  # requests that gave no dump
    abandoned: list[str] = field(default_factory=list)  # earlier runs found dead, marked abandoned
    elapsed: float = 0.0

    @property
    def totals(self) -> BatchCounts:
        total = BatchCounts()
        for d in self.dumps:
            total += d.counts
        return total

    @property
    def dumps_read(self) -> int:
        return sum(1 for d in self.dumps if d.status != "skipped")

    @property
    def dumps_skipped(self) -> int:
        return sum(1 for d in self.dumps if d.status == "skipped")

    @property
    def ok(self) -> bool:
        return not self.failures

    def rows(self) -> list[tuple[str, str]]:
        t = self.totals
        rate = t.records / self.elapsed if self.elapsed > 0 else 0.0
        rows = [
            ("dumps read", f"{self.dumps_read:,}"),
            ("dumps already ingested (skipped)", f"{self.dumps_skipped:,}"),
            ("records read", f"{t.records:,}"),
            ("kept (new articles)", f"{t.articles:,}"),
            ("exact duplicates", f"{t.exact_duplicates:,}"),
            ("near duplicates", f"{t.near_duplicates:,}"),
            ("rejected", f"{t.rejects:,}"),
        ]
        if t.replaced:
            rows.append(("stored copies replaced (policy)", f"{t.replaced:,}"))
        if t.already_loaded:
            rows.append(("already loaded by an earlier run", f"{t.already_loaded:,}"))
        if self.failures:
            rows.append(("dumps failed", f"{len(self.failures):,}"))
        for location, note in self.notes:
            rows.append(("no dump", f"{location}: {note}"))
        if self.abandoned:
            rows.append(("earlier runs found dead (abandoned)", ", ".join(self.abandoned)))
        rows += [
            ("elapsed", f"{self.elapsed:.1f} s ({rate:,.0f} records/s)"),
            ("warehouse", self.warehouse),
            ("run id", self.run_id),
        ]
        return rows

    def markdown(self) -> str:
        lines = ["# newsetl ingest summary", "", "| | |", "|---|---:|"]
        lines += [f"| {k} | {v} |" for k, v in self.rows()]
        if self.dumps:
            lines += [
                "",
                "## Dumps",
                "",
                "| dump | status | read | kept | exact | near | rejected | seconds |",
                "|---|---|---:|---:|---:|---:|---:|---:|",
            ]
            for d in self.dumps:
                c = d.counts
                lines.append(
                    f"| {d.location} | {d.status} | {c.records} | {c.articles} | "
                    f"{c.exact_duplicates} | {c.near_duplicates} | {c.rejects} | {d.seconds:.2f} |"
                )
        if self.failures:
            lines += ["", "## Failures", ""] + [f"- `{loc}`: {why}" for loc, why in self.failures]
        return "\n".join(lines) + "\n"
