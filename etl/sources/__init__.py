"""Sources turn what the user asked for into dump files on local disk plus provenance.

``plan`` accepts local paths, folders and globs, ``http(s)://`` URLs, or the
name of a configured source (``[sources.NAME]``, kind ``http`` or ``folder``)
with a logical date. The rest of the pipeline never knows where a file came from.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date
from urllib.parse import urlsplit

from sqlalchemy.engine import Engine

from etl.dumps import DumpFile, discover
from etl.redact import redact_url
from etl.sources import credentials, folder, http
from etl.sources.config import FolderSource, HttpSource, SourceConfig, get_source, load_sources
from etl.warehouse.ledger import last_validators

log = logging.getLogger("newsetl.sources")

__all__ = ["FolderSource", "HttpSource", "Plan", "SourceConfig", "get_source", "load_sources", "plan"]


@dataclass(slots=True)
class Plan:
    """The dumps to load, and what happened to requests that produced no dump."""

    dumps: list[DumpFile] = field(default_factory=list)
    notes: list[tuple[str, str]] = field(default_factory=list)  # (location, outcome)
    source_names: dict[str, str] = field(default_factory=dict)  # location -> source name


def is_url(location: str) -> bool:
    return urlsplit(location).scheme in ("http", "https")


def plan(
    engine: Engine,
    locations: list[str],
    *,
    source: str | None = None,
    day: date | None = None,
    config_path: str | None = None,
    fmt: str = "auto",
    resolve_secret: http.SecretResolver | None = None,
) -> Plan:
    """Resolve locations (or the configured ``source`` when there are none) into dump files."""
    result = Plan()
    if not locations:
        if not source:
            from etl.errors import TerminalError

            raise TerminalError("nothing to ingest: give files, folders, globs or URLs, or --source NAME")
        src = get_source(source, config_path)
        _plan_source(engine, src, day or src.today(), result, resolve_secret)
        return result
    for location in locations:
        if is_url(location):
            full = credentials.reveal(location)  # a redacted URL gets back what the caller held
            shown = redact_url(location)
            name = source or (urlsplit(shown).hostname or "http")
            src = HttpSource(
                name=_safe_name(name),
                url=shown.replace("{", "{{").replace("}", "}}"),
                format=fmt,
            )
            _fetch(engine, src, full, result, None, resolve_secret)
        else:
            result.dumps.extend(discover([location]))
    return result


def _safe_name(name: str) -> str:
    """A source name (a slug, see etl.sources.config.NAME) made from a host or a --source value."""
    slug = "".join(c if c.isascii() and (c.isalnum() or c in "-_.") else "_" for c in name)
    return slug.lstrip("._-")[:100] or "http"


def _plan_source(engine: Engine, src: SourceConfig, day: date, result: Plan, resolve_secret=None) -> None:
    if isinstance(src, HttpSource):
        _fetch(engine, src, src.url_for(day), result, day, resolve_secret)
        return
    for item in folder.claim(src):

        def settle(ok: bool, item=item) -> object:
            return folder.settle(src, item, ok)

        dump = DumpFile(path=item.path, location=str(item.original), settle=settle)
        result.dumps.append(dump)
        result.source_names[dump.location] = src.name
    if not result.dumps:
        result.notes.append((src.path, f"no file ready in {src.path} matching {src.pattern!r}"))


def _fetch(
    engine: Engine, src: HttpSource, url: str, result: Plan, day: date | None, resolve_secret=None
) -> None:
    shown = redact_url(url)
    previous = last_validators(engine, shown)
    validators = http.Validators(*previous) if previous else None
    outcome = http.fetch(src, url, validators, resolve_secret=resolve_secret)
    if outcome.status == "not_modified":
        result.notes.append((shown, "not modified since the last fetch (HTTP 304): nothing to do"))
        return
    if outcome.status == "missing":
        when = f" for {day.isoformat()}" if day else ""
        result.notes.append((shown, f"no dump{when} (HTTP 404)"))
        return
    dump = DumpFile(
        path=outcome.path,
        location=shown,
        etag=outcome.etag,
        last_modified=outcome.last_modified,
        refusal=outcome.refusal,
    )
    result.dumps.append(dump)
    result.source_names[dump.location] = src.name
