"""URL credentials carried beside a run, never through its parameters.

Whatever is passed to the ingest flow is stored by Prefect as flow-run
parameters, and the run's ``locations`` end up in ``runs.parameters``. So a URL
with ``user:password@`` is handed over redacted, and its full form is kept here,
in the memory of the process that runs the fetch: ``hold`` before the handover,
``reveal`` at the fetch. Nothing is written anywhere.
"""

from __future__ import annotations

import threading

from etl.redact import has_userinfo, redact_url

_held: dict[str, str] = {}
_lock = threading.Lock()


def hold(url: str) -> str:
    """Remember ``url``'s credentials for this process; returns the redacted URL to pass on."""
    shown = redact_url(url)
    if has_userinfo(url):
        with _lock:
            _held[shown] = url
    return shown


def reveal(url: str) -> str:
    """The URL to fetch: with the credentials held for it, if any (``url`` itself otherwise)."""
    if has_userinfo(url):
        return url
    with _lock:
        return _held.get(url, url)


def forget(url: str) -> None:
    with _lock:
        _held.pop(redact_url(url), None)
