"""What the stored history hands the matcher about a candidate, before any text.

A type of its own so that the warehouse index (which builds it) and the matcher
(which reads it) share it without the warehouse depending on the matcher.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class StoredHead:
    """What the warehouse returns of a stored candidate before any text: hash, headline, time."""

    content_hash: str
    title: str
    published_at: object
