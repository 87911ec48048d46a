"""Source definitions (``[sources.NAME]`` tables), validated with errors that name the bad key.

Sources are read from the config file given with ``--config`` / ``NEWSETL_CONFIG``;
without one, from ``config/sources.toml`` (and ``config/newsetl.toml``, if it
declares any) in the working directory.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field, fields
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from etl.errors import ConfigError
from etl.redact import redact_url

DEFAULT_SOURCES_PATH = Path("config/sources.toml")
KINDS = ("http", "folder")
# Source names become folder names (downloads) and ledger keys: a plain slug, never a path.
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")


@dataclass(frozen=True, slots=True)
class SourceConfig:
    """One configured source. Keys not used by a kind are ignored only if left at their defaults."""

    name: str
    kind: str
    format: str = "auto"
    timezone: str = "UTC"
    # scheduling (used by deployments)
    cron: str | None = None
    # http
    url: str | None = None
    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    total_timeout: float = 600.0  # one attempt, headers to last byte; a dripping server can't hold a run
    retries: int = 5
    backoff_seconds: float = 1.0
    max_backoff_seconds: float = 60.0
    max_bytes: int = 2 * 1024**3
    auth_header_env: str | None = None
    username_env: str | None = None
    password_env: str | None = None
    auth_secret_block: str | None = None  # a Prefect Secret block holding the Authorization value
    download_dir: str = "data/downloads"
    # folder
    path: str | None = None
    pattern: str = "*"
    recursive: bool = False
    after: str = "move"  # "move" to processed/ or failed/, or "leave" in place
    processed_dir: str = "processed"
    failed_dir: str = "failed"
    stable_seconds: float = 5.0
    reclaim_after_seconds: float = 3600.0
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        where = f"sources.{self.name}"
        if not NAME.fullmatch(self.name):
            raise ConfigError(
                f"[{where}]: a source name must be a slug (letters, digits, '_', '-', '.', "
                f"starting with a letter or digit, at most 100 characters), got {self.name!r}"
            )
        if self.kind not in KINDS:
            raise ConfigError(f"{where}.kind must be one of {', '.join(KINDS)}, got {self.kind!r}")
        if self.kind == "http" and not self.url:
            raise ConfigError(f'{where}.url is required for kind = "http"')
        if self.kind == "http" and not self.url.startswith(("http://", "https://")):
            raise ConfigError(
                f"{where}.url must start with http:// or https://, got {redact_url(self.url)!r}"
            )
        for key in ("connect_timeout", "read_timeout", "total_timeout"):
            if getattr(self, key) <= 0:
                raise ConfigError(f"{where}.{key} must be positive, got {getattr(self, key)}")
        if self.kind == "folder" and not self.path:
            raise ConfigError(f'{where}.path is required for kind = "folder"')
        if self.after not in ("move", "leave"):
            raise ConfigError(f'{where}.after must be "move" or "leave", got {self.after!r}')
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ConfigError(f"{where}.timezone: unknown time zone {self.timezone!r}") from exc
        if self.url:
            try:
                self.url_for(date(2000, 1, 1))
            except (KeyError, ValueError, IndexError) as exc:
                raise ConfigError(
                    f"{where}.url: bad template {redact_url(self.url)!r} ({exc}); "
                    "use {date:%Y-%m-%d} style placeholders"
                ) from exc

    def url_for(self, day: date) -> str:
        """The URL with the logical date filled in (``{date:%Y-%m-%d}``)."""
        return self.url.format(date=day) if self.url else ""

    def today(self) -> date:
        """Today in the source's time zone: the default logical date."""
        return datetime.now(ZoneInfo(self.timezone)).date()


_KNOWN = {f.name for f in fields(SourceConfig)} - {"name", "extra"}


def _source(name: str, table: Any, origin: Path) -> SourceConfig:
    if not isinstance(table, dict):
        raise ConfigError(f"{origin}: [sources.{name}] must be a table")
    unknown = sorted(set(table) - _KNOWN)
    if unknown:
        raise ConfigError(
            f"{origin}: unknown key sources.{name}.{unknown[0]}; known keys: {', '.join(sorted(_KNOWN))}"
        )
    if "kind" not in table:
        raise ConfigError(f'{origin}: sources.{name}.kind is required ("http" or "folder")')
    defaults = SourceConfig.__dataclass_fields__
    values: dict[str, Any] = {}
    for key, value in table.items():
        default = defaults[key].default
        expected = str if default is None or key == "kind" else type(default)
        if expected is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
            raise ConfigError(
                f"{origin}: sources.{name}.{key} must be {expected.__name__}, got {type(value).__name__}"
            )
        values[key] = value
    try:
        return SourceConfig(name=name, **values)
    except ConfigError as exc:
        raise ConfigError(f"{origin}: {exc}") from exc


def sources_paths(explicit: str | os.PathLike[str] | None = None) -> list[Path]:
    """The files sources are read from (see the module docstring)."""
    chosen = explicit or os.environ.get("NEWSETL_CONFIG")
    if chosen:
        path = Path(chosen)
        if not path.is_file():
            raise ConfigError(f"config file {path} does not exist")
        return [path]
    from etl.config import DEFAULT_CONFIG_PATH

    return [p for p in (DEFAULT_SOURCES_PATH, DEFAULT_CONFIG_PATH) if p.is_file()]


def load_sources(explicit: str | os.PathLike[str] | None = None) -> dict[str, SourceConfig]:
    """Every ``[sources.NAME]`` table, validated; later files do not override earlier names."""
    found: dict[str, SourceConfig] = {}
    for path in sources_paths(explicit):
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: invalid TOML: {exc}") from exc
        for name, table in (data.get("sources") or {}).items():
            found.setdefault(name, _source(name, table, path))
    return found


def get_source(name: str, explicit: str | os.PathLike[str] | None = None) -> SourceConfig:
    sources = load_sources(explicit)
    if name not in sources:
        known = ", ".join(sorted(sources)) or "none are configured"
        where = ", ".join(str(p) for p in sources_paths(explicit)) or str(DEFAULT_SOURCES_PATH)
        raise ConfigError(f"no source named {name!r} in {where} (known: {known})")
    return sources[name]
