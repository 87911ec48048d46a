"""One exception tree, so callers (and Prefect retries) decide by type.

``TransientError`` means "trying again may succeed" (a dropped connection, a
lock timeout); ``TerminalError`` means it will not (a bad config, an
incompatible index). Exceptions carry the structured context a person needs.
"""

from __future__ import annotations


class EtlError(Exception):
    """Root of every error newsetl raises on purpose."""


class TransientError(EtlError):
    """A failure worth retrying."""


class TerminalError(EtlError):
    """A failure that retrying will not fix."""


class ConfigError(TerminalError):
    """The configuration is invalid; the message names the bad key and how to fix it."""


class IndexMismatchError(TerminalError):
    """Stored signatures were made with other dedup settings than the current ones."""


def is_transient(exc: BaseException) -> bool:
    """True for errors worth a retry, including database disconnects and lock timeouts."""
    if isinstance(exc, TransientError):
        return True
    try:
        from sqlalchemy.exc import DBAPIError
    except ImportError:  # pragma: no cover
        return False
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)
