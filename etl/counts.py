"""What loading did, in numbers: one batch's counts, or a dump's or a run's sums.

Its own module because the loader produces them while the summary, the progress
display and the flows only read them; none of those should import the loader.
"""

from __future__ import annotations

from dataclasses import dataclass, fields


@dataclass(slots=True)
class BatchCounts:
    """What one batch (or a sum of batches) did; ``records`` = the other four."""

    records: int = 0
    articles: int = 0
    exact_duplicates: int = 0
    near_duplicates: int = 0
    rejects: int = 0
    already_loaded: int = 0
    replaced: int = 0  # stored copies that a preferred record replaced (policy longest/latest)

    def __iadd__(self, other: BatchCounts) -> BatchCounts:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))
        return self

    @property
    def duplicates(self) -> int:
        return self.exact_duplicates + self.near_duplicates
