"""Verifier web UI and HTTP API of the collector (issue 8).

``create_app(store, ...)`` builds the FastAPI app; ``collector_app(collector)`` is the hook
for ``http.app`` in the collector config (``"collector.web:collector_app"``).
"""

from __future__ import annotations

from collector.web.app import collector_app, create_app

__all__ = ["collector_app", "create_app"]
