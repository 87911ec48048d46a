"""The values the warehouse's status and method columns may hold.

The code that writes these columns and the CHECK constraints in
etl.warehouse.models both take their values from here, so a state cannot be
written that the schema refuses (a new value also needs a migration: the
models-match-migrations test compares the constraints with the database).
"""

from __future__ import annotations

# runs.status
RUN_RUNNING = "running"
RUN_COMPLETED = "completed"
RUN_FAILED = "failed"
RUN_ABANDONED = "abandoned"  # its process died (etl.warehouse.ledger.abandon_stale_runs)
RUN_STATES = (RUN_RUNNING, RUN_COMPLETED, RUN_FAILED, RUN_ABANDONED)

# dumps.status (anything but DUMP_DONE is resumable from records_done)
DUMP_LOADING = "loading"
DUMP_DONE = "done"
DUMP_FAILED = "failed"
DUMP_ABANDONED = "abandoned"
# read, but the format of the dump or of some member could not be told: a later run reads those again
DUMP_UNKNOWN_FORMAT = "unknown_format"
DUMP_STATES = (DUMP_LOADING, DUMP_DONE, DUMP_FAILED, DUMP_ABANDONED, DUMP_UNKNOWN_FORMAT)

# partitions.status
PARTITION_PENDING = "pending"
PARTITION_RUNNING = "running"
PARTITION_DONE = "done"
PARTITION_EMPTY = "empty"  # no dump for that day
PARTITION_FAILED = "failed"
PARTITION_ABANDONED = "abandoned"  # the run loading it died
PARTITION_STATES = (
    PARTITION_PENDING,
    PARTITION_RUNNING,
    PARTITION_DONE,
    PARTITION_EMPTY,
    PARTITION_FAILED,
    PARTITION_ABANDONED,
)

# duplicates.method: how the dropped record was matched (etl.dedup.matcher's Decision.action)
EXACT = "exact"  # same normalised text (content hash)
NEAR = "near"  # near-duplicate text (MinHash/LSH candidates, verified)
DUPLICATE_METHODS = (EXACT, NEAR)


def one_of(column: str, values: tuple[str, ...]) -> str:
    """SQL for ``column IN ('a', 'b')``: the body of a CHECK constraint over ``values``."""
    return f"{column} IN ({', '.join(repr(v) for v in values)})"
