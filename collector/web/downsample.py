"""Downsampling and gap finding for time-series views, pure functions over plain tuples.

A zoomed-out chart of a month has ~43 000 one-minute points but ~1000 pixels: each bucket
keeps min, max and mean so a spike or an anode effect stays visible instead of being
averaged away. The SQL path in ``source.py`` computes the same buckets inside SQLite; this
module is the reference, used for small ranges and in tests.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass, field

DEFAULT_BUCKETS = 1000
MAX_BUCKETS = 10_000


@dataclass(slots=True)
class Series:
    """Columnar series as the API returns it: one entry per bucket (or per reading)."""

    t: list[int] = field(default_factory=list)  # bucket centre (or reading time), epoch ms
    mean: list[float | None] = field(default_factory=list)
    min: list[float | None] = field(default_factory=list)
    max: list[float | None] = field(default_factory=list)
    n: list[int] = field(default_factory=list)  # readings with a value
    flagged: list[int] = field(default_factory=list)  # readings whose quality is not good
    bucket_ms: int = 0  # 0: raw readings, not downsampled

    @property
    def downsampled(self) -> bool:
        return self.bucket_ms > 0

    def as_dict(self) -> dict[str, object]:
        return {
            "downsampled": self.downsampled,
            "bucket_ms": self.bucket_ms,
            "t": self.t,
            "mean": self.mean,
            "min": self.min,
            "max": self.max,
            "n": self.n,
            "flagged": self.flagged,
        }


def bucket_width(start: int, end: int, buckets: int) -> int:
    """Bucket width in ms (at least 1) so that ``buckets`` buckets cover ``[start, end)``."""
    return max(1, -(-(end - start) // max(1, buckets)))


def downsample(
    rows: Iterable[tuple[int, float | None, str]], start: int, end: int, buckets: int
) -> Series:
    """One pass over ``(ts, value, quality)`` rows sorted by time; raw if they fit in ``buckets``."""
    materialised = list(rows)
    out = Series()
    if len(materialised) <= buckets:
        for ts, value, quality in materialised:
            out.t.append(ts)
            out.mean.append(value)
            out.min.append(value)
            out.max.append(value)
            out.n.append(0 if value is None else 1)
            out.flagged.append(0 if quality == "good" else 1)
        return out
    width = bucket_width(start, end, buckets)
    out.bucket_ms = width
    current = -1
    total = 0.0
    for ts, value, quality in materialised:
        b = (ts - start) // width
        if b != current:
            if current >= 0:
                out.mean[-1] = total / out.n[-1] if out.n[-1] else None
            current = b
            total = 0.0
            out.t.append(start + b * width + width // 2)
            out.mean.append(None)
            out.min.append(None)
            out.max.append(None)
            out.n.append(0)
            out.flagged.append(0)
        if quality != "good":
            out.flagged[-1] += 1
        if value is None:
            continue
        total += value
        out.n[-1] += 1
        lo, hi = out.min[-1], out.max[-1]
        if lo is None or value < lo:
            out.min[-1] = value
        if hi is None or value > hi:
            out.max[-1] = value
    if current >= 0:
        out.mean[-1] = total / out.n[-1] if out.n[-1] else None
    return out


def find_gaps(
    times: Iterable[int], start: int, end: int, interval_ms: int, *, edges: bool = False
) -> list[tuple[int, int]]:
    """Spans longer than 1.5 intervals without a reading, as ``(last seen, next seen)``.

    With ``edges`` the stretch before the first and after the last reading inside the range
    counts too (used when the range lies inside the series' known coverage).
    """
    limit = interval_ms * 3 // 2
    gaps: list[tuple[int, int]] = []
    prev: int | None = start if edges else None
    for ts in times:
        if prev is not None and ts - prev > limit:
            gaps.append((prev, ts))
        prev = ts
    if edges and prev is not None and end - prev > limit:
        gaps.append((prev, end))
    return gaps


def typical_interval(times: list[int], default_ms: int = 60_000) -> int:
    """The median spacing of the first readings: the series' nominal interval."""
    diffs = sorted(b - a for a, b in itertools.pairwise(times) if b > a)
    if not diffs:
        return default_ms
    return diffs[len(diffs) // 2]
