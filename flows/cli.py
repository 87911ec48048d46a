"""``newsetl``: the command line (in flows/ because some commands start Prefect flows).

Prefect is imported only by the commands that run a flow, so ``--help`` and
``newsetl db upgrade`` answer at once. Errors print one clear line (``--debug``
for the traceback) and set the exit code: 0 done, 1 some dump failed, 2 bad
usage or configuration.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from etl.config import load_settings, resolve_dask_address, resolve_database_url
from etl.errors import EtlError, TerminalError

app = typer.Typer(
    help="Ingest news article dumps, drop near-duplicates, load a warehouse.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Plain help text: Rich markup would swallow bracketed words such as [sources.NAME].
    rich_markup_mode=None,
)
db_app = typer.Typer(help="Warehouse schema commands.", no_args_is_help=True, rich_markup_mode=None)
app.add_typer(db_app, name="db")
dedup_app = typer.Typer(help="Near-duplicate index commands.", no_args_is_help=True, rich_markup_mode=None)
app.add_typer(dedup_app, name="dedup")

DEFAULT_REPORT = Path("data/report.html")

DaskOption = Annotated[
    str | None,
    typer.Option(
        "--dask-address",
        help="Prepare batches on this Dask scheduler (tcp://HOST:PORT; needs newsetl[dask]); "
        "loading stays in this process. Default: $NEWSETL_DASK_ADDRESS, then [ingest] dask_address "
        "in the config, else local worker processes.",
        show_default=False,
    ),
]

console = Console()
err_console = Console(stderr=True)


class State:
    config: str | None = None
    debug: bool = False
    verbose: bool = False
    quiet: bool = False


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
    quiet: Annotated[
        bool,
        typer.Option("--quiet", "-q", help="No progress bar, progress lines or start-up spinner."),
    ] = False,
) -> None:
    state.config = config
    state.debug = debug
    state.verbose = verbose
    state.quiet = quiet


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
    dask_address: DaskOption = None,
) -> None:
    """Ingest dumps: fetch or pick up, parse, normalise, drop duplicates, load; prints a summary."""
    from etl.dumps import discover
    from etl.readers import check_format
    from etl.sources import is_url
    from etl.sources.config import get_source

    settings = load_settings(state.config)  # a bad config fails here, before Prefect's start-up
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
    _check_warehouse_early(db, settings)
    cluster = _check_dask_early(dask_address, settings)
    _quiet_prefect(state.verbose)
    started = time.perf_counter()
    from etl.sources.credentials import hold

    with _running_flow("ingest", db, lambda: importlib.import_module("flows.ingest").ingest) as ingest_flow:
        summary = ingest_flow(
            # Flow parameters are stored by Prefect: URLs go redacted, their credentials stay in memory.
            locations=[hold(loc) if is_url(loc) else loc for loc in locations],
            source=source,
            format=format,
            config_path=state.config,
            date=logical_day.isoformat() if logical_day else None,
            dask_address=cluster,
        )
    summary.elapsed = time.perf_counter() - started
    _print_summary(summary)
    _print_report_path()
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
    from etl.warehouse.db import check_warehouse, describe
    from etl.warehouse.migrate import current_revision, head_revision

    settings = load_settings(state.config)
    engine = check_warehouse(resolve_database_url(db, settings), create=False)
    console.print(f"{describe(engine)}: {current_revision(engine)} (head {head_revision()})")


def _ready_warehouse(url: str, settings):
    """Connect, migrate and check the dedup settings before anything slow starts.

    A wrong port, an unsupported URL or changed [dedup] settings is then one line and
    exit code 2 within a second or so, not a traceback after Prefect's start-up.
    """
    from etl.warehouse.db import check_warehouse
    from etl.warehouse.schema import prepare_warehouse

    engine = check_warehouse(url)
    prepare_warehouse(engine, settings.dedup)
    return engine


def _check_warehouse_early(db: str | None, settings) -> None:
    """:func:`_ready_warehouse` on the URL the flows will use, when it is known without Prefect.

    A URL kept in a Prefect Secret block ([warehouse] url_secret_block) is read by the
    flow itself; that one is checked when the flow starts.
    """
    if settings.warehouse.url_secret_block and not (db or os.environ.get("NEWSETL_DATABASE_URL")):
        return
    _ready_warehouse(resolve_database_url(db, settings), settings)


def _check_dask_early(cli_value: str | None, settings) -> str | None:
    """The Dask scheduler address to prepare on, checked to answer before Prefect starts.

    A typo, a stopped scheduler or a missing ``newsetl[dask]`` install is then one line
    and exit code 2 within seconds, not a failed flow run after Prefect's start-up.
    """
    address = resolve_dask_address(cli_value, settings)
    if not address:
        return None
    from importlib.util import find_spec

    # Looked up, not imported: importing prefect_dask imports Prefect, whose settings
    # must not be read before _quiet_prefect sets the local server's defaults.
    missing = [name for name in ("distributed", "prefect_dask") if find_spec(name) is None]
    if missing:
        raise TerminalError(
            f"a Dask address was given but {', '.join(missing)} is not installed: pip install 'newsetl[dask]'"
        )
    import distributed

    try:
        with distributed.Client(address, timeout=3, set_as_default=False):
            pass
    except (OSError, TimeoutError, ValueError) as exc:  # ValueError: an unknown scheme such as foo://
        raise TerminalError(f"no Dask scheduler answers at {address}: {exc}") from exc
    return address


def _engine(db: str | None):
    """The warehouse for a command that writes: schema upgraded, settings checked."""
    settings = load_settings(state.config)
    return _ready_warehouse(resolve_database_url(db, settings), settings), settings


def _read_engine(db: str | None):
    """The warehouse for a read-only command: it must exist and be at the current schema.

    Reading never migrates: an operator looking at a warehouse should not change it.
    """
    from etl.warehouse.db import check_warehouse, describe
    from etl.warehouse.migrate import current_revision, head_revision

    settings = load_settings(state.config)
    engine = check_warehouse(resolve_database_url(db, settings), create=False)
    current, head = current_revision(engine), head_revision()
    if current is None:
        raise TerminalError(f"{describe(engine)} holds no newsetl warehouse yet: run `newsetl ingest` first")
    if current != head:
        raise TerminalError(
            f"{describe(engine)} is at schema revision {current}, this newsetl needs {head}: "
            "run `newsetl db upgrade`"
        )
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
    """Say why a record was kept or dropped, and list its nearest stored neighbours.

    ``dump:ID`` lists that dump's rejects and duplicates instead (the ingest artifact links them).
    """
    from etl.warehouse.explain import explain as explain_record

    engine, settings = _read_engine(db)
    if query.startswith("dump:"):
        _explain_dump(engine, query)
        return
    out = explain_record(engine, query, settings.dedup)
    if out.found == "none":
        raise TerminalError(f"nothing in the warehouse matches {query!r} (id, url or locator)")
    if out.reject:
        r = out.reject
        console.print(
            f"[bold]rejected[/bold] in run {r['run_id']}: {escape(r['reason'])} ({r['reason_code']})"
        )
        console.print(f"  locator {escape(r['locator'])}, source {escape(r['source'])}")
        console.print(f"  raw: {escape(r['raw'][:300])}")
        return
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
        _print_word_diff(out.diff)
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


def _print_word_diff(diff: list[str] | None) -> None:
    """The dropped version against the kept one, words marked inline (etl.textdiff.word_diff)."""
    if diff is None:
        console.print("  text of the dropped version was not kept (loaded before duplicates.body_z)")
    elif not diff:
        console.print("  same words as the kept copy")
    else:
        console.print("  changes, dropped -> kept ([-removed-] {+added+}):")
        for line in diff:
            console.print(f"    {escape(line)}", highlight=False, soft_wrap=True)


@app.command()
def report(
    out: Annotated[
        Path, typer.Option("--out", help="The HTML file to write (self-contained: opens offline).")
    ] = DEFAULT_REPORT,
    since: Annotated[
        str | None,
        typer.Option(help="Only records of this day (YYYY-MM-DD) or later.", show_default=False),
    ] = None,
    source: Annotated[str | None, typer.Option(help="Only this source.", show_default=False)] = None,
    db: DbOption = None,
) -> None:
    """Write the warehouse report: totals, charts and the partition ledger, in one HTML file."""
    from etl.report import write_html
    from etl.warehouse.report import collect

    engine, _ = _read_engine(db)
    started = time.perf_counter()
    data = collect(engine, since=_parse_day(since), source=source)
    write_html(data, out)
    t = data.totals
    console.print(
        f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB) in {time.perf_counter() - started:.1f} s: "
        f"{t['read']:,} records read, {t['kept']:,} kept, {t['exact']:,} exact and {t['near']:,} near "
        f"duplicates, {t['rejects']:,} rejects"
    )


def _explain_dump(engine, query: str) -> None:
    from etl.warehouse.report import dump_detail

    ident = query.removeprefix("dump:")
    detail = dump_detail(engine, int(ident)) if ident.isdigit() else None
    if detail is None:
        raise TerminalError(f"no dump {ident!r} in the warehouse (dump:ID, as in the ingest artifact)")
    d = detail.dump
    console.print(
        f"[bold]dump {d['id']}[/bold] {d['location']} ({d['source']}, {d['format'] or 'format by content'}, "
        f"{d['status']}): {d['articles']:,} kept, {d['exact_duplicates']:,} exact and "
        f"{d['near_duplicates']:,} near duplicates, {d['rejects']:,} rejected"
    )
    if detail.rejects:
        _print_table(
            f"rejects ({len(detail.rejects)} of {detail.reject_count:,})",
            ("locator", "reason", "why"),
            ((r["locator"], r["reason_code"], r["reason"]) for r in detail.rejects),
        )
    if detail.duplicates:
        _print_table(
            f"duplicates ({len(detail.duplicates)} of {detail.duplicate_count:,}; "
            "newsetl explain LOCATOR for one of them)",
            ("locator", "kept article", "method", "relation", "similarity", "title"),
            (
                (
                    r["locator"],
                    str(r["duplicate_of"]),
                    f"{r['method']} ({r['measure']})",
                    r["relation"] or "",
                    f"{r['similarity']:.3f}",
                    r["title"],
                )
                for r in detail.duplicates
            ),
        )
    if not detail.rejects and not detail.duplicates:
        console.print("  every record of this dump was kept")


@app.command()
def runs(
    limit: Annotated[int, typer.Option(help="How many recent runs to show.")] = 10,
    db: DbOption = None,
) -> None:
    """Show recent runs with their counts."""
    from etl.warehouse.ledger import recent_runs

    engine, _ = _read_engine(db)
    _print_table(
        "recent runs",
        # exact and near duplicates in one column, as in `status`: the table then fits 80 columns
        ("started (UTC)", "status", "kind", "read", "kept", "dups", "rej", "run"),
        (
            (
                f"{r['started_at']:%m-%d %H:%M}",  # recent runs: the year would cost the counts room
                r["status"],
                r["kind"],
                str(r["records"]),
                str(r["articles"]),
                str(r["exact_duplicates"] + r["near_duplicates"]),
                str(r["rejects"]),
                r["id"][:8],  # the full id is in the runs table; 8 characters tell runs apart
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
    dask_address: DaskOption = None,
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
    cluster = _check_dask_early(dask_address, settings)
    if cluster:
        # Each day's ingest flow reads it from the environment, as deployment runs do.
        os.environ["NEWSETL_DASK_ADDRESS"] = cluster
    _quiet_prefect(state.verbose)
    with _running_flow("backfill", db, lambda: importlib.import_module("flows.backfill").backfill) as flow:
        final = flow(
            source=source,
            start=start,
            end=end,
            max_parallel=max_parallel,
            force=force,
            config_path=state.config,
            return_state=True,
        )
    rows = final.result(raise_on_failure=False)
    if isinstance(rows, BaseException):
        raise rows
    counts = ("read", "kept", "exact", "near", "rejected")
    _print_table(
        f"backfill {source} {start}..{end}",
        ("day", "status", *counts),
        ((r["day"], r["status"], *(str(r.get(k, "")) for k in counts)) for r in rows),
    )
    for r in rows:
        if r["status"] == "failed":
            err_console.print(f"[red]failed:[/red] {r['day']}: {escape(r.get('reason') or '')}")
    _print_report_path()
    if any(r["status"] == "failed" for r in rows):
        raise typer.Exit(1)


@app.command()
def serve(db: DbOption = None) -> None:
    """Serve the deployments (one scheduled ingest per source with a cron, plus backfill).

    Needs a Prefect server (`prefect server start`, PREFECT_API_URL set): schedules do
    not run on the ephemeral one. Stop with Ctrl-C.
    """
    settings = load_settings(state.config)
    if not _prefect_profile_api_url():
        raise TerminalError(
            "serve needs a Prefect server that runs schedules: start one with `prefect server start` "
            "and set PREFECT_API_URL (e.g. http://127.0.0.1:4200/api); the temporary local server "
            "that `newsetl ingest` uses never runs scheduled deployments"
        )
    url = resolve_database_url(db, settings)
    _ready_warehouse(url, settings)
    _quiet_prefect(state.verbose)
    from prefect import serve as prefect_serve

    from flows.deployments import build_deployments, taken_by_work_pools

    # Served flow runs are child processes: they inherit the URL, which never becomes a
    # deployment parameter (those are shown in the Prefect UI and API).
    _database_url_to_environment(db)
    deployments = build_deployments(state.config)
    taken = taken_by_work_pools(deployments)
    if taken:
        raise TerminalError(
            "these deployments already belong to a work pool (prefect deploy); serving would "
            "replace them: " + ", ".join(taken) + ". Use one way of running them: the worker, "
            "or delete them (`prefect deployment delete NAME`) before serving"
        )
    console.print("serving: " + ", ".join(d.name for d in deployments))
    prefect_serve(*deployments, pause_on_shutdown=False)


@app.command("prefect-yaml")
def prefect_yaml(
    out: Annotated[str, typer.Option(help="File to write.")] = "prefect.yaml",
    check: Annotated[
        bool, typer.Option(help="Write nothing; exit 1 when the file differs from the sources config.")
    ] = False,
) -> None:
    """Write prefect.yaml (work-pool deployments) from the sources config.

    One scheduled ingest per source with a cron, plus ingest-manual and backfill:
    the same deployments `newsetl serve` builds.
    """
    from importlib.metadata import version
    from pathlib import Path

    from etl.sources.config import load_sources
    from flows.prefect_yaml import render, same_spec

    text = render(load_sources(state.config), version("prefect"))
    target = Path(out)
    if check:
        current = target.read_text(encoding="utf-8") if target.is_file() else ""
        if not same_spec(current, text):
            err_console.print(
                f"{escape(out)} is not in step with the sources config: run `newsetl prefect-yaml`"
            )
            raise typer.Exit(1)
        console.print(f"{out} matches the sources config")
        return
    target.write_text(text, encoding="utf-8")
    console.print(f"wrote {out}")


@app.command()
def status(
    source: Annotated[str | None, typer.Option(help="Only this source.")] = None,
    limit: Annotated[int, typer.Option(help="How many partitions to show.")] = 30,
    db: DbOption = None,
) -> None:
    """Show the partition ledger: per source and day, state and counts."""
    from etl.warehouse.partitions import recent

    engine, _ = _read_engine(db)
    rows = recent(engine, limit, source)
    _print_table(
        "partitions",
        ("source", "day", "status", "tries", "read", "kept", "dups", "rej"),
        (
            (
                r["source"],
                r["day"].isoformat(),
                r["status"],
                str(r["attempts"]),
                str(r["records"]),
                str(r["articles"]),
                str(r["exact_duplicates"] + r["near_duplicates"]),  # one column: fits 80 columns
                str(r["rejects"]),
            )
            for r in rows
        ),
    )
    # Notes (failure reasons, checks) are sentences: under the table they wrap as text
    # instead of squeezing the columns people scan.
    for r in rows:
        if r["note"]:
            console.print(f"{escape(r['source'])} {r['day'].isoformat()} {r['status']}: {escape(r['note'])}")


# Columns whose text may wrap onto several lines; every other column is printed whole.
_FOLDABLE = {"title", "why", "locator", "location", "dump", "run"}


def _start_prefect() -> None:
    """Start Prefect's temporary server (unless PREFECT_API_URL names one) so it dies with us.

    A watchdog process stops it when this command ends, ``kill -9`` included.
    """
    from flows.local_server import start_local_server_if_needed

    start_local_server_if_needed()


def _database_url_to_environment(db: str | None) -> None:
    """Hand ``--db`` to flows through the environment, never as a flow parameter.

    Flow-run parameters are stored by the Prefect server and shown in its UI and
    API, a password in the URL included. Without ``--db`` the flows resolve the URL
    themselves: the environment, a Prefect Secret block, the config file.
    """
    if db:
        os.environ["NEWSETL_DATABASE_URL"] = db


def _print_table(title: str, columns: Iterable[str], rows: Iterable[Iterable[str]]) -> None:
    """A light table that stays readable at 80 columns and when piped.

    Keys such as days, sources and states are never cut ("2024-1…" helps nobody):
    only free text (notes, titles, ids) wraps, and borders are kept to a rule under
    the header to leave the width to the data.
    """
    table = Table(title=escape(title), title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    for col in columns:
        if col in _FOLDABLE:
            table.add_column(col, overflow="fold", ratio=1)
        else:
            table.add_column(col, no_wrap=True)
    for row in rows:
        table.add_row(*(escape(str(cell)) for cell in row))
    console.print(table)


def _prefect_profile_api_url() -> str | None:
    """PREFECT_API_URL as set in the active Prefect profile (``prefect config set``)."""
    if os.environ.get("PREFECT_API_URL"):
        return os.environ["PREFECT_API_URL"]
    from prefect.settings import PREFECT_API_URL

    return PREFECT_API_URL.value()


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


def _progress(what: str):
    """A progress bar on a terminal, periodic lines when piped, nothing with --quiet (on stderr)."""
    from etl.console_progress import ConsoleProgress, choose_mode

    interval = float(os.environ.get("NEWSETL_PROGRESS_INTERVAL", "10"))
    return ConsoleProgress(err_console, choose_mode(err_console, state.quiet), interval=interval, what=what)


@contextmanager
def _running_flow(what: str, db: str | None, load_flow: Callable[[], Any]) -> Iterator[Any]:
    """Progress display, Prefect's local server and the warehouse URL, around one flow call.

    Yields the flow ``load_flow`` imports: importing it sets up Prefect's console
    logging, which the progress display then takes over.
    """
    with _progress(what) as shown:
        shown.waiting("starting Prefect's local server (the first start takes ~10-15 s)")
        _start_prefect()
        shown.waiting("importing Prefect")
        flow = load_flow()
        _database_url_to_environment(db)
        with _watch_prefect(shown):
            yield flow


@contextmanager
def _watch_prefect(shown) -> Iterator[None]:
    """Send this process's progress events to ``shown``; Prefect's start-up messages become its spinner.

    Prefect's INFO lines on the console (one per batch, per dump) are replaced by the
    progress display unless --verbose; they still reach the Prefect API (the UI), and
    warnings and errors still print, except the engine's traceback of an expected
    failure (etl.quiet_errors) unless --debug.
    """
    from etl.console_progress import PrefectStartWatcher
    from etl.progress import observing

    watcher = PrefectStartWatcher(shown)
    prefect_logger = logging.getLogger("prefect")
    prefect_logger.addHandler(watcher)
    consoles = [h for h in logging.getLogger().handlers if type(h).__name__ == "PrefectConsoleHandler"]
    if not state.verbose:
        for h in consoles:
            h.setLevel(max(h.level, logging.WARNING))
    if not state.debug:  # an expected failure is one line, printed by the CLI; --debug shows all
        from etl.quiet_errors import QuietExpectedErrors

        for h in consoles:
            h.addFilter(QuietExpectedErrors())
    shown.waiting("starting Prefect's local server (the first start takes ~10-15 s)")
    try:
        with observing(shown):
            yield
    finally:
        # The console handlers stay quiet: the command ends here, and the temporary
        # server's "Stopping" line at exit says nothing either.
        prefect_logger.removeHandler(watcher)


def _print_report_path() -> None:
    from flows.report import report_path

    if report_path().exists():
        console.print(f"warehouse report: {report_path()}", highlight=False, soft_wrap=True)


def _print_summary(summary) -> None:
    table = Table(title="newsetl ingest", show_header=False, title_justify="left")
    table.add_column(style="bold", no_wrap=True)
    table.add_column(overflow="fold")
    for key, value in summary.rows():
        table.add_row(key, value)
    console.print(table)
    for location, why in summary.failures:
        err_console.print(f"[red]failed:[/red] {escape(location)}: {escape(why)}")


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
        err_console.print(f"[red]error:[/red] {escape(str(exc))}")
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
        err_console.print(
            f"[red]error:[/red] {type(exc).__name__}: {escape(str(exc))} (run with --debug for details)"
        )
        sys.exit(1)


if __name__ == "__main__":
    main()
