"""Typed settings from a TOML file, validated with errors that name the bad key (etl.config_check).

Where the warehouse URL comes from, first match wins: ``--db``, the
``NEWSETL_DATABASE_URL`` environment variable, ``[warehouse] url`` in the config
file (``--config``, else ``NEWSETL_CONFIG``, else ``config/newsetl.toml`` in the
working directory), else the embedded SQLite default ``data/warehouse.db``.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from etl.config_check import build, did_you_mean, read_toml
from etl.errors import ConfigError

DEFAULT_CONFIG_PATH = Path("config/newsetl.toml")
DEFAULT_DATABASE_URL = "sqlite:///data/warehouse.db"
SCHEMES = ("affine32", "affine64", "legacy")
HASHFUNCS = ("words", "xxh32", "sha1")
POLICIES = ("first_seen", "longest", "latest")
MIN_RECORD_BYTES = 1024  # smaller would reject real articles
MAX_RECORD_BYTES = 1024**3  # a record is held in memory whole up to this bound


@dataclass(frozen=True, slots=True)
class DedupConfig:
    """Near-duplicate settings.

    ``bands`` x ``rows`` must not exceed ``num_perm``. The defaults (32 x 4 over
    128 permutations) flag a pair at Jaccard 0.8 with probability ~1.0 and at 0.6
    with ~0.99; the lead bands (4 x 3 over the first 30 words) flag a brief and
    the story it was cut from however low their Jaccard. Every candidate is then
    verified on the exact texts, so generous banding costs lookups, not precision.
    """

    shingle_size: int = 5
    num_perm: int = 128
    scheme: str = "affine32"
    hashfunc: str = "xxh32"
    seed: int = 1
    bands: int = 32
    rows: int = 4
    lead_words: int = 30
    lead_bands: int = 4
    lead_rows: int = 3
    threshold: float = 0.8
    containment: float = 0.9
    min_containment_shingles: int = 20
    edit_similarity: float = 0.9
    min_edit_words: int = 20
    figures_must_agree: bool = True
    context_rules: bool = True
    headline_keys: bool = True
    policy: str = "first_seen"

    def __post_init__(self) -> None:
        if self.shingle_size < 1:
            raise ConfigError("dedup.shingle_size must be at least 1")
        if self.num_perm < 16:
            raise ConfigError("dedup.num_perm must be at least 16")
        if self.scheme not in SCHEMES:
            raise ConfigError(f"dedup.scheme must be one of {', '.join(SCHEMES)}")
        if self.hashfunc not in HASHFUNCS:
            raise ConfigError(f"dedup.hashfunc must be one of {', '.join(HASHFUNCS)}")
        if self.bands < 1 or self.rows < 1 or self.bands * self.rows > self.num_perm:
            raise ConfigError(
                f"dedup.bands x dedup.rows ({self.bands} x {self.rows}) must be positive "
                f"and at most dedup.num_perm ({self.num_perm})"
            )
        if self.lead_bands < 0 or self.lead_rows < 1 or self.lead_words < 1:
            raise ConfigError("dedup.lead_bands must be >= 0, dedup.lead_rows and dedup.lead_words >= 1")
        if self.policy not in POLICIES:
            raise ConfigError(f"dedup.policy must be one of {', '.join(POLICIES)}, got {self.policy!r}")
        if self.min_edit_words < 1:
            raise ConfigError("dedup.min_edit_words must be at least 1")
        for name in ("threshold", "containment", "edit_similarity"):
            value = getattr(self, name)
            if not 0.0 < value <= 1.0:
                raise ConfigError(f"dedup.{name} must be in (0, 1], got {value}")

    @property
    def fingerprint(self) -> str:
        """Identifies everything that shapes stored signatures and band keys."""
        return (
            f"w{self.shingle_size}-p{self.num_perm}-{self.scheme}-{self.hashfunc}-s{self.seed}"
            f"-b{self.bands}x{self.rows}-k1"
            + (f"-lead{self.lead_words}w{self.lead_bands}x{self.lead_rows}" if self.lead_bands else "")
            + ("-head1" if self.headline_keys else "")
        )

    def candidate_probability(self, jaccard: float) -> float:
        """Probability that LSH flags a pair with this Jaccard similarity."""
        return 1.0 - math.pow(1.0 - math.pow(jaccard, self.rows), self.bands)


@dataclass(frozen=True, slots=True)
class IngestConfig:
    batch_size: int = 2000
    # Processes preparing batches ahead of the loader; -1 = one per core beyond the first,
    # 0 = prepare inline in the loading process.
    workers: int = -1
    # The largest record a reader accepts, in bytes (one JSONL line, one array element,
    # one CSV row, one TASS/Reuters article, one feed entry, one WARC payload, one text file).
    max_record_bytes: int = 10 * 1024 * 1024
    # A Dask scheduler (tcp://HOST:PORT) to prepare batches on instead of local processes.
    dask_address: str | None = None

    def __post_init__(self) -> None:
        if self.dask_address is not None:
            check_dask_address(self.dask_address, "ingest.dask_address")
        if self.batch_size < 1:
            raise ConfigError("ingest.batch_size must be at least 1")
        if not MIN_RECORD_BYTES <= self.max_record_bytes <= MAX_RECORD_BYTES:
            raise ConfigError(
                f"ingest.max_record_bytes must be between {MIN_RECORD_BYTES:,} and {MAX_RECORD_BYTES:,} "
                f"bytes (1 KiB to 1 GiB), got {self.max_record_bytes:,}"
            )
        if self.workers < -1:
            raise ConfigError("ingest.workers must be -1 (auto), 0 (inline) or a positive number")


# scheme://host:port or host:port; IPv6 hosts in brackets. The scheme is one of Dask's network comms.
_DASK_ADDRESS = re.compile(r"^((tcp|tls|ucx|ws|wss)://)?(\[[0-9A-Fa-f:.]+\]|[^\s:/\[\]]+):\d{1,5}$")


def check_dask_address(value: object, what: str) -> str:
    """``value`` when it looks like a Dask scheduler address; a ConfigError naming ``what`` otherwise."""
    if not isinstance(value, str) or not _DASK_ADDRESS.match(value):
        raise ConfigError(f"{what} must be a Dask scheduler address such as tcp://HOST:8786, got {value!r}")
    return value


@dataclass(frozen=True, slots=True)
class WarehouseConfig:
    url: str | None = None
    # Name of a Prefect Secret block holding the URL (password included), read by the
    # flows when neither --db nor NEWSETL_DATABASE_URL gives one. The name is not secret.
    url_secret_block: str | None = None
    # How long to keep retrying a batch or ledger statement through transient database
    # errors (restart, failover, deadlock, lock timeout) before the run gives up.
    retry_seconds: float = 120.0

    def __post_init__(self) -> None:
        if self.retry_seconds < 0:
            raise ConfigError("warehouse.retry_seconds must be 0 (no retries) or more")


@dataclass(frozen=True, slots=True)
class Settings:
    warehouse: WarehouseConfig = field(default_factory=WarehouseConfig)
    dedup: DedupConfig = field(default_factory=DedupConfig)
    ingest: IngestConfig = field(default_factory=IngestConfig)
    path: Path | None = None


_SECTIONS: dict[str, type] = {
    "warehouse": WarehouseConfig,
    "dedup": DedupConfig,
    "ingest": IngestConfig,
}


def config_path(explicit: str | os.PathLike[str] | None = None) -> Path | None:
    """The config file to read, or None when there is none (defaults apply)."""
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise ConfigError(f"config file {path} does not exist")
        return path
    env = os.environ.get("NEWSETL_CONFIG")
    if env:
        path = Path(env)
        if not path.is_file():
            raise ConfigError(f"NEWSETL_CONFIG points to {path}, which does not exist")
        return path
    return DEFAULT_CONFIG_PATH if DEFAULT_CONFIG_PATH.is_file() else None


def load_settings(path: str | os.PathLike[str] | None = None) -> Settings:
    """Read settings from ``path`` (see :func:`config_path`); unknown keys are errors."""
    resolved = config_path(path)
    if resolved is None:
        return Settings()
    data = read_toml(resolved)
    built: dict[str, Any] = {}
    for section, table in data.items():
        if section == "sources":
            continue  # source definitions are read by etl.sources
        if section not in _SECTIONS:
            raise ConfigError(
                f"{resolved}: unknown section [{section}]{did_you_mean(section, _SECTIONS)}; "
                f"known: {', '.join(_SECTIONS)}"
            )
        try:
            built[section] = build(_SECTIONS[section], table, section)
        except ConfigError as exc:
            raise ConfigError(f"{resolved}: {exc}") from exc
    return Settings(path=resolved, **built)


def resolve_database_url(
    cli_value: str | None, settings: Settings, resolve_secret: Callable[[str], str] | None = None
) -> str:
    """Apply the precedence documented in this module.

    With ``resolve_secret`` (the flows pass a Prefect Secret reader), a configured
    ``[warehouse] url_secret_block`` comes after the environment variable and
    before ``[warehouse] url``.
    """
    if cli_value or os.environ.get("NEWSETL_DATABASE_URL"):
        return cli_value or os.environ["NEWSETL_DATABASE_URL"]
    if settings.warehouse.url_secret_block and resolve_secret is not None:
        return resolve_secret(settings.warehouse.url_secret_block)
    return settings.warehouse.url or DEFAULT_DATABASE_URL


def resolve_dask_address(cli_value: str | None, settings: Settings) -> str | None:
    """The Dask scheduler to prepare on: ``--dask-address``, ``NEWSETL_DASK_ADDRESS``, the config, or none.

    None means the local path (worker processes of this machine, ``[ingest] workers``).
    """
    if cli_value:
        return check_dask_address(cli_value, "--dask-address")
    env = os.environ.get("NEWSETL_DASK_ADDRESS")
    if env:
        return check_dask_address(env, "NEWSETL_DASK_ADDRESS")
    return settings.ingest.dask_address
