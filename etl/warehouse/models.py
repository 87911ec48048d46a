"""The warehouse contract as SQLAlchemy models: same tables and names on SQLite and Postgres.

Every data row carries the ``run_id`` that wrote it and ``(dump_id, ordinal)``,
the record's position in its dump; that pair is unique across ``articles``,
``duplicates`` and ``rejects`` taken together (enforced by the loader, and per
table by constraints), which is what makes a resumed load exact.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from etl.warehouse import states

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# SQLite only autoincrements an INTEGER PRIMARY KEY; Postgres gets a real bigint.
AutoId = BigInteger().with_variant(Integer(), "sqlite")
JsonList = JSON().with_variant(JSONB(), "postgresql")
UtcDateTime = DateTime(timezone=True)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Run(Base):
    """One flow run (ingest or backfill) with its parameters and counts.

    ``status``: running, completed, failed, or abandoned (its process died:
    ``host`` and ``pid`` say which process ran it, ``heartbeat_at`` when it was
    last seen alive; see etl.warehouse.ledger.abandon_stale_runs). Every row
    that carries a ``run_id`` points here by foreign key.

    The counts have the names of etl.warehouse.load.BatchCounts, as in ``dumps``
    and ``partitions``: ``records`` = articles + exact + near duplicates + rejects.
    """

    __tablename__ = "runs"
    __table_args__ = (CheckConstraint(states.one_of("status", states.RUN_STATES), name="status"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    parameters: Mapped[dict] = mapped_column(JsonList, default=dict)
    status: Mapped[str] = mapped_column(String(20), default=states.RUN_RUNNING)
    started_at: Mapped[datetime] = mapped_column(UtcDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    dumps_read: Mapped[int] = mapped_column(Integer, default=0)
    dumps_skipped: Mapped[int] = mapped_column(Integer, default=0)
    records: Mapped[int] = mapped_column(Integer, default=0)
    articles: Mapped[int] = mapped_column(Integer, default=0)
    exact_duplicates: Mapped[int] = mapped_column(Integer, default=0)
    near_duplicates: Mapped[int] = mapped_column(Integer, default=0)
    rejects: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    host: Mapped[str | None] = mapped_column(String(255))
    pid: Mapped[int | None] = mapped_column(Integer)
    heartbeat_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class Dump(Base):
    """The ledger: one row per dump file seen, keyed by its sha256.

    ``records_done`` advances in the same transaction as each loaded batch, so
    it is the exact resume point after a crash (a position, not a count: members
    read again after ``unknown_format`` are numbered after it); ``status``
    becomes ``done`` last.
    """

    __tablename__ = "dumps"
    __table_args__ = (CheckConstraint(states.one_of("status", states.DUMP_STATES), name="status"),)

    id: Mapped[int] = mapped_column(AutoId, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(String(200))
    location: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    size: Mapped[int] = mapped_column(BigInteger)
    format: Mapped[str | None] = mapped_column(String(20))
    encoding: Mapped[str | None] = mapped_column(String(40))
    etag: Mapped[str | None] = mapped_column(Text)
    last_modified: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default=states.DUMP_LOADING)
    records_done: Mapped[int] = mapped_column(Integer, default=0)
    articles: Mapped[int] = mapped_column(Integer, default=0)
    exact_duplicates: Mapped[int] = mapped_column(Integer, default=0)
    near_duplicates: Mapped[int] = mapped_column(Integer, default=0)
    rejects: Mapped[int] = mapped_column(Integer, default=0)
    first_run_id: Mapped[str | None] = mapped_column(ForeignKey("runs.id"))
    last_run_id: Mapped[str | None] = mapped_column(ForeignKey("runs.id"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, server_default=text("CURRENT_TIMESTAMP"))
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class ArticleRow(Base):
    """One kept article. ``id`` is assigned by the loader under the dedup lock."""

    __tablename__ = "articles"
    __table_args__ = (UniqueConstraint("dump_id", "ordinal"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id"), index=True)
    dump_id: Mapped[int] = mapped_column(ForeignKey("dumps.id"))
    ordinal: Mapped[int] = mapped_column(Integer)
    source: Mapped[str] = mapped_column(String(200), index=True)
    url: Mapped[str | None] = mapped_column(Text, index=True)
    locator: Mapped[str] = mapped_column(Text)
    title: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    lead: Mapped[str | None] = mapped_column(Text)
    published_at: Mapped[datetime | None] = mapped_column(UtcDateTime, index=True)
    section: Mapped[str | None] = mapped_column(Text)
    dateline: Mapped[str | None] = mapped_column(Text)
    dateline_place: Mapped[str | None] = mapped_column(Text)
    agency: Mapped[str | None] = mapped_column(Text)
    topics: Mapped[list] = mapped_column(JsonList, default=list)
    persons: Mapped[list] = mapped_column(JsonList, default=list)
    authors: Mapped[list] = mapped_column(JsonList, default=list)
    language: Mapped[str | None] = mapped_column(String(20))
    description: Mapped[str | None] = mapped_column(Text)
    content_hash: Mapped[str] = mapped_column(String(64), index=True)
    ingested_at: Mapped[datetime] = mapped_column(UtcDateTime, server_default=text("CURRENT_TIMESTAMP"))


class Duplicate(Base):
    """One dropped record and the kept article it duplicates."""

    __tablename__ = "duplicates"
    __table_args__ = (
        UniqueConstraint("dump_id", "ordinal"),
        CheckConstraint(states.one_of("method", states.DUPLICATE_METHODS), name="method"),
    )

    id: Mapped[int] = mapped_column(AutoId, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id"), index=True)
    dump_id: Mapped[int] = mapped_column(ForeignKey("dumps.id"))
    ordinal: Mapped[int] = mapped_column(Integer)
    source: Mapped[str] = mapped_column(String(200))
    url: Mapped[str | None] = mapped_column(Text)
    locator: Mapped[str] = mapped_column(Text)
    title: Mapped[str] = mapped_column(Text)
    published_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    content_hash: Mapped[str] = mapped_column(String(64))
    duplicate_of: Mapped[int] = mapped_column(ForeignKey("articles.id"), index=True)
    method: Mapped[str] = mapped_column(String(10))
    measure: Mapped[str] = mapped_column(String(12))
    relation: Mapped[str | None] = mapped_column(String(12))
    similarity: Mapped[float] = mapped_column(Float)
    ingested_at: Mapped[datetime] = mapped_column(UtcDateTime, server_default=text("CURRENT_TIMESTAMP"))
    # the dropped record's body, zlib-compressed UTF-8 (etl.textdiff.pack), so explain can
    # diff it against the kept article without the dump; NULL on rows loaded before it was kept
    body_z: Mapped[bytes | None] = mapped_column(LargeBinary)


class RejectRow(Base):
    """One record that could not be parsed or validated, with a reason for people."""

    __tablename__ = "rejects"
    __table_args__ = (UniqueConstraint("dump_id", "ordinal"),)

    id: Mapped[int] = mapped_column(AutoId, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id"), index=True)
    dump_id: Mapped[int | None] = mapped_column(ForeignKey("dumps.id"))
    ordinal: Mapped[int] = mapped_column(Integer)
    source: Mapped[str] = mapped_column(String(200))
    locator: Mapped[str] = mapped_column(Text)
    reason_code: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str] = mapped_column(Text)
    raw: Mapped[str] = mapped_column(Text)
    ingested_at: Mapped[datetime] = mapped_column(UtcDateTime, server_default=text("CURRENT_TIMESTAMP"))


class LshBand(Base):
    """The persistent LSH index: one row per (band key, article).

    Derived data, written in the same transaction as its article. No foreign key:
    a per-row referential check would multiply the cost of loading ~32 rows per article.
    """

    __tablename__ = "lsh_bands"

    band_key: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    article_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)


class ArticleSignature(Base):
    """The MinHash signature of a kept article (little-endian hash values)."""

    __tablename__ = "article_signatures"

    article_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    signature: Mapped[bytes] = mapped_column(LargeBinary)


class IndexSetting(Base):
    """Key/value facts about the stored index, e.g. the dedup settings fingerprint."""

    __tablename__ = "index_settings"

    key: Mapped[str] = mapped_column(String(50), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


Index("ix_lsh_bands_article_id", LshBand.article_id)


class Partition(Base):
    """One logical day of one source, as backfills and scheduled runs see it.

    ``status``: pending, running, done, empty (no dump for that day), failed or
    abandoned (its run died); counts are those of the run that last loaded it.
    ``run_id`` is the run of the latest attempt, NULL when that attempt failed
    before its run was recorded.
    """

    __tablename__ = "partitions"
    __table_args__ = (
        UniqueConstraint("source", "day"),
        CheckConstraint(states.one_of("status", states.PARTITION_STATES), name="status"),
    )

    id: Mapped[int] = mapped_column(AutoId, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(String(200))
    day: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(20), default=states.PARTITION_PENDING)
    run_id: Mapped[str | None] = mapped_column(ForeignKey("runs.id"))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    records: Mapped[int] = mapped_column(Integer, default=0)
    articles: Mapped[int] = mapped_column(Integer, default=0)
    exact_duplicates: Mapped[int] = mapped_column(Integer, default=0)
    near_duplicates: Mapped[int] = mapped_column(Integer, default=0)
    rejects: Mapped[int] = mapped_column(Integer, default=0)
    note: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
