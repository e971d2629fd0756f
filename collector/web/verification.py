"""The verifier's view of a bundle on the record page: ``mrv-verify`` run by the collector.

Verification recomputes the whole month (seconds on a large site), so it runs once per bundle
on one background thread and the result is kept in memory, keyed by the bundle directory and
its record.json's modification time (a bundle never changes; a rebuild is a new version).
The page shows "verifying…" until the result is there. Nothing is written into the bundle:
every file of it is signed, an extra file would make it fail.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

log = logging.getLogger("mrv.web")

#: Checks that concern one agent's batches: a problem in them breaks that agent's evidence.
AGENT_CHECKS = ("batch_signature", "chain", "evidence")


class BundleVerifier:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._results: dict[tuple[str, float], dict[str, Any] | None] = {}
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="mrv-web-verify")

    def status(self, bundle_dir: Path) -> dict[str, Any] | None:
        """The verification report (``VerifyReport.to_dict()``), or None while it runs."""
        try:
            key = (str(bundle_dir), (bundle_dir / "record.json").stat().st_mtime)
        except OSError:
            return {"ok": False, "checks": {}, "problems": [], "error": "bundle not readable"}
        with self._lock:
            if key in self._results:
                return self._results[key]
            self._results[key] = None
        self._pool.submit(self._run, key, bundle_dir)
        return None

    def wait(self, bundle_dir: Path) -> dict[str, Any] | None:
        """Block until the bundle's verification finished (tests and tools)."""
        self.status(bundle_dir)
        self._pool.submit(lambda: None).result()
        return self.status(bundle_dir)

    def _run(self, key: tuple[str, float], bundle_dir: Path) -> None:
        from collector.verify_bundle import BundleUnreadable, verify_bundle

        try:
            result = verify_bundle(bundle_dir, workers=1).to_dict()
        except BundleUnreadable as exc:
            result = {"ok": False, "checks": {}, "problems": [], "error": str(exc)}
        except Exception as exc:  # the page must show something, never a traceback
            log.exception("bundle verification failed to run")
            result = {"ok": False, "checks": {}, "problems": [], "error": type(exc).__name__}
        with self._lock:
            self._results[key] = result


def agent_states(evidence: list[dict[str, Any]], report: dict[str, Any] | None) -> list[dict]:
    """Per evidence range: its agent's signatures and chain ok, failed, or still pending."""
    out = []
    for e in evidence:
        agent = str(e.get("agent"))
        if report is None:
            state = "pending"
            problems: list[dict[str, Any]] = []
        else:
            problems = [
                p
                for p in report.get("problems") or []
                if p.get("check") in AGENT_CHECKS and agent in str(p.get("where"))
            ]
            broken = problems or not report.get("checks")
            state = "failed" if broken else "ok"
        out.append({**e, "state": state, "problems": problems[:5]})
    return out
