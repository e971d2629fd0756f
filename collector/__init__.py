"""Plant MRV collector: verified ingest, evidence store, acks, InfluxDB mirror, records.

Public API (imported lazily so ``mrv-verify`` stays light)::

    from collector import Collector, load_config, open_store
    async with Collector(load_config("collector.yaml")) as c:
        c.store.readings("smelter-1", start, end, param="potline1.current")
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collector.config import CollectorConfig, ConfigError, load_config, parse_config
    from collector.pipeline import VerificationPipeline
    from collector.service import Collector
    from collector.store import EvidenceStore, open_store
    from collector.store.sqlite import SqliteEvidenceStore

__all__ = [
    "Collector",
    "CollectorConfig",
    "ConfigError",
    "EvidenceStore",
    "SqliteEvidenceStore",
    "VerificationPipeline",
    "load_config",
    "open_store",
    "parse_config",
]

_WHERE = {
    "Collector": "collector.service",
    "CollectorConfig": "collector.config",
    "ConfigError": "collector.config",
    "load_config": "collector.config",
    "parse_config": "collector.config",
    "EvidenceStore": "collector.store",
    "SqliteEvidenceStore": "collector.store.sqlite",
    "VerificationPipeline": "collector.pipeline",
    "open_store": "collector.store",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        import importlib

        return getattr(importlib.import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'collector' has no attribute {name!r}")
