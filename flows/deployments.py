"""Deployments built from config: one scheduled ingest per source with a cron, and a backfill.

``newsetl serve`` serves them from one long-lived process (no work pool needed);
``prefect.yaml`` declares the same deployments for ``prefect deploy --all``.

No deployment carries the database URL as a parameter: parameters are stored by
the Prefect server and shown in its UI and API, password included. Flow runs
take the URL from ``NEWSETL_DATABASE_URL`` in the environment of the process that
runs them (``newsetl serve`` sets it from ``--db``), from the config file, or from
the Prefect Secret block named by ``[warehouse] url_secret_block``.
"""

from __future__ import annotations

from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy
from prefect.schedules import Cron

from etl.sources.config import load_sources
from flows.backfill import backfill
from flows.ingest import ingest

INGEST_FLOW = "ingest"


def deployment_name(source: str) -> str:
    return f"ingest-{source}"


def build_deployments(config_path: str | None = None) -> list:
    """RunnerDeployments for every configured source with a ``cron``, plus ``backfill``."""
    common = {"config_path": config_path}
    one_at_a_time = ConcurrencyLimitConfig(limit=1, collision_strategy=ConcurrencyLimitStrategy.ENQUEUE)
    deployments = []
    for name, src in sorted(load_sources(config_path).items()):
        if not src.cron:
            continue
        deployments.append(
            ingest.to_deployment(
                name=deployment_name(name),
                schedules=[Cron(src.cron, timezone=src.timezone)],
                parameters={"source": name, **common},
                concurrency_limit=one_at_a_time,
                description=f"Scheduled ingest of source {name!r} ({src.cron}, {src.timezone})",
                tags=["newsetl", name],
            )
        )
    # The same flow without a schedule, for manual runs and the per-day runs of a backfill.
    deployments.append(
        ingest.to_deployment(
            name="ingest-manual",
            parameters=common,
            description="Manual or backfill-driven ingest runs (one per source and day)",
            tags=["newsetl"],
        )
    )
    deployments.append(
        backfill.to_deployment(
            name="backfill",
            parameters={**common, "via_deployment": f"{INGEST_FLOW}/ingest-manual"},
            description="Backfill a source over a date range, one ingest run per day",
            tags=["newsetl"],
        )
    )
    return deployments


def taken_by_work_pools(deployments: list) -> list[str]:
    """Names among ``deployments`` that the server already holds as work-pool deployments.

    Serving a deployment of the same name replaces the work-pool one (and its pull
    steps) silently, and its next run from the pool crashes; refuse instead.
    """
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    taken = []
    with get_client(sync_client=True) as client:
        for d in deployments:
            full = f"{d.flow_name}/{d.name}"
            try:
                existing = client.read_deployment_by_name(full)
            except ObjectNotFound:
                continue
            if existing.work_pool_name:
                taken.append(f"{full} (work pool {existing.work_pool_name!r})")
    return taken
