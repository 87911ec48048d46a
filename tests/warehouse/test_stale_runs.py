"""Telling a live run from a dead one: stale ``running`` rows become ``abandoned``.

Before, a killed run kept its ``runs`` row ``running`` and its dump ``loading``
forever, and nothing could tell it from a run still at work.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta

from sqlalchemy import insert, select, update

from etl.warehouse import ledger
from etl.warehouse.migrate import upgrade
from etl.warehouse.models import Dump, Partition, Run


def _run(engine, run_id: str, **values) -> None:
    row = {
        "id": run_id,
        "kind": "ingest",
        "parameters": {},
        "status": "running",
        "started_at": ledger.utcnow(),
        "heartbeat_at": ledger.utcnow(),
        "host": ledger.this_host(),
        **values,
    }
    with engine.begin() as conn:
        conn.execute(insert(Run).values(**row))


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_only_runs_whose_process_is_gone_or_silent_are_abandoned(engine) -> None:
    upgrade(engine)
    _run(engine, "dead-pid", pid=_dead_pid())
    _run(engine, "live-pid", pid=os.getppid())  # our parent: alive
    _run(engine, "elsewhere-fresh", host="other-host", pid=1)
    _run(
        engine,
        "elsewhere-silent",
        host="other-host",
        pid=1,
        heartbeat_at=ledger.utcnow() - timedelta(hours=1),
    )
    _run(engine, "this-process-not-ours", pid=os.getpid())
    ledger.start_run(engine, "this-process-ours", "ingest", {})
    claim = dict(source="s", size=1, fmt="jsonl")
    ledger.claim_dump(engine, location="a", sha256="a" * 64, run_id="dead-pid", **claim)
    ledger.claim_dump(engine, location="b", sha256="b" * 64, run_id="live-pid", **claim)
    with engine.begin() as conn:
        conn.execute(
            insert(Partition).values(
                source="s", day=ledger.utcnow().date(), status="running", run_id="dead-pid", attempts=1,
                records=0, articles=0, exact_duplicates=0, near_duplicates=0, rejects=0,
            )
        )  # fmt: skip

    abandoned = ledger.abandon_stale_runs(engine)

    assert abandoned == sorted(["dead-pid", "elsewhere-silent", "this-process-not-ours"])
    with engine.connect() as conn:
        runs = dict(conn.execute(select(Run.id, Run.status)).all())
        dumps = dict(conn.execute(select(Dump.location, Dump.status)).all())
        part = conn.execute(select(Partition.status)).scalar_one()
        why = conn.execute(select(Run.error).where(Run.id == "dead-pid")).scalar_one()
    assert runs == {
        "dead-pid": "abandoned",
        "live-pid": "running",
        "elsewhere-fresh": "running",
        "elsewhere-silent": "abandoned",
        "this-process-not-ours": "abandoned",
        "this-process-ours": "running",
    }
    assert "is gone" in why
    assert dumps == {"a": "abandoned", "b": "loading"}
    assert part == "abandoned"

    # an abandoned dump is resumable: the next claim makes it this run's to load
    state = ledger.claim_dump(engine, location="a", sha256="a" * 64, run_id="this-process-ours", **claim)
    assert state.status == "abandoned"  # as found; the row is now this run's
    with engine.connect() as conn:
        assert conn.execute(select(Dump.status).where(Dump.location == "a")).scalar_one() == "loading"
    ledger.finish_run(engine, "this-process-ours", "completed", dumps_read=0, dumps_skipped=0)
    with engine.begin() as conn:
        conn.execute(update(Run).where(Run.id == "live-pid").values(status="completed"))
    assert ledger.abandon_stale_runs(engine) == []
