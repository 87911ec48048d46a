"""``newsetl``: the command line.

Prefect is imported only by the commands that run a flow, so ``--help`` and
``newsetl db upgrade`` answer at once. Errors print one clear line (``--debug``
for the traceback) and set the exit code: 0 done, 1 some dump failed, 2 bad
usage or configuration.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Iterable
from datetime import date
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from etl.config import load_settings, resolve_database_url
from etl.errors import EtlError, TerminalError

app = typer.Typer(
    help="Ingest news article dumps, drop near-duplicates, load a warehouse.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Warehouse schema commands.", no_args_is_help=True)
app.add_typer(db_app, name="db")
dedup_app = typer.Typer(help="Near-duplicate index commands.", no_args_is_help=True)
app.add_typer(dedup_app, name="dedup")

console = Console()
err_console = Console(stderr=True)


class State:
    config: str | None = None
    debug: bool = False
    verbose: bool = False


state = State()

DbOption = Annotated[
    str | None,
    typer.Option(
        "--db",
        help="Warehouse URL (sqlite:///file.db or postgresql+psycopg://...). "
        "Default: $NEWSETL_DATABASE_URL, then [warehouse] url in the config, "
        "then sqlite:///data/warehouse.db.",
        show_default=False,
    ),
]


@app.callback()
def main_options(
    config: Annotated[
        str | None,
        typer.Option(
            "--config",
            help="Config file (TOML): settings and [sources.*]. Default: $NEWSETL_CONFIG, else "
            "config/newsetl.toml and config/sources.toml if present.",
            show_default=False,
        ),
    ] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.")] = False,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Show every Prefect task-run log line.")
    ] = False,
) -> None:
    state.config = config
    state.debug = debug
    state.verbose = verbose


@app.command()
def ingest(
    locations: Annotated[
        list[str] | None,
        typer.Argument(
            help="Dump files, folders (read recursively), globs or http(s) URLs. "
            "Leave out to fetch the configured source named by --source.",
            show_default=False,
        ),
    ] = None,
    source: Annotated[
        str | None,
        typer.Option(
            help="A configured source ([sources.NAME]) to fetch when no LOCATION is given; "
            "otherwise the source name stored with every row (default: the dump's folder name)."
        ),
    ] = None,
    day: Annotated[
        str | None,
        typer.Option(
            "--date",
            help="Logical date (YYYY-MM-DD) that fills the source's URL template. "
            "Default: today in the source's time zone.",
            show_default=False,
        ),
    ] = None,
    format: Annotated[
        str,
        typer.Option(
            "--format",
            help="Dump format: auto (by extension and content), tass, jsonl, json_array, csv, "
            "reuters, feed, warc, text.",
        ),
    ] = "auto",
    db: DbOption = None,
) -> None:
    """Ingest dumps: fetch or pick up, parse, normalise, drop duplicates, load; prints a summary."""
    from etl.pipeline import discover
    from etl.readers import check_format
    from etl.sources import is_url
    from etl.sources.config import get_source

    settings = load_settings(state.config)
    url = resolve_database_url(db, settings)
    check_format(format)
    logical_day = _parse_day(day)
    locations = list(locations or [])
    # Fail fast on typos, before Prefect's start-up.
    discover([loc for loc in locations if not is_url(loc)])
    if not locations:
        if not source:
            raise TerminalError(
                "nothing to ingest: give files, folders, globs or URLs, or --source NAME of a "
                "configured source"
            )
        get_source(source, state.config)
    _quiet_prefect(state.verbose)
    err_console.print("[dim]starting Prefect (local ephemeral mode; the first start takes ~10-15 s)...[/dim]")
    started = time.perf_counter()
    from flows.ingest import ingest as ingest_flow

    summary = ingest_flow(
        locations=locations,
        source=source,
        format=format,
        db_url=url,
        config_path=state.config,
        date=logical_day.isoformat() if logical_day else None,
    )
    summary.elapsed = time.perf_counter() - started
    _print_summary(summary)
    if not summary.ok:
        raise typer.Exit(1)


def _parse_day(value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise TerminalError(f"--date must be YYYY-MM-DD, got {value!r}") from exc


@db_app.command("upgrade")
def db_upgrade(db: DbOption = None) -> None:
    """Create the warehouse schema or upgrade it to the latest migration."""
    from etl.warehouse.db import describe, make_engine
    from etl.warehouse.migrate import current_revision, upgrade

    settings = load_settings(state.config)
    engine = make_engine(resolve_database_url(db, settings))
    changed = upgrade(engine)
    verb = "upgraded to" if changed else "already at"
    console.print(f"{describe(engine)}: {verb} revision {current_revision(engine)}")


@db_app.command("current")
def db_current(db: DbOption = None) -> None:
    """Print the warehouse's schema revision."""
    from etl.warehouse.db import describe, make_engine
    from etl.warehouse.migrate import current_revision, head_revision

    settings = load_settings(state.config)
    engine = make_engine(resolve_database_url(db, settings))
    console.print(f"{describe(engine)}: {current_revision(engine)} (head {head_revision()})")


def _engine(db: str | None):
    from etl.warehouse.db import make_engine
    from etl.warehouse.migrate import upgrade

    settings = load_settings(state.config)
    engine = make_engine(resolve_database_url(db, settings))
    upgrade(engine)
    return engine, settings


@dedup_app.command("reindex")
def dedup_reindex(db: DbOption = None) -> None:
    """Rebuild every stored signature and LSH band key with the current [dedup] settings.

    Needed after changing num_perm, scheme, hashfunc, seed, shingle_size, bands or
    rows; loads wait while it runs.
    """
    from etl.warehouse.db import describe
    from etl.warehouse.index import reindex

    engine, settings = _engine(db)
    started = time.perf_counter()
    with console.status("reindexing...") as status:
        count = reindex(engine, settings.dedup, progress=lambda n: status.update(f"reindexed {n:,} articles"))
    console.print(
        f"{describe(engine)}: reindexed {count:,} articles with {settings.dedup.fingerprint} "
        f"in {time.perf_counter() - started:.1f} s"
    )


@app.command()
def explain(
    query: Annotated[str, typer.Argument(help="An article id, a URL or a locator (path#ordinal).")],
    db: DbOption = None,
) -> None:
    """Say why a record was kept or dropped, and list its nearest stored neighbours."""
    from etl.warehouse.explain import explain as explain_record

    engine, settings = _engine(db)
    out = explain_record(engine, query, settings.dedup)
    if out.found == "none":
        raise TerminalError(f"nothing in the warehouse matches {query!r} (id, url or locator)")
    if out.article:
        a = out.article
        console.print(f"[bold]kept[/bold] as article {a['id']}: {a['title']!r}")
        console.print(f"  locator {a['locator']}, source {a['source']}, published {a['published_at']}")
    else:
        d, k = out.duplicate, out.kept
        console.print(
            f"[bold]dropped[/bold] ({d['method']} duplicate, {d['relation'] or 'near'}, "
            f"{d['measure']} {d['similarity']:.3f}) "
            f"in run {d['run_id']}: {d['title']!r}"
        )
        console.print(
            f"  kept copy: article {k['id']} {k['title']!r} ({k['locator']}), policy {settings.dedup.policy}"
        )
    if out.neighbours:
        _print_table(
            "nearest stored neighbours (LSH candidates; exact 5-gram Jaccard and containment, "
            "share of words in order)",
            ("article", "jaccard", "containment", "words", "title"),
            (
                (str(n.article_id), f"{n.jaccard:.3f}", f"{n.containment:.3f}", f"{n.words:.3f}", n.title)
                for n in out.neighbours
            ),
        )
    else:
        console.print("  no other stored article shares an LSH band with it")


@app.command()
def runs(
    limit: Annotated[int, typer.Option(help="How many recent runs to show.")] = 10,
    db: DbOption = None,
) -> None:
    """Show recent runs with their counts."""
    from etl.warehouse.ledger import recent_runs

    engine, _ = _engine(db)
    _print_table(
        "recent runs",
        ("started", "status", "kind", "read", "kept", "exact", "near", "rejected", "run id"),
        (
            (
                f"{r['started_at']:%Y-%m-%d %H:%M:%S}",
                r["status"],
                r["kind"],
                str(r["records_read"]),
                str(r["articles"]),
                str(r["exact_duplicates"]),
                str(r["near_duplicates"]),
                str(r["rejects"]),
                r["id"],
            )
            for r in recent_runs(engine, limit)
        ),
    )


@app.command()
def backfill(
    source: Annotated[str, typer.Option(help="A configured source ([sources.NAME]).", show_default=False)],
    start: Annotated[str, typer.Option(help="First day, YYYY-MM-DD.", show_default=False)],
    end: Annotated[str, typer.Option(help="Last day (inclusive), YYYY-MM-DD.", show_default=False)],
    max_parallel: Annotated[int, typer.Option(help="Days loaded at the same time.")] = 2,
    force: Annotated[bool, typer.Option(help="Run days already done or empty again.")] = False,
    dry_run: Annotated[bool, typer.Option(help="Print what would run, run nothing.")] = False,
    db: DbOption = None,
) -> None:
    """Ingest a range of days of a source, one partition (flow run) per day; resumable."""
    from etl.backfill import plan
    from etl.sources.config import get_source

    start_day, end_day = _parse_day(start), _parse_day(end)
    get_source(source, state.config)
    engine, settings = _engine(db)
    planned = plan(engine, source, start_day, end_day, force)
    if dry_run:
        _print_table(
            f"backfill {source} {start}..{end} (dry run)",
            ("day", "action", "why"),
            ((p.day.isoformat(), "run" if p.action == "run" else "skip", p.reason) for p in planned),
        )
        return
    todo = sum(1 for p in planned if p.action == "run")
    console.print(f"{todo} day(s) to run, {len(planned) - todo} already done or empty")
    if not todo:
        return
    _quiet_prefect(state.verbose)
    err_console.print("[dim]starting Prefect (local ephemeral mode)...[/dim]")
    from flows.backfill import backfill as backfill_flow

    rows = backfill_flow(
        source=source,
        start=start,
        end=end,
        max_parallel=max_parallel,
        force=force,
        db_url=resolve_database_url(db, settings),
        config_path=state.config,
    )
    counts = ("read", "kept", "exact", "near", "rejected")
    _print_table(
        f"backfill {source} {start}..{end}",
        ("day", "status", *counts),
        ((r["day"], r["status"], *(str(r.get(k, "")) for k in counts)) for r in rows),
    )
    if any(r["status"] == "failed" for r in rows):
        raise typer.Exit(1)


@app.command()
def serve(db: DbOption = None) -> None:
    """Serve the deployments (one scheduled ingest per source with a cron, plus backfill).

    Needs a Prefect server (`prefect server start`, PREFECT_API_URL set): schedules do
    not run on the ephemeral one. Stop with Ctrl-C.
    """
    settings = load_settings(state.config)
    _quiet_prefect(state.verbose)
    from prefect import serve as prefect_serve

    from flows.deployments import build_deployments

    deployments = build_deployments(state.config, resolve_database_url(db, settings))
    console.print("serving: " + ", ".join(d.name for d in deployments))
    prefect_serve(*deployments, pause_on_shutdown=False)


@app.command()
def status(
    source: Annotated[str | None, typer.Option(help="Only this source.")] = None,
    limit: Annotated[int, typer.Option(help="How many partitions to show.")] = 30,
    db: DbOption = None,
) -> None:
    """Show the partition ledger: per source and day, state and counts."""
    from etl.warehouse.partitions import recent

    engine, _ = _engine(db)
    _print_table(
        "partitions",
        ("source", "day", "status", "attempts", "read", "kept", "dups", "rejected", "note"),
        (
            (
                r["source"],
                r["day"].isoformat(),
                r["status"],
                str(r["attempts"]),
                str(r["records"]),
                str(r["articles"]),
                str(r["duplicates"]),
                str(r["rejects"]),
                r["note"] or "",
            )
            for r in recent(engine, limit, source)
        ),
    )


def _print_table(title: str, columns: Iterable[str], rows: Iterable[Iterable[str]]) -> None:
    table = Table(title=title, title_justify="left")
    for col in columns:
        table.add_column(col)
    for row in rows:
        table.add_row(*row)
    console.print(table)


def _quiet_prefect(verbose: bool) -> None:
    """Keep flow-level progress lines, hide one line per task run unless --verbose."""
    from flows import use_local_server_defaults

    use_local_server_defaults()
    if verbose:
        return
    # The ephemeral server process logs cancelled-task tracebacks when it stops at
    # exit; they say nothing about the run, and the client reports real failures.
    os.environ.setdefault("PREFECT_SERVER_LOGGING_LEVEL", "CRITICAL")
    os.environ.setdefault("PREFECT_LOGGING_LOGGERS_PREFECT_TASK_RUNS_LEVEL", "WARNING")
    logging.getLogger("prefect.task_runs").setLevel(logging.WARNING)


def _print_summary(summary) -> None:
    table = Table(title="newsetl ingest", show_header=False, title_justify="left")
    table.add_column(style="bold", no_wrap=True)
    table.add_column(overflow="fold")
    for key, value in summary.rows():
        table.add_row(key, value)
    console.print(table)
    for location, why in summary.failures:
        err_console.print(f"[red]failed:[/red] {location}: {why}")


def main() -> None:
    """Entry point: run the app, turning known errors into one line and an exit code."""
    try:
        code = app(standalone_mode=False)
        sys.exit(code if isinstance(code, int) else 0)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except (TerminalError, EtlError) as exc:
        if state.debug:
            raise
        err_console.print(f"[red]error:[/red] {exc}")
        sys.exit(2 if isinstance(exc, TerminalError) else 1)
    except KeyboardInterrupt:
        err_console.print("interrupted; a re-run resumes where this one stopped")
        sys.exit(130)
    except Exception as exc:
        import click

        if isinstance(exc, click.exceptions.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        if isinstance(exc, click.exceptions.Abort):
            sys.exit(1)
        if state.debug:
            raise
        err_console.print(f"[red]error:[/red] {type(exc).__name__}: {exc} (run with --debug for details)")
        sys.exit(1)


if __name__ == "__main__":
    main()
