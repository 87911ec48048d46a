"""Fetching a dump over HTTP: streamed, bounded, retried, conditional, and atomic on disk.

A fetch streams into ``<name>.<random>.part`` beside its final path, computing sha256 as
bytes arrive, then renames: a crash never leaves a half file that looks whole.
Connection errors, timeouts, truncated bodies, 429 and 5xx are retried with
exponential backoff (``Retry-After`` honoured), and so is an attempt that
outlives ``total_timeout`` (a server dripping bytes just under the read timeout
would otherwise hold a fetch forever). Redirects are followed to http(s) only;
credentials are not sent on to another host (requests drops the Authorization
header when the host changes). A 304 (the ETag or
Last-Modified stored in the ledger still holds) means nothing to do; a 404 means
there is no dump for that date, which is an outcome, not a crash.
Credentials come from environment variables or the URL's userinfo and never
appear in logs, errors or the ledger (see etl.redact).

Each URL downloads to its own file, ``<download_dir>/<source>/<hash>-<name>``,
where the hash is of the (redacted) URL: two URLs ending in the same name never
overwrite each other, and the name keeps its extension for format detection.
"""

from __future__ import annotations

import email.utils
import hashlib
import logging
import os
import re
import time
import uuid
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import requests
import urllib3

from etl.errors import ConfigError, TerminalError, TransientError
from etl.redact import redact_text, redact_url
from etl.sources.config import HttpSource

log = logging.getLogger("newsetl.http")

CHUNK = 256 * 1024
RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
HTML_START = re.compile(rb"^\s*(<!doctype html|<html|<head|<body)", re.IGNORECASE)
GZIP_MAGIC = b"\x1f\x8b"
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
    """The URL without user:password, for messages (see etl.redact)."""
    return redact_url(url)


SecretResolver = Callable[[str], str]


def _auth(
    src: HttpSource, resolve_secret: SecretResolver | None = None
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


class DeadlineExceeded(Exception):
    """An attempt took longer than ``total_timeout``: retried like a timeout."""


class CutBody(Exception):
    """The body arrived with HTTP framing intact but its content is cut: retried."""


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
NAME_MAX = 100


def target_path(src: HttpSource, url: str) -> Path:
    """Where a download of ``url`` lands: ``<download_dir>/<source>/<hash>-<last path segment>``.

    The hash (of the redacted URL, so no password can be recovered from a file
    name) keeps two URLs with the same last segment apart; the segment keeps
    the extension that format detection reads. The result is checked to lie
    inside ``download_dir`` whatever the source name or URL says.
    """
    shown = redact_url(url)
    tag = hashlib.sha256(shown.encode("utf-8")).hexdigest()[:12]
    name = _UNSAFE.sub("_", Path(urlsplit(url).path).name).lstrip(".")[-NAME_MAX:] or "index"
    root = Path(src.download_dir).resolve()
    final = (root / src.name / f"{tag}-{name}").resolve()
    if not final.is_relative_to(root) or final == root:
        raise ConfigError(
            f"sources.{src.name}: download path {final} is outside download_dir {root}; refused"
        )
    return final


def fetch(
    src: HttpSource,
    url: str,
    previous: Validators | None = None,
    session: requests.Session | None = None,
    sleep=time.sleep,
    resolve_secret: SecretResolver | None = None,
) -> FetchOutcome:
    """Fetch ``url`` for ``src`` (see the module docstring); raises on final failure.

    Raises ``TransientError`` when retries are exhausted on retryable failures
    (a later run may succeed) and ``TerminalError`` for answers that will not change
    (401, 403, 410, a body over ``max_bytes``, a redirect to a non-HTTP URL).
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
    shown = redact_url(url)
    attempts = max(1, src.retries + 1)
    try:
        for attempt in range(1, attempts + 1):
            response = None
            deadline = time.monotonic() + src.total_timeout
            try:
                response = session.get(
                    url,
                    headers=headers,
                    auth=basic,
                    stream=True,
                    timeout=(src.connect_timeout, src.read_timeout),
                )
                outcome = _handle(src, url, response, attempt, deadline)
                if outcome is not None:
                    return outcome
                problem = f"HTTP {response.status_code}"
            except DeadlineExceeded:
                problem = (
                    f"no complete answer within sources.{src.name}.total_timeout ({src.total_timeout:g} s)"
                )
            except (requests.ConnectionError, requests.Timeout) as exc:
                problem = f"{type(exc).__name__}: {_first_line(exc)}"
            except (
                requests.exceptions.ChunkedEncodingError,
                requests.exceptions.ContentDecodingError,
                CutBody,
            ) as exc:
                problem = f"the body was cut off ({_first_line(exc)})"
            except requests.exceptions.InvalidSchema as exc:
                # Only http(s) adapters are mounted: a redirect elsewhere (file://...) ends here.
                raise TerminalError(
                    f"{shown}: redirected to a URL that is not http(s); refused ({_first_line(exc)})"
                ) from None
            except requests.RequestException as exc:
                raise TerminalError(f"{shown}: {type(exc).__name__}: {_first_line(exc)}") from None
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
    """The first line of an exception's message, with any URL credentials removed."""
    return redact_text(str(exc).splitlines()[0][:200]) if str(exc) else type(exc).__name__


def _body(response: requests.Response, deadline: float, raw_gzip: bool) -> Iterator[bytes]:
    """The body as it arrives, checking the attempt's deadline between reads.

    ``read1`` returns whatever one socket read brings (``iter_content`` would block
    until a whole chunk came), so a dripping server is noticed within one
    ``read_timeout`` of the deadline. Errors are mapped as ``iter_content`` does.
    """
    raw = response.raw
    try:
        while True:
            if time.monotonic() > deadline:
                raise DeadlineExceeded
            chunk = raw.read1(CHUNK, decode_content=not raw_gzip)
            if not chunk:
                return
            yield chunk
    except urllib3.exceptions.ReadTimeoutError as exc:
        raise requests.ConnectionError(exc) from None
    except urllib3.exceptions.DecodeError as exc:
        raise requests.exceptions.ContentDecodingError(exc) from None
    except urllib3.exceptions.ProtocolError as exc:
        raise requests.exceptions.ChunkedEncodingError(exc) from None


class _GzipCheck:
    """Follows a gzip stream as it is written, to tell whether it ends where gzip says it does.

    A cut gzip body with an honest Content-Length (a half-written ``.gz`` served
    whole, or a gzip Content-Encoding stream cut short) looks complete to HTTP;
    loading it would load part of the dump. Decompressed output is discarded.
    """

    def __init__(self) -> None:
        self._d = zlib.decompressobj(31)
        self._members = 0  # members that reached their end marker
        self._done = False  # stop checking: damaged, or padding after a whole member
        self.damaged = False

    def feed(self, data: bytes) -> None:
        while data and not self._done:
            try:
                self._d.decompress(data, CHUNK)
            except zlib.error:
                self._done = True
                self.damaged = self._members == 0
                return
            data = self._d.unconsumed_tail
            if self._d.eof:
                data = self._d.unused_data + data
                if data:  # gzip files may hold several members
                    self._members += 1
                    self._d = zlib.decompressobj(31)

    @property
    def complete(self) -> bool:
        if self._done:
            return not self.damaged
        return self._d.eof


def _handle(
    src: HttpSource, url: str, response: requests.Response, attempt: int, deadline: float
) -> FetchOutcome | None:
    """A final outcome, or None when the status is worth a retry."""
    shown = redact_url(url)
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
    # A gzip Content-Encoding is kept as served (readers open gzip by its magic bytes),
    # so the check below sees the compressed stream and a cut one is caught.
    raw_gzip = response.headers.get("Content-Encoding", "").strip().lower() in ("gzip", "x-gzip")
    final = target_path(src, url)
    final.parent.mkdir(parents=True, exist_ok=True)
    # One .part per attempt: overlapping runs fetching the same URL never write into one file.
    part = final.with_name(f"{final.name}.{uuid.uuid4().hex[:12]}.part")
    digest = hashlib.sha256()
    size = 0
    head = b""
    gz: _GzipCheck | None = None
    try:
        with part.open("wb") as out:
            for chunk in _body(response, deadline, raw_gzip):
                size += len(chunk)
                if size > src.max_bytes:
                    raise TerminalError(
                        f"{shown}: stopped after {size:,} bytes, over sources.{src.name}.max_bytes "
                        f"({src.max_bytes:,})"
                    )
                digest.update(chunk)
                out.write(chunk)
                before = head[: size - len(chunk)]  # bytes of earlier chunks, when the head holds them
                if len(head) < 1024:
                    head += chunk[: 1024 - len(head)]
                if gz is not None:
                    gz.feed(chunk)
                elif size - len(chunk) < 2 <= size and head.startswith(GZIP_MAGIC):
                    gz = _GzipCheck()
                    gz.feed(before + chunk)
            if gz is not None and not gz.complete:
                raise CutBody("the gzip stream ends before its end marker")
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
