"""Shared fixtures: a real PostgreSQL database per test, a SQLite file, synthetic dumps.

Postgres comes from ``NEWSETL_TEST_PG_URL`` (default: the local server on
127.0.0.1:5432, user postgres). Each test gets a database of its own, created
and dropped here, so leftovers never change a result. Without a server the
Postgres tests skip, except under ``CI=true`` where they fail.
"""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url

PG_ADMIN_URL = os.environ.get("NEWSETL_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
SHARED_CORPORA = Path(__file__).resolve().parents[2] / "shared" / "corpora"
FIXTURES = Path(__file__).resolve().parent / "fixtures"
PREFECT = str(Path(sys.executable).with_name("prefect"))


def _admin_conninfo() -> str:
    url = make_url(PG_ADMIN_URL)
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def _postgres_available() -> str | None:
    try:
        with psycopg.connect(_admin_conninfo(), connect_timeout=3):
            return None
    except Exception as exc:  # pragma: no cover - depends on the machine
        return str(exc)


@pytest.fixture(scope="session")
def prefect_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One PREFECT_HOME for the CLI runs of a session: its database migrates once."""
    return tmp_path_factory.mktemp("prefect-home")


@pytest.fixture(scope="session")
def postgres_admin() -> str:
    problem = _postgres_available()
    if problem:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true but PostgreSQL is not reachable at {PG_ADMIN_URL}: {problem}")
        pytest.skip(f"PostgreSQL not reachable at {PG_ADMIN_URL}: {problem}")
    return _admin_conninfo()


@pytest.fixture
def pg_url(postgres_admin: str) -> Iterator[str]:
    """A fresh, empty Postgres database for one test, dropped afterwards."""
    name = f"newsetl_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = make_url(PG_ADMIN_URL).set(drivername="postgresql+psycopg", database=name)
    yield url.render_as_string(hide_password=False)
    from etl.warehouse.db import _ENGINES

    for key in [k for k in _ENGINES if name in k]:
        _ENGINES.pop(key).dispose()
    with psycopg.connect(postgres_admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'warehouse.db'}"


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest) -> str:
    """Each warehouse test runs on both backends."""
    if request.param == "sqlite":
        return request.getfixturevalue("sqlite_url")
    return request.getfixturevalue("pg_url")


@pytest.fixture
def engine(db_url: str):
    from etl.warehouse.db import make_engine

    eng = make_engine(db_url)
    yield eng
    eng.dispose()


# --- synthetic news text ---------------------------------------------------------------

_VOCAB = [
    "government",
    "minister",
    "said",
    "talks",
    "agreement",
    "market",
    "prices",
    "energy",
    "oil",
    "gas",
    "ministry",
    "officials",
    "report",
    "week",
    "city",
    "council",
    "plan",
    "budget",
    "election",
    "vote",
    "party",
    "leader",
    "court",
    "ruling",
    "police",
    "investigation",
    "company",
    "shares",
    "profit",
    "quarter",
    "bank",
    "rates",
    "inflation",
    "exports",
    "imports",
    "trade",
    "deal",
    "summit",
    "president",
    "parliament",
    "bill",
    "law",
    "health",
    "hospital",
    "school",
    "teachers",
    "students",
    "research",
    "university",
    "scientists",
    "climate",
    "weather",
    "storm",
    "flood",
    "drought",
    "harvest",
    "farmers",
    "wheat",
    "prices",
    "rail",
    "airport",
    "flights",
    "tourism",
    "museum",
    "exhibition",
    "festival",
    "concert",
    "football",
    "match",
    "season",
    "coach",
    "players",
    "club",
    "stadium",
    "fans",
]


def story(seed: int, words: int = 220) -> str:
    """A deterministic pseudo-article: distinct seeds give unrelated texts (Jaccard ~0)."""
    rng = random.Random(seed)
    sentences, current = [], []
    for i in range(words):
        current.append(rng.choice(_VOCAB) + (str(rng.randint(1, 99)) if i % 7 == 0 else ""))
        if len(current) >= rng.randint(12, 20):
            sentences.append(" ".join(current).capitalize() + ".")
            current = []
    if current:
        sentences.append(" ".join(current).capitalize() + ".")
    paras = [" ".join(sentences[i : i + 3]) for i in range(0, len(sentences), 3)]
    return "\n\n".join(paras)


def edit_words(text: str, count: int, seed: int = 0) -> str:
    """Replace ``count`` words spread over the text: a light edit, still a near-duplicate.

    Figures are left alone, as a copy editor would (a changed figure makes another story).
    """
    tokens = text.split(" ")
    rng = random.Random(seed)
    step = max(1, len(tokens) // (count + 1))
    for k in range(1, count + 1):
        i = k * step
        while any(ch.isdigit() for ch in tokens[i]):
            i += 1
        tokens[i] = "edited" + "".join(rng.choice("abcdefghij") for _ in range(6))
    return " ".join(tokens)


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def news_record(title: str, body: str, day: int = 1, url: str | None = None) -> dict:
    return {
        "title": title,
        "maintext": body,
        "url": url or f"https://example.org/{title.lower().replace(' ', '-')}",
        "date_publish": f"2024-03-{day:02d} 10:00:00",
        "source_domain": "example.org",
        "language": "en",
        "authors": ["Staff"],
        "description": title,
    }


@pytest.fixture
def http_server():
    """A scripted HTTP server on 127.0.0.1 (see tests/httpserver.py)."""
    from tests.httpserver import ScriptedServer

    with ScriptedServer() as server:
        yield server


@pytest.fixture(scope="session")
def prefect_harness():
    """A Prefect test server for the session (about 10 s to start, so once)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture(autouse=True)
def _report_in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Flows write the warehouse report after each run; keep it out of the checkout."""
    monkeypatch.setenv("NEWSETL_REPORT", str(tmp_path / "report.html"))


@pytest.fixture(scope="session")
def private_pg():
    """A PostgreSQL cluster of this test session only, that tests may restart or stop."""
    from tests.pgcluster import PrivatePostgres, pg_bin

    try:
        pg_bin("initdb")
    except FileNotFoundError as exc:  # pragma: no cover - depends on the machine
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(str(exc))
        pytest.skip(str(exc))
    cluster = PrivatePostgres()
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.destroy()


# --- a real `prefect server start` -----------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(check, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except Exception:
            pass
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@pytest.fixture(scope="module")
def prefect_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A `prefect server start` on a free loopback port, one per test module (it takes 10-60 s).

    Yields the settings a client process needs: ``PREFECT_API_URL`` and a
    ``PREFECT_HOME`` of its own (the server's home holds its database). Callers add
    them to an environment from which the caller's own ``PREFECT_*`` are removed.
    """
    import requests

    tmp = tmp_path_factory.mktemp("prefect-server")
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")},
        "PREFECT_HOME": str(tmp / "home"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_LOGGING_LEVEL": "WARNING",
    }
    log = (tmp / "server.log").open("w")
    proc = subprocess.Popen(
        [PREFECT, "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    api = f"http://127.0.0.1:{port}/api"
    try:
        wait_for(lambda: requests.get(f"{api}/health", timeout=2).ok, 180, "the Prefect server")
        yield {"PREFECT_HOME": str(tmp / "client-home"), "PREFECT_API_URL": api}
    finally:
        stop(proc)
        log.close()
