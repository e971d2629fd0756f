"""Monthly records and their versions as the web layer reads them, and bundle zips.

The record builder writes each version as a bundle directory holding ``record.json``.
``BundleDirRecords`` finds them by scanning a records directory for ``record.json`` files
and reading site, month and version from the JSON itself, so it does not depend on how the
builder names its folders. Zips are streamed from disk in chunks, never built in memory.
"""

from __future__ import annotations

import json
import os
import re
import threading
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from collector.models import RecordVersion
from collector.store.interface import RecordStore


class RecordsReader(Protocol):
    def versions(self, site: str, month: str | None = None) -> list[RecordVersion]:
        """Versions of a site's records, newest month first, then newest version first."""
        ...

    def record(self, version: RecordVersion) -> dict[str, Any]: ...


class NoRecords:
    """No records directory configured: every site simply has no records yet."""

    def versions(self, site: str, month: str | None = None) -> list[RecordVersion]:
        return []

    def record(self, version: RecordVersion) -> dict[str, Any]:
        raise FileNotFoundError(bundle_path(version) / "record.json")


class BundleDirRecords:
    """Records found as bundle directories below ``root`` (any layout, depth ≤ 5)."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)
        self._lock = threading.Lock()
        self._cache: dict[Path, tuple[float, RecordVersion | None]] = {}

    def _scan(self) -> list[RecordVersion]:
        found: list[RecordVersion] = []
        if not self.root.is_dir():
            return found
        base_depth = len(self.root.parts)
        for dirpath, dirnames, filenames in os.walk(self.root):
            if len(Path(dirpath).parts) - base_depth >= 5:
                dirnames.clear()
            if "record.json" not in filenames:
                continue
            path = Path(dirpath) / "record.json"
            try:
                mtime = path.stat().st_mtime
            except OSError:
                continue
            with self._lock:
                cached = self._cache.get(path)
            if cached is None or cached[0] != mtime:
                cached = (mtime, _read_version(path))
                with self._lock:
                    self._cache[path] = cached
            if cached[1] is not None:
                found.append(cached[1])
        return found

    def versions(self, site: str, month: str | None = None) -> list[RecordVersion]:
        out = [v for v in self._scan() if v.site == site and (month is None or v.month == month)]
        out.sort(key=lambda v: (v.month, v.version), reverse=True)
        return out

    def record(self, version: RecordVersion) -> dict[str, Any]:
        data: dict[str, Any] = json.loads((bundle_path(version) / "record.json").read_bytes())
        return data


def _read_version(path: Path) -> RecordVersion | None:
    try:
        data = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("site"), str):
        return None
    month = data.get("month")
    if not isinstance(month, str):
        return None
    version = data.get("version", 1)
    if isinstance(version, dict):  # {"number": N, "reason": ...} style
        reason = version.get("reason")
        created = version.get("created_at") or version.get("built_at")
        version = version.get("number", version.get("version", 1))
    else:
        reason = data.get("reason") or data.get("version_reason")
        created = data.get("created_at") or data.get("built_at") or data.get("generated_at")
    if "version" not in data:
        # The builder names each version's directory SITE_YYYY-MM_vN (collector.records.bundle).
        m = re.search(r"_v(\d+)$", path.parent.name)
        version = int(m.group(1)) if m else 1
        meta = _sidecar(path.parent)
        reason = reason or meta.get("reason")
        created = created or meta.get("created_at") or meta.get("built_at")
    try:
        number = int(version)
    except (TypeError, ValueError):
        number = 1
    return RecordVersion(
        site=data["site"],
        month=month,
        version=number,
        created=_iso_ms(created),
        reason=None if reason is None else str(reason),
        record_sha256=None,
        bundle_dir=str(path.parent),
        in_store=False,
    )


def _iso_ms(text: object) -> int | None:
    """An ISO 8601 time from record.json as UTC epoch ms (None if absent or unreadable)."""
    if not isinstance(text, str):
        return None
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp() * 1000)


def bundle_path(version: RecordVersion) -> Path:
    """The bundle directory of a version (one that cannot exist when none is recorded)."""
    return Path(version.bundle_dir) if version.bundle_dir else Path("/nonexistent")


def _sidecar(directory: Path) -> dict[str, Any]:
    """Version metadata written beside record.json, if the builder keeps any."""
    for name in ("version.json", "meta.json"):
        try:
            data = json.loads((directory / name).read_bytes())
        except (OSError, ValueError):
            continue
        if isinstance(data, dict):
            return data
    return {}


class StoreRecords:
    """Record versions from the evidence store (``store.records``, the exact signed
    record.json bytes) plus bundle directories under ``fallback`` the store does not list."""

    def __init__(self, records: RecordStore, fallback: RecordsReader | None = None) -> None:
        self.records = records
        self.fallback = fallback or NoRecords()

    def versions(self, site: str, month: str | None = None) -> list[RecordVersion]:
        found = {(v.month, v.version): v for v in self.fallback.versions(site, month)}
        for v in self.records.list(site, month):
            found[(v.month, v.version)] = v
        return sorted(found.values(), key=lambda v: (v.month, v.version), reverse=True)

    def record(self, version: RecordVersion) -> dict[str, Any]:
        if not version.in_store:
            return self.fallback.record(version)
        files = self.records.files(version.site, version.month, version.version)
        if files is None:
            raise FileNotFoundError(f"record {version.site} {version.month} v{version.version}")
        data: dict[str, Any] = json.loads(files[0])
        return data


def records_for(root: Path | str | None, records: RecordStore | None = None) -> RecordsReader:
    """The store's records (when given) plus bundle directories under ``root``."""
    dirs: RecordsReader = BundleDirRecords(root) if root is not None else NoRecords()
    return StoreRecords(records, dirs) if records is not None else dirs


class _Pipe:
    """A write-only file object that hands out what ``zipfile`` wrote since the last read."""

    def __init__(self) -> None:
        self.buf = bytearray()
        self.pos = 0

    def write(self, data: bytes) -> int:
        self.buf += data
        self.pos += len(data)
        return len(data)

    def tell(self) -> int:
        return self.pos

    def flush(self) -> None:
        pass

    def take(self) -> bytes:
        out = bytes(self.buf)
        self.buf.clear()
        return out


def zip_stream(directory: Path, prefix: str, chunk: int = 1 << 16) -> Iterator[bytes]:
    """Stream a zip of ``directory`` (files under ``prefix/``) without holding it in memory."""
    pipe = _Pipe()
    with zipfile.ZipFile(pipe, "w", compression=zipfile.ZIP_DEFLATED) as zf:  # type: ignore[call-overload]
        for path in sorted(p for p in directory.rglob("*") if p.is_file()):
            arcname = f"{prefix}/{path.relative_to(directory).as_posix()}"
            with path.open("rb") as src, zf.open(arcname, "w", force_zip64=True) as dst:
                while data := src.read(chunk):
                    dst.write(data)
                    if len(pipe.buf) >= chunk:
                        yield pipe.take()
            yield pipe.take()
    yield pipe.take()


class BuildUnavailable(Exception):
    """Records cannot be built from this web app (no signing key configured)."""


def record_builder(
    store: Any,
    sites: dict[str, Any],
    out_dir: Path | str,
    signing_key: Path | str | None,
    documents: Any = None,
) -> Any:
    """A ``build(site, month, reason) -> dict`` for the admin API, using the record builder
    (``collector.records``) exactly as ``mrv-collector record build`` does."""

    def build(site: str, month: str, reason: str | None) -> dict[str, Any]:
        from collector.records.builder import build_record
        from protocols.keys import load_private_key
        from protocols.record import RecordSettings

        if signing_key is None:
            raise BuildUnavailable(
                "the collector config has no signing_key; records are built with "
                "`mrv-collector record build` or after setting signing_key"
            )
        key = load_private_key(signing_key)
        data: dict[str, Any] = {"site": site, "month": month}
        cfg = sites.get(site)
        if cfg is not None:
            data["timezone"] = getattr(cfg, "timezone", "Asia/Shanghai")
            data["industry"] = getattr(cfg, "industry", "generic")
            data.update(getattr(cfg, "records", None) or {})
        settings = RecordSettings.from_dict(data)
        prev = store.records.latest(site, month)
        res = build_record(
            store,
            store.records,
            settings,
            signing_key=key,
            out_dir=Path(out_dir),
            reason=reason or ("initial build" if prev is None else ""),
            documents=documents if documents is not None else store.documents,
        )
        return {
            "site": site,
            "month": month,
            "version": res.version,
            "record_sha256": res.record_sha256,
            "bundle": res.bundle_dir.name,
            "flags": [f.get("code") for f in res.record.get("flags", [])],
        }

    return build
