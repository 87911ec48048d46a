"""What a user checks after an HTTP ingest: counts per table, and every stored value as text."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from sqlalchemy import MetaData, func, inspect, select
from sqlalchemy.engine import Engine

from etl.config import IngestConfig, Settings
from etl.runner import run_ingest
from etl.warehouse.models import ArticleRow, Dump, Duplicate, RejectRow, Run

DAY = date(2024, 3, 4)
SETTINGS = Settings(ingest=IngestConfig(workers=0))  # inline: no worker processes to start


def counts(engine: Engine) -> dict[str, int]:
    """Rows that a load leaves behind: articles, duplicates, rejects and finished dumps."""
    with engine.connect() as conn:
        found = {
            name: conn.execute(select(func.count()).select_from(model)).scalar_one()
            for name, model in (("articles", ArticleRow), ("duplicates", Duplicate), ("rejects", RejectRow))
        }
        found["dumps_done"] = conn.execute(
            select(func.count()).select_from(Dump).where(Dump.status == "done")
        ).scalar_one()
    return found


def last_run(engine: Engine):
    """The status and error of the latest run."""
    with engine.connect() as conn:
        return conn.execute(select(Run.status, Run.error).order_by(Run.started_at.desc()).limit(1)).one()


def every_value(engine: Engine) -> str:
    """Every row of every table in the warehouse, as one text, to search for a secret."""
    meta = MetaData()
    meta.reflect(bind=engine)
    out = []
    with engine.connect() as conn:
        for name in inspect(engine).get_table_names():
            for row in conn.execute(select(meta.tables[name])):
                out.append(f"{name}: {tuple(row)!r}")
    return "\n".join(out)


def write_source(tmp_path: Path, url_template: str, **keys: object) -> Path:
    """A config file with one HTTP source ``wire`` and fast retry settings (overridable)."""
    settings = {"retries": 2, "backoff_seconds": 0.01, "read_timeout": 2.0, **keys}
    lines = [
        "[sources.wire]",
        'kind = "http"',
        f'url = "{url_template}"',
        f'download_dir = "{tmp_path / "downloads"}"',
    ]
    for key, value in settings.items():
        lines.append(f'{key} = "{value}"' if isinstance(value, str) else f"{key} = {value}")
    config = tmp_path / "sources.toml"
    config.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return config


def ingest_source(engine: Engine, config: Path, day: date = DAY):
    return run_ingest(engine, [], settings=SETTINGS, source="wire", day=day, config_path=str(config))
