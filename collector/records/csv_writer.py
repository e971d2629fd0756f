"""``readings.csv``: the month's interval values, one row per record interval.

Columns: ``interval_start``, ``interval_end`` (local ISO 8601 with offset), then one column
per parameter (record order) holding the interval value the record used — measured, or
substituted — empty when there is none, and ``substituted`` / ``invalid`` listing the ids
whose interval was substituted / invalid. Key parameters nobody measured (``not_measured``)
have no column: they have no interval values, and listing them as invalid in every row
would read as data loss. Signals are not interval data of the record and are not here. Wide rather than long so a month at one-minute
resolution (44,640 rows) still opens in a spreadsheet; the raw readings themselves are in
``batches.jsonl``. UTF-8 with BOM so spreadsheet programs show the Chinese header right.
"""

from __future__ import annotations

from pathlib import Path

from protocols.record import RecordComputation, RecordSettings

__all__ = ["write_readings_csv"]


def write_readings_csv(
    path: Path,
    settings: RecordSettings,
    comp: RecordComputation,
    rows: tuple[int, int] | None = None,
) -> None:
    """Write the CSV, or with ``rows=(a, b)`` only intervals ``a ≤ k < b`` (the header and BOM
    only when ``a == 0``): parts for consecutive, non-empty row ranges concatenate to exactly
    the bytes of the whole file."""
    w = settings.window
    iv = settings.interval_ms
    nk = settings.n_intervals
    a, b = (0, nk) if rows is None else rows
    ids = [
        p["id"]
        for p in comp.body["parameters"]
        if p["id"] in comp.series and not any(f["code"] == "not_measured" for f in p["flags"])
    ]
    starts = [w.iso(w.start_ms + k * iv) for k in range(a, b + 1)]
    cols: list[list[str]] = [starts[:-1], starts[1:]]
    subs: list[list[str]] = [[] for _ in range(a, b)]
    invalid: list[list[str]] = [[] for _ in range(a, b)]
    for pid in ids:
        r = comp.series[pid]
        part = r.values[a:b]
        if None in part:
            cols.append(["" if x is None else repr(x) for x in part])
        else:
            cols.append(list(map(repr, part)))
        sub = r.substituted
        valid = r.valid
        for k in [k for k in range(a, b) if not valid[k]]:
            invalid[k - a].append(pid)
            if sub[k]:
                subs[k - a].append(pid)
    cols.append([" ".join(x) for x in subs])
    cols.append([" ".join(x) for x in invalid])
    header = ["interval_start", "interval_end", *ids, "substituted", "invalid"]
    with path.open("w", encoding="utf-8-sig" if a == 0 else "utf-8", newline="") as fh:
        if a == 0:
            fh.write(",".join(header) + "\r\n")
        fh.write("\r\n".join(map(",".join, zip(*cols, strict=True))))
        fh.write("\r\n")
