"""File names and other outside text as storable, printable strings.

POSIX file names are bytes. Python hands a name that is not UTF-8 over as a str
with lone surrogates (``caf\\udce9.jsonl``, PEP 383), which no database driver,
terminal or JSON encoder accepts: one such name used to end a whole run. Every
name that is stored or shown goes through :func:`printable` first, which keeps
valid text as it is and renders each undecodable byte as ``\\xNN``
(``caf\\xe9.jsonl``), the same spelling Python and ``ls -b`` use.
"""

from __future__ import annotations

import os


def printable(text: str) -> str:
    """``text`` unchanged when it is valid Unicode, else undecodable bytes rendered as ``\\xNN``."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        pass
    try:
        raw = text.encode("utf-8", "surrogateescape")  # the bytes behind an os.fsdecode'd name
    except UnicodeEncodeError:
        # A surrogate that does not stand for a byte (e.g. from a JSON "\ud800" escape).
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return raw.decode("utf-8", "backslashreplace")


def printable_path(path: str | bytes | os.PathLike) -> str:
    """A file name for people and for the ledger (bytes paths included)."""
    return printable(os.fsdecode(path))


def dump_name(location: str) -> str:
    """The short name people know a dump by: a path's file name, a URL's last path segment.

    ``https://host/feeds/crawl.jsonl?day=3`` -> ``crawl.jsonl``; a location without
    one (``https://host/``) stays whole. Credentials never reach it (they sit before the path).
    """
    name = location.split("?", 1)[0].split("#", 1)[0].rstrip("/").rsplit("/", 1)[-1]
    return printable(name or location)
