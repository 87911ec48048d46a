"""Fetching a dump over HTTP: streamed, bounded, retried, conditional, and atomic on disk.

A fetch streams into ``<name>.part`` beside its final path, computing sha256 as
bytes arrive, then renames: a crash never leaves a half file that looks whole.
Connection errors, timeouts, truncated bodies, 429 and 5xx are retried with
exponential backoff (``Retry-After`` honoured). A 304 (the ETag or
Last-Modified stored in the ledger still holds) means nothing to do; a 404 means
there is no dump for that date, which is an outcome, not a crash.
Credentials come from environment variables and never appear in logs or errors.
"""

from __future__ import annotations

import email.utils
import hashlib
import logging
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import requests

from etl.errors import ConfigError, TerminalError, TransientError
from etl.sources.config import SourceConfig

log = logging.getLogger("newsetl.http")

CHUNK = 256 * 1024
RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
HTML_START = re.compile(rb"^\s*(<!doctype html|<html|<head|<body)", re.IGNORECASE)
USER_AGENT = "newsetl/0.1 (+https://github.com/newsetl)"


@dataclass(frozen=True, slots=True)
class Validators:
    """What the ledger remembers of the last fetch of a URL."""

    etag: str | None = None
    last_modified: str | None = None


@dataclass(frozen=True, slots=True)
class FetchOutcome:
    """``status`` is ``fetched``, ``not_modified`` or ``missing``; ``path`` is set when fetched.

    ``refusal`` explains why a fetched body is not a dump (an HTML error page,
    say); the pipeline records it as a reject instead of parsing it.
    """

    status: str
    url: str
    path: Path | None = None
    sha256: str | None = None
    size: int = 0
    etag: str | None = None
    last_modified: str | None = None
    content_type: str | None = None
    refusal: str | None = None
    attempts: int = 1


def redact(url: str) -> str:
    """The URL without user:password, for messages."""
    parts = urlsplit(url)
    if parts.username or parts.password:
        netloc = parts.hostname or ""
        if parts.port:
            netloc += f":{parts.port}"
        parts = parts._replace(netloc=netloc)
    return urlunsplit(parts)


SecretResolver = Callable[[str], str]


def _auth(
    src: SourceConfig, resolve_secret: SecretResolver | None = None
) -> tuple[dict[str, str], tuple[str, str] | None]:
    headers: dict[str, str] = {}
    basic = None
    if src.auth_secret_block:
        if resolve_secret is None:
            raise ConfigError(
                f"sources.{src.name}.auth_secret_block needs Prefect to read the secret: "
                "run through the ingest flow (the CLI does), or use auth_header_env"
            )
        headers["Authorization"] = resolve_secret(src.auth_secret_block)
    if src.auth_header_env:
        value = os.environ.get(src.auth_header_env)
        if not value:
            raise ConfigError(
                f"sources.{src.name}.auth_header_env names ${src.auth_header_env}, which is not set"
            )
        headers["Authorization"] = value
    if src.username_env or src.password_env:
        user = os.environ.get(src.username_env or "")
        password = os.environ.get(src.password_env or "")
        if user is None or password is None:
            raise ConfigError(
                f"sources.{src.name}: basic auth needs ${src.username_env} and ${src.password_env} set"
            )
        basic = (user, password)
    return headers, basic


def _retry_after(response: requests.Response | None) -> float | None:
    if response is None:
        return None
    value = response.headers.get("Retry-After")
    if not value:
        return None
    if value.strip().isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def target_path(src: SourceConfig, url: str) -> Path:
    """Where a download lands: ``<download_dir>/<source>/<last URL path segment>``."""
    name = Path(urlsplit(url).path).name or "index"
    return Path(src.download_dir) / src.name / name


def fetch(
    src: SourceConfig,
    url: str,
    previous: Validators | None = None,
    session: requests.Session | None = None,
    sleep=time.sleep,
    resolve_secret: SecretResolver | None = None,
) -> FetchOutcome:
    """Fetch ``url`` for ``src`` (see the module docstring); raises on final failure.

    Raises ``TransientError`` when retries are exhausted on retryable failures
    (a later run may succeed) and ``TerminalError`` for answers that will not change
    (401, 403, 410, a body over ``max_bytes``).
    """
    headers, basic = _auth(src, resolve_secret)
    headers.setdefault("User-Agent", USER_AGENT)
    headers["Accept-Encoding"] = "identity"  # the sha256 is of the dump as served
    if previous and previous.etag:
        headers["If-None-Match"] = previous.etag
    if previous and previous.last_modified:
        headers["If-Modified-Since"] = previous.last_modified
    own_session = session is None
    session = session or requests.Session()
    shown = redact(url)
    attempts = max(1, src.retries + 1)
    try:
        for attempt in range(1, attempts + 1):
            response = None
            try:
                response = session.get(
                    url,
                    headers=headers,
                    auth=basic,
                    stream=True,
                    timeout=(src.connect_timeout, src.read_timeout),
                )
                outcome = _handle(src, url, response, attempt)
                if outcome is not None:
                    return outcome
                problem = f"HTTP {response.status_code}"
            except (requests.ConnectionError, requests.Timeout) as exc:
                problem = f"{type(exc).__name__}: {_first_line(exc)}"
            except requests.exceptions.ChunkedEncodingError as exc:
                problem = f"the body was cut off ({_first_line(exc)})"
            finally:
                if response is not None:
                    response.close()
            if attempt == attempts:
                raise TransientError(f"{shown}: giving up after {attempts} attempts; last: {problem}")
            delay = min(src.max_backoff_seconds, src.backoff_seconds * 2 ** (attempt - 1))
            delay = max(delay, _retry_after(response) or 0.0)
            log.warning(
                "%s: %s; retrying in %.1f s (attempt %d/%d)", shown, problem, delay, attempt, attempts
            )
            sleep(delay)
    finally:
        if own_session:
            session.close()
    raise AssertionError("unreachable")  # pragma: no cover


def _first_line(exc: Exception) -> str:
    return str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__


def _handle(src: SourceConfig, url: str, response: requests.Response, attempt: int) -> FetchOutcome | None:
    """A final outcome, or None when the status is worth a retry."""
    shown = redact(url)
    status = response.status_code
    if status == 304:
        return FetchOutcome("not_modified", url, attempts=attempt)
    if status in (404,):
        return FetchOutcome("missing", url, attempts=attempt)
    if status in RETRY_STATUSES:
        return None
    if status in (401, 403):
        raise TerminalError(f"{shown}: HTTP {status}: access refused; check the source's credentials")
    if status >= 400:
        raise TerminalError(f"{shown}: HTTP {status} {response.reason}")
    declared = response.headers.get("Content-Length")
    if declared and declared.isdigit() and int(declared) > src.max_bytes:
        raise TerminalError(
            f"{shown}: the dump is {int(declared):,} bytes, over sources.{src.name}.max_bytes "
            f"({src.max_bytes:,})"
        )
    final = target_path(src, url)
    final.parent.mkdir(parents=True, exist_ok=True)
    part = final.with_name(final.name + ".part")
    digest = hashlib.sha256()
    size = 0
    head = b""
    try:
        with part.open("wb") as out:
            for chunk in response.iter_content(CHUNK):
                size += len(chunk)
                if size > src.max_bytes:
                    raise TerminalError(
                        f"{shown}: stopped after {size:,} bytes, over sources.{src.name}.max_bytes "
                        f"({src.max_bytes:,})"
                    )
                if len(head) < 1024:
                    head += chunk[: 1024 - len(head)]
                digest.update(chunk)
                out.write(chunk)
        os.replace(part, final)
    finally:
        part.unlink(missing_ok=True)
    content_type = response.headers.get("Content-Type", "")
    return FetchOutcome(
        "fetched",
        url,
        path=final,
        sha256=digest.hexdigest(),
        size=size,
        etag=response.headers.get("ETag"),
        last_modified=response.headers.get("Last-Modified"),
        content_type=content_type,
        refusal=_refusal(url, content_type, head),
        attempts=attempt,
    )


def _refusal(url: str, content_type: str, head: bytes) -> str | None:
    """Why a 200 body is not a dump, if it is an HTML page where a dump was expected."""
    wants_html = urlsplit(url).path.lower().endswith((".html", ".htm"))
    looks_html = bool(HTML_START.match(head))
    if wants_html:
        return None
    if "text/html" in content_type.lower() or looks_html:
        return (
            f"the server answered {redact(url)} with an HTML page "
            f"(Content-Type {content_type or 'not given'}), not a dump: probably an error or "
            "login page; nothing was parsed"
        )
    return None
