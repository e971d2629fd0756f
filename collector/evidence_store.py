"""Old import path of the evidence store; it lives in ``collector.store`` now."""

from collector.store.interface import EvidenceStore, IngestTransaction, StoreError
from collector.store.sqlite import SqliteEvidenceStore

__all__ = ["EvidenceStore", "IngestTransaction", "SqliteEvidenceStore", "StoreError"]
