"""Source definitions (``[sources.NAME]`` tables), validated with errors that name the bad key.

``kind`` picks the class: :class:`HttpSource` or :class:`FolderSource`, each with
only its own keys (plus the shared ``format``, ``timezone`` and ``cron``), checked
by etl.config_check like the settings. A key of the other kind is an error that
says which kind it belongs to.

Sources are read from the config file given with ``--config`` / ``NEWSETL_CONFIG``;
without one, from ``config/sources.toml`` (and ``config/newsetl.toml``, if it
declares any) in the working directory.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, ClassVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from etl.config_check import build, keys_of, read_toml, unknown_key
from etl.errors import ConfigError
from etl.redact import redact_url

DEFAULT_SOURCES_PATH = Path("config/sources.toml")
# Source names become folder names (downloads) and ledger keys: a plain slug, never a path.
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")


@dataclass(frozen=True, slots=True, kw_only=True)
class _Source:
    """Keys every kind of source has. The ``kind`` key picks the subclass (see :func:`parse_source`)."""

    kind: ClassVar[str]
    name: str = field(metadata={"config": False})  # from the table header [sources.NAME]
    format: str = "auto"
    timezone: str = "UTC"
    # scheduling (used by deployments)
    cron: str | None = None

    def __post_init__(self) -> None:
        if not NAME.fullmatch(self.name):
            raise ConfigError(
                f"[sources.{self.name}]: a source name must be a slug (letters, digits, '_', '-', '.', "
                f"starting with a letter or digit, at most 100 characters), got {self.name!r}"
            )
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ConfigError(f"sources.{self.name}.timezone: unknown time zone {self.timezone!r}") from exc

    def today(self) -> date:
        """Today in the source's time zone: the default logical date."""
        return datetime.now(ZoneInfo(self.timezone)).date()


@dataclass(frozen=True, slots=True, kw_only=True)
class HttpSource(_Source):
    """``kind = "http"``: a URL template fetched per logical date (etl.sources.http)."""

    kind: ClassVar[str] = "http"
    url: str = ""  # required; "" so that the message says which kind needs it
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

    def __post_init__(self) -> None:
        _Source.__post_init__(self)
        where = f"sources.{self.name}"
        if not self.url:
            raise ConfigError(f'{where}.url is required for kind = "http"')
        if not self.url.startswith(("http://", "https://")):
            raise ConfigError(
                f"{where}.url must start with http:// or https://, got {redact_url(self.url)!r}"
            )
        for key in ("connect_timeout", "read_timeout", "total_timeout"):
            if getattr(self, key) <= 0:
                raise ConfigError(f"{where}.{key} must be positive, got {getattr(self, key)}")
        try:
            self.url_for(date(2000, 1, 1))
        except (KeyError, ValueError, IndexError) as exc:
            raise ConfigError(
                f"{where}.url: bad template {redact_url(self.url)!r} ({exc}); "
                "use {date:%Y-%m-%d} style placeholders"
            ) from exc

    def url_for(self, day: date) -> str:
        """The URL with the logical date filled in (``{date:%Y-%m-%d}``)."""
        return self.url.format(date=day)


@dataclass(frozen=True, slots=True, kw_only=True)
class FolderSource(_Source):
    """``kind = "folder"``: a landing folder that other systems drop dumps into (etl.sources.folder)."""

    kind: ClassVar[str] = "folder"
    path: str = ""  # required; "" so that the message says which kind needs it
    pattern: str = "*"
    recursive: bool = False
    after: str = "move"  # "move" to processed/ or failed/, or "leave" in place
    processed_dir: str = "processed"
    failed_dir: str = "failed"
    stable_seconds: float = 5.0
    reclaim_after_seconds: float = 3600.0

    def __post_init__(self) -> None:
        _Source.__post_init__(self)
        where = f"sources.{self.name}"
        if not self.path:
            raise ConfigError(f'{where}.path is required for kind = "folder"')
        if self.after not in ("move", "leave"):
            raise ConfigError(f'{where}.after must be "move" or "leave", got {self.after!r}')


# A configured source: match on the class (or its ``kind``) where behaviour differs.
SourceConfig = HttpSource | FolderSource
KINDS: dict[str, type[HttpSource] | type[FolderSource]] = {"http": HttpSource, "folder": FolderSource}
_A = {"http": "an", "folder": "a"}  # "an http-source key"


def parse_source(name: str, table: Any, origin: Path) -> SourceConfig:
    """The source declared by ``[sources.NAME]`` in ``origin``: the class its ``kind`` names.

    A key that belongs to another kind is refused saying so (``pattern`` on an
    HTTP source would otherwise look meaningful and do nothing).
    """
    where = f"sources.{name}"
    try:
        if not isinstance(table, dict):
            raise ConfigError(f"[{where}] must be a table")
        if "kind" not in table:
            raise ConfigError(f'{where}.kind is required ("http" or "folder")')
        kind = table["kind"]
        if not isinstance(kind, str) or kind not in KINDS:
            raise ConfigError(f"{where}.kind must be one of {', '.join(KINDS)}, got {kind!r}")
        cls = KINDS[kind]
        own = keys_of(cls)
        for key in table:
            if key == "kind" or key in own:
                continue
            for other, other_cls in KINDS.items():
                if key in keys_of(other_cls):
                    raise ConfigError(
                        f"[{where}]: {key!r} is {_A[other]} {other}-source key; "
                        f'this source has kind = "{kind}"'
                    )
            raise unknown_key(where, key, ["kind", *own])
        return build(cls, {k: v for k, v in table.items() if k != "kind"}, where, name=name)
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
        for name, table in (read_toml(path).get("sources") or {}).items():
            found.setdefault(name, parse_source(name, table, path))
    return found


def get_source(name: str, explicit: str | os.PathLike[str] | None = None) -> SourceConfig:
    sources = load_sources(explicit)
    if name not in sources:
        known = ", ".join(sorted(sources)) or "none are configured"
        where = ", ".join(str(p) for p in sources_paths(explicit)) or str(DEFAULT_SOURCES_PATH)
        raise ConfigError(f"no source named {name!r} in {where} (known: {known})")
    return sources[name]
