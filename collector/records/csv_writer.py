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


def write_readings_csv(path: Path, settings: RecordSettings, comp: RecordComputation) -> None:
    w = settings.window
    iv = settings.interval_ms
    nk = settings.n_intervals
    ids = [
        p["id"]
        for p in comp.body["parameters"]
        if p["id"] in comp.series and not any(f["code"] == "not_measured" for f in p["flags"])
    ]
    starts = [w.iso(w.start_ms + k * iv) for k in range(nk + 1)]
    cols: list[list[str]] = [starts[:-1], starts[1:]]
    subs: list[list[str]] = [[] for _ in range(nk)]
    invalid: list[list[str]] = [[] for _ in range(nk)]
    for pid in ids:
        r = comp.series[pid]
        cols.append(["" if x is None else repr(x) for x in r.values])
        sub = r.substituted
        for k in [k for k, ok in enumerate(r.valid) if not ok]:
            invalid[k].append(pid)
            if sub[k]:
                subs[k].append(pid)
    cols.append([" ".join(x) for x in subs])
    cols.append([" ".join(x) for x in invalid])
    header = ["interval_start", "interval_end", *ids, "substituted", "invalid"]
    with path.open("w", encoding="utf-8-sig", newline="") as fh:
        fh.write(",".join(header) + "\r\n")
        fh.write("\r\n".join(map(",".join, zip(*cols, strict=True))))
        fh.write("\r\n")
