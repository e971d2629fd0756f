"""Verifier web UI and HTTP API of the collector (issue 8).

``create_app(store, ...)`` builds the FastAPI app; ``collector_app(collector)`` is the hook
for ``http.app`` in the collector config (``"collector.web:collector_app"``). Imported
lazily so ``mrv-collector token ...`` does not pay for FastAPI at start-up.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collector.web.app import collector_app, create_app

__all__ = ["collector_app", "create_app"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from collector.web import app

        return getattr(app, name)
    raise AttributeError(name)
