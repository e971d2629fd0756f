"""Offline verification of an evidence bundle (``mrv-verify BUNDLE_DIR``).

Checks, each reported with where it failed:

1. **keys** — keys.json is well formed; every kid is the RFC 7638 thumbprint of its JWK;
   agent keys belong to the record's site. (Optionally the collector kid is pinned with
   ``trusted_collector_kid``: a bundle can only vouch for its own keys.)
2. **record signature** — record.jws (detached JWS) verifies over record.json's exact bytes
   with the collector key of keys.json.
3. **batch signatures** — every line of batches.jsonl is a JWS whose kid is in keys.json,
   bound to the site/agent its payload names, whose signature verifies, and whose batch was
   created inside the key's validity period (``valid_from``/``valid_to`` in keys.json).
4. **chains** — per evidence range of record.json: ``check_chain`` from its ``first_seq`` /
   ``first_prev`` over that agent's batches; the range ends at ``last_seq`` with hash
   ``last_hash``; no batch lies outside the ranges.
5. **recomputation** — settings are read from record.json, every value is recomputed from
   the batch payloads with ``protocols.record`` (the builder's own function) and compared
   exactly with record.json (all members except version metadata: version, reason,
   created, previous, collector). The computation is deterministic (exactly rounded sums),
   so no tolerance is needed.

Exit codes (``mrv-verify``): 0 every check passed, 1 a check failed, 2 the bundle cannot be
read (missing directory or file, unreadable JSON).
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from collector.records import bundle as B
from collector.records.ledger import LEDGER, check_ledger
from collector.records.runner import default_workers, finish, scan_batches, worker_pool
from protocols import strict_json
from protocols.chain import ChainLink, check_chain
from protocols.errors import StrictJsonError
from protocols.keys import jwk_thumbprint
from protocols.record import METADATA_KEYS, RecordError, RecordSettings

__all__ = ["BundleUnreadable", "Problem", "VerifyReport", "verify_bundle"]

MAX_DIFFS = 1000


class BundleUnreadable(Exception):
    """The bundle cannot be verified at all (usage error, exit 2)."""


@dataclass(frozen=True, slots=True)
class Problem:
    """One failed check, located precisely."""

    check: str  # keys, record_signature, batch_signature, chain, evidence, settings, value
    where: str  # e.g. "batches.jsonl line 7 (pot1 seq 7)", "parameters[line_current_ka].value"
    message: str
    expected: Any = None  # recomputed / what the check wanted
    found: Any = None  # what the bundle says

    def to_dict(self) -> dict[str, Any]:
        d = {"check": self.check, "where": self.where, "message": self.message}
        if self.expected is not None or self.found is not None:
            d["expected"] = self.expected
            d["found"] = self.found
        return d


@dataclass
class VerifyReport:
    bundle: str
    site: str | None = None
    month: str | None = None
    version: int | None = None
    checks: dict[str, str] = field(default_factory=dict)  # check → "ok" / "FAILED ..." summary
    problems: list[Problem] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)
    #: the keys this verdict rests on: {"collector": kid, "agents": [kid, ...]}
    relied_on: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        return {
            "bundle": self.bundle,
            "ok": self.ok,
            "site": self.site,
            "month": self.month,
            "version": self.version,
            "checks": self.checks,
            "problems": [p.to_dict() for p in self.problems],
            "first_problem": self.problems[0].to_dict() if self.problems else None,
            "relied_on": self.relied_on,
            "stats": self.stats,
        }


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise BundleUnreadable(f"{path.name} is missing from the bundle ({path.parent})") from None
    except OSError as exc:
        raise BundleUnreadable(f"cannot read {path}: {exc.strerror or exc}") from None


def _json(name: str, data: bytes) -> Any:
    try:
        return json.loads(data)
    except (UnicodeDecodeError, ValueError) as exc:
        raise BundleUnreadable(f"{name} is not JSON: {exc}") from None


def _label(x: Any) -> str:
    if isinstance(x, dict):
        for k in ("id", "agent", "code"):
            if k in x:
                return str(x[k]) if k != "agent" else f"{x.get('agent')}#{x.get('first_seq')}"
    return ""


def _diff(exp: Any, got: Any, path: str, out: list[Problem]) -> None:
    """Exact structural comparison; lists of labelled dicts are matched by label."""
    if len(out) >= MAX_DIFFS:
        return
    if isinstance(exp, dict) and isinstance(got, dict):
        for k in sorted(set(exp) | set(got)):
            p = f"{path}.{k}" if path else k
            if k not in got:
                out.append(Problem("value", p, "missing in record.json", exp[k], None))
            elif k not in exp:
                out.append(Problem("value", p, "not produced by the recomputation", None, got[k]))
            else:
                _diff(exp[k], got[k], p, out)
        return
    if isinstance(exp, list) and isinstance(got, list):
        le = [_label(x) for x in exp]
        lg = [_label(x) for x in got]
        if all(le) and len(set(le)) == len(le) and all(lg) and len(set(lg)) == len(lg):
            ge = dict(zip(lg, got, strict=True))
            for lab, x in zip(le, exp, strict=True):
                if lab not in ge:
                    out.append(Problem("value", f"{path}[{lab}]", "missing in record.json", lab))
                else:
                    _diff(x, ge[lab], f"{path}[{lab}]", out)
            for lab in lg:
                if lab not in set(le):
                    out.append(
                        Problem(
                            "value",
                            f"{path}[{lab}]",
                            "not produced by the recomputation",
                            None,
                            lab,
                        )
                    )
            if le != [x for x in lg if x in set(le)]:
                out.append(Problem("value", path, "entries are in a different order"))
            return
        if len(exp) != len(got):
            out.append(Problem("value", f"{path}", "list length differs", len(exp), len(got)))
        for i, (a, b) in enumerate(zip(exp, got, strict=False)):
            _diff(a, b, f"{path}[{i}]", out)
        return
    same = (exp == got and type(exp) is type(got)) or (
        isinstance(exp, int | float)
        and isinstance(got, int | float)
        and not isinstance(exp, bool)
        and not isinstance(got, bool)
        and exp == got
    )
    if not same:
        out.append(Problem("value", path, "recomputed value differs", exp, got))


def verify_bundle(
    bundle_dir: Path | str,
    *,
    workers: int | None = None,
    trusted_collector_kid: str | None = None,
    trusted_kids: frozenset[str] | None = None,
    progress: Callable[[str, float], None] | None = None,
) -> VerifyReport:
    """Verify a bundle directory; raises ``BundleUnreadable`` if it cannot even be read.

    ``trusted_kids`` (thumbprints of the JWKs given with ``--trust``) pins the keys: a
    bundle whose collector key, or any agent key its batches rely on, is not among them
    fails, however well it verifies with the keys it carries itself."""
    t0 = time.perf_counter()
    d = Path(bundle_dir)
    if not d.is_dir():
        raise BundleUnreadable(f"{d} is not a directory")
    record_bytes = _read(d / B.RECORD)
    jws_bytes = _read(d / B.SIGNATURE)
    keys_doc = _json(B.KEYS, _read(d / B.KEYS))
    batches = d / B.BATCHES
    if not batches.is_file():
        raise BundleUnreadable(f"{B.BATCHES} is missing from the bundle ({d})")
    record = _json(B.RECORD, record_bytes)
    if not isinstance(record, dict):
        raise BundleUnreadable("record.json is not a JSON object")
    rep = VerifyReport(str(d), record.get("site"), record.get("month"), record.get("version"))
    problems = rep.problems

    # 1. keys
    n0 = len(problems)
    agent_keys: dict[str, tuple[str, str, dict[str, Any]]] = {}
    validity: dict[str, tuple[int | None, int | None]] = {}  # kid -> [valid_from, valid_to)
    collector_jwk: dict[str, Any] | None = None
    try:
        c = keys_doc["collector"]
        collector_jwk = c["jwk"]
        if jwk_thumbprint(collector_jwk) != c["kid"]:
            problems.append(
                Problem(
                    "keys",
                    "keys.json collector",
                    "kid is not the thumbprint of its JWK (key swapped?)",
                    jwk_thumbprint(collector_jwk),
                    c["kid"],
                )
            )
        if trusted_collector_kid is not None and c["kid"] != trusted_collector_kid:
            problems.append(
                Problem(
                    "keys",
                    "keys.json collector",
                    "collector key is not the trusted one",
                    trusted_collector_kid,
                    c["kid"],
                )
            )
        for i, a in enumerate(keys_doc["agents"]):
            where = f"keys.json agents[{i}] ({a.get('site')}/{a.get('agent')})"
            try:
                tp = jwk_thumbprint(a["jwk"])
            except (ValueError, KeyError, TypeError) as exc:
                problems.append(Problem("keys", where, f"unusable JWK: {exc}"))
                continue
            if tp != a["kid"]:
                problems.append(
                    Problem(
                        "keys",
                        where,
                        "kid is not the thumbprint of its JWK (key swapped?)",
                        tp,
                        a["kid"],
                    )
                )
                continue
            if a["site"] != rep.site:
                problems.append(
                    Problem("keys", where, "key belongs to another site", rep.site, a["site"])
                )
            agent_keys[a["kid"]] = (a["site"], a["agent"], a["jwk"])
            bounds = (a.get("valid_from"), a.get("valid_to"), a.get("revoked_at"))
            if any(
                x is not None and (not isinstance(x, int) or isinstance(x, bool)) for x in bounds
            ):
                problems.append(
                    Problem(
                        "keys",
                        where,
                        "valid_from / valid_to / revoked_at must be ms since the epoch or null",
                    )
                )
            else:
                # revocation ends the validity like valid_to: batches created before it stand
                ends = [x for x in bounds[1:] if x is not None]
                validity[a["kid"]] = (bounds[0], min(ends) if ends else None)
    except (KeyError, TypeError, ValueError) as exc:
        problems.append(Problem("keys", "keys.json", f"not a keys document: {exc}"))
    rep.checks["keys"] = "ok" if len(problems) == n0 else "FAILED"

    # 2. record signature
    n0 = len(problems)
    if collector_jwk is None:
        problems.append(Problem("record_signature", "record.jws", "no collector key to check with"))
    else:
        try:
            B.verify_record_signature(jws_bytes, record_bytes, collector_jwk)
        except (B.JwsError, ValueError) as exc:
            problems.append(Problem("record_signature", "record.jws", str(exc)))
    rep.checks["record_signature"] = "ok" if len(problems) == n0 else "FAILED"

    # every file of the bundle, signed by the collector (manifest.json + manifest.jws); the
    # files are hashed (hundreds of MB) in a thread while the batches are scanned, and
    # their problems go where they would have been appended here
    files_at = len(problems)
    file_problems: list[Problem] = []
    manifest = _check_manifest_signature(d, collector_jwk, file_problems)
    rep.checks["files"] = "ok"
    hashing = _Background(B.check_manifest, d, manifest) if manifest is not None else None

    def files_checked() -> None:
        if hashing is not None:
            file_problems.extend(Problem("files", rel, what) for rel, what in hashing.result())
        problems[files_at:files_at] = file_problems
        if file_problems:
            rep.checks["files"] = f"FAILED ({len(file_problems)})"

    # pinned keys (--trust)
    if trusted_kids is not None:
        n0 = len(problems)
        ckid = keys_doc.get("collector", {}).get("kid") if isinstance(keys_doc, dict) else None
        if ckid not in trusted_kids:
            problems.append(
                Problem(
                    "trust",
                    "keys.json collector",
                    f"collector key {ckid} is not in the trust file: refused",
                )
            )
        for kid, (site, agent, _) in sorted(agent_keys.items()):
            if kid not in trusted_kids:
                problems.append(
                    Problem(
                        "trust",
                        f"keys.json agent {site}/{agent}",
                        f"agent key {kid} is not in the trust file: refused",
                    )
                )
        rep.checks["trust"] = "ok" if len(problems) == n0 else "FAILED"

    # settings
    try:
        settings = RecordSettings.from_dict(record.get("settings"))
    except (RecordError, ValueError) as exc:
        problems.append(Problem("settings", "record.json settings", str(exc)))
        rep.checks["recompute"] = "not run (settings unusable)"
        files_checked()
        return rep
    if settings.to_dict() != record.get("settings"):
        problems.append(
            Problem(
                "settings",
                "record.json settings",
                "settings do not round-trip",
                settings.to_dict(),
                record.get("settings"),
            )
        )

    # 3 + 5a. batch signatures and accumulation (one pass, all cores)
    workers = workers or default_workers()
    size = batches.stat().st_size
    done = 0

    def scanned(nbytes: int) -> None:
        nonlocal done
        done += nbytes
        if progress is not None:
            progress("batches", done / size if size else 1.0)

    t1 = time.perf_counter()
    with worker_pool(workers) as pool:
        scan = scan_batches(
            settings, batches, keys=agent_keys, pool=pool, workers=workers, progress=scanned
        )
        n0 = len(problems)
        for li in scan.lines:
            m = li.meta
            where = f"batches.jsonl line {li.line}" + (f" ({m.agent} seq {m.seq})" if m else "")
            if li.error:
                problems.append(Problem("batch_signature", where, li.error))
            elif m is not None and li.kid is not None:
                site, agent, _ = agent_keys[li.kid]
                if (site, agent) != (m.site, m.agent):
                    problems.append(
                        Problem(
                            "batch_signature",
                            where,
                            f"signed with the key of {site}/{agent}, but the "
                            f"payload names {m.site}/{m.agent}",
                        )
                    )
                elif not B.key_valid_at(validity.get(li.kid, (None, None)), m.created):
                    problems.append(
                        Problem(
                            "batch_signature",
                            where,
                            f"created outside the validity of key {li.kid}",
                            list(validity[li.kid]),
                            m.created,
                        )
                    )
        rep.checks["batch_signatures"] = (
            "ok" if len(problems) == n0 else f"FAILED ({len(problems) - n0} of {len(scan.lines)})"
        )

        # 4. chains against the record's evidence ranges
        n0 = len(problems)
        by_agent: dict[str, list[tuple[int, Any]]] = {}
        for li in scan.lines:
            if li.meta is not None:
                by_agent.setdefault(li.meta.agent, []).append((li.line, li.meta))
        evidence = record.get("evidence")
        if not isinstance(evidence, list):
            evidence = []
        claimed: dict[str, list[dict[str, Any]]] = {}
        for e in evidence:
            if isinstance(e, dict):
                claimed.setdefault(str(e.get("agent")), []).append(e)
        for agent in sorted(set(by_agent) | set(claimed)):
            items = by_agent.get(agent, [])
            ranges = sorted(claimed.get(agent, []), key=lambda e: e.get("first_seq") or 0)
            if not ranges:
                problems.append(
                    Problem(
                        "evidence",
                        f"agent {agent}",
                        "batches.jsonl holds "
                        "batches of an agent the record's evidence does not name",
                    )
                )
                continue
            for e in ranges:
                fs, ls = e.get("first_seq"), e.get("last_seq")
                seg = [
                    (ln, m)
                    for ln, m in items
                    if isinstance(fs, int) and isinstance(ls, int) and fs <= m.seq <= ls
                ]
                where = f"evidence {agent} seq {fs}..{ls}"
                brk = check_chain(
                    (ChainLink(m.seq, m.prev, m.hash) for _, m in seg),
                    first_seq=fs if isinstance(fs, int) else 1,
                    first_prev=e.get("first_prev"),
                )
                if brk is not None:
                    line = next((ln for ln, m in seg if m.seq == brk.seq), None)
                    at = f" (batches.jsonl line {line})" if line else ""
                    problems.append(
                        Problem(
                            "chain",
                            f"{where}: {agent} seq {brk.seq}{at}",
                            f"{brk.kind.value}: {brk.detail}",
                        )
                    )
                    continue
                if not seg or seg[-1][1].seq != ls:
                    got = seg[-1][1].seq if seg else None
                    problems.append(
                        Problem(
                            "chain",
                            where,
                            f"range should end at seq {ls} but the "
                            f"batches end at {got} (batch deleted?)",
                            ls,
                            got,
                        )
                    )
                elif seg[-1][1].hash != e.get("last_hash"):
                    problems.append(
                        Problem(
                            "chain",
                            where,
                            "hash of the last batch differs from the record's last_hash",
                            e.get("last_hash"),
                            seg[-1][1].hash,
                        )
                    )
            inside = {
                m.seq
                for e in ranges
                for _, m in items
                if isinstance(e.get("first_seq"), int)
                and e["first_seq"] <= m.seq <= e.get("last_seq", -1)
            }
            stray = [(ln, m) for ln, m in items if m.seq not in inside]
            for ln, m in stray[:20]:
                problems.append(
                    Problem(
                        "evidence",
                        f"batches.jsonl line {ln} ({agent} seq {m.seq})",
                        "batch lies outside every evidence range of the record",
                    )
                )
        rep.checks["chains"] = "ok" if len(problems) == n0 else "FAILED"

        # 5a'. documents: each file against the digest its signed batch names
        n0 = len(problems)
        scan.partial.documents_present = _check_documents(d, scan.partial, problems)
        rep.checks["documents"] = "ok" if len(problems) == n0 else f"FAILED ({len(problems) - n0})"

        # 5b. recompute and compare
        n0 = len(problems)
        comp = finish(settings, scan.partial, pool=pool)
    expected = comp.body
    found = {k: v for k, v in record.items() if k not in METADATA_KEYS}
    # JSON round trip: the recomputed body in the same types the file has
    expected = json.loads(json.dumps(expected, allow_nan=False))
    diffs: list[Problem] = []
    _diff(expected, found, "", diffs)
    problems.extend(diffs)
    n_values = sum(1 for _ in _leaves(expected))
    # 5c. ledger.xlsx says exactly what record.json says (and is there: the builder writes it
    # into every bundle, so a bundle without it has lost the file a reporting person uploads)
    ledger_path = d / LEDGER
    if ledger_path.exists():
        findings = check_ledger(_read(ledger_path), record)
        problems.extend(Problem("ledger", LEDGER, f) for f in findings)
        rep.checks["ledger"] = "ok" if not findings else f"FAILED ({len(findings)} cells)"
    else:
        problems.append(
            Problem(
                "ledger",
                LEDGER,
                f"{LEDGER} is missing; every bundle carries it (mrv-collector record build "
                "writes it)",
            )
        )
        rep.checks["ledger"] = "FAILED (missing)"
    rep.checks["recompute"] = (
        f"ok ({n_values} values)"
        if len(problems) == n0
        else f"FAILED ({len(problems) - n0} of {n_values} values differ)"
    )
    rep.relied_on = {
        "collector": keys_doc.get("collector", {}).get("kid")
        if isinstance(keys_doc, dict)
        else None,
        "agents": sorted(
            {li.kid for li in scan.lines if li.kid is not None and li.kid in agent_keys}
        ),
    }
    files_checked()
    _first_problems_first(problems)
    rep.stats = {
        "batches": len(scan.lines),
        "readings": expected.get("summary", {}).get("readings"),
        "parameters": len(expected.get("parameters", [])),
        "values_compared": n_values,
        "workers": workers,
        "seconds": round(time.perf_counter() - t0, 3),
        "scan_seconds": round(time.perf_counter() - t1, 3),
    }
    return rep


def _check_manifest_signature(
    d: Path, collector_jwk: dict[str, Any] | None, problems: list[Problem]
) -> Any:
    """manifest.jws verifies over manifest.json with the collector key: the manifest (to
    check every file against, ``bundle.check_manifest``), or None with the problem added."""
    mpath, spath = d / B.MANIFEST, d / B.MANIFEST_SIGNATURE
    if not mpath.is_file() or not spath.is_file():
        problems.append(
            Problem(
                "files",
                B.MANIFEST if not mpath.is_file() else B.MANIFEST_SIGNATURE,
                "missing: the bundle's files are not covered by the collector's signature",
            )
        )
        return None
    data = _read(mpath)
    if collector_jwk is None:
        problems.append(Problem("files", B.MANIFEST_SIGNATURE, "no collector key to check with"))
        return None
    try:
        B.verify_record_signature(_read(spath), data, collector_jwk, name=B.MANIFEST)
    except (B.JwsError, ValueError) as exc:
        problems.append(Problem("files", B.MANIFEST_SIGNATURE, str(exc)))
        return None
    try:
        return strict_json.loads(data)
    except StrictJsonError as exc:
        problems.append(Problem("files", B.MANIFEST, f"not strict JSON: {exc}"))
        return None


class _Background:
    """``fn(*args)`` in a thread; :meth:`result` waits and returns it (or raises what it
    raised). hashlib and file reads release the GIL, so hashing overlaps the scan."""

    def __init__(self, fn: Callable[..., Any], *args: Any) -> None:
        self._out: list[Any] = []
        self._err: list[BaseException] = []

        def run() -> None:
            try:
                self._out.append(fn(*args))
            except BaseException as exc:  # handed to the caller by result()
                self._err.append(exc)

        self._thread = threading.Thread(target=run, name="mrv-verify-files", daemon=True)
        self._thread.start()

    def result(self) -> Any:
        self._thread.join()
        if self._err:
            raise self._err[0]
        return self._out[0]


#: The order in which faults are causes rather than consequences: a changed file explains a
#: broken signature, which explains a broken chain, which explains recomputed differences.
_CAUSE_ORDER = ("files", "trust", "keys", "record_signature", "batch_signature", "chain")


def _first_problems_first(problems: list[Problem]) -> None:
    rank = {c: i for i, c in enumerate(_CAUSE_ORDER)}
    problems.sort(key=lambda p: rank.get(p.check, len(rank)))


def _check_documents(d: Path, partial: Any, problems: list[Problem]) -> frozenset[str]:
    """Hash every file in ``documents/``: a file whose bytes differ from the digest in its
    name (and in the signed batch) is tampered; a file no batch references is a stray.
    Returns the digests present and intact (the record's ``document_missing`` flags must
    agree with them)."""
    referenced: set[str] = set()
    for s in partial.submissions:
        ev = s["reading"].get("evidence") or {}
        for doc in ev.get("documents") or ():
            if isinstance(doc, dict) and isinstance(doc.get("sha256"), str):
                referenced.add(doc["sha256"])
    present: set[str] = set()
    folder = d / "documents"
    files = sorted(folder.iterdir()) if folder.is_dir() else []
    for f in files:
        where = f"documents/{f.name}"
        sha = f.name.split(".", 1)[0]
        if sha not in referenced:
            problems.append(
                Problem("documents", where, "no signed batch of the record references it")
            )
            continue
        got = hashlib.sha256(f.read_bytes()).hexdigest()
        if got != sha:
            problems.append(
                Problem(
                    "documents",
                    where,
                    "content does not match the SHA-256 signed in the batch (tampered)",
                    sha,
                    got,
                )
            )
            continue
        present.add(sha)
    return frozenset(present)


def _leaves(obj: Any) -> Any:
    if isinstance(obj, dict):
        for v in obj.values():
            yield from _leaves(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from _leaves(v)
    else:
        yield obj


def _short(x: Any, n: int = 80) -> str:
    s = json.dumps(x, ensure_ascii=False) if not isinstance(x, str) else x
    return s if len(s) <= n else s[: n - 1] + "…"


#: Problems printed per check; the rest are counted (they follow from the first ones).
SHOWN_PER_CHECK = 5


def load_trust(path: str) -> frozenset[str]:
    """``--trust FILE``: a JSON list of public JWKs; their RFC 7638 thumbprints."""
    try:
        doc = strict_json.loads(Path(path).read_bytes())
    except OSError as exc:
        raise BundleUnreadable(f"--trust {path}: cannot read: {exc.strerror or exc}") from None
    except StrictJsonError as exc:
        raise BundleUnreadable(f"--trust {path}: not JSON: {exc}") from None
    if not isinstance(doc, list) or not doc:
        raise BundleUnreadable(f"--trust {path}: expected a non-empty JSON list of public JWKs")
    kids = set()
    for i, jwk in enumerate(doc):
        try:
            if not isinstance(jwk, dict):
                raise ValueError("not a JSON object")
            kids.add(jwk_thumbprint(jwk))
        except ValueError as exc:
            raise BundleUnreadable(f"--trust {path}: entry {i}: {exc}") from None
    return frozenset(kids)


def run_cli(
    bundle_dir: str,
    *,
    as_json: bool = False,
    workers: int | None = None,
    collector_kid: str | None = None,
    trust: str | None = None,
) -> int:
    """``mrv-verify BUNDLE_DIR``: print the summary and the problems, the first one (the
    cause) first and its consequences summarised per check; return the exit code."""
    import sys

    from rich.console import Console
    from rich.markup import escape
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.table import Table

    err = Console(stderr=True)
    try:
        trusted = None if trust is None else load_trust(trust)
        if as_json or not sys.stderr.isatty():
            rep = verify_bundle(
                bundle_dir,
                workers=workers,
                trusted_collector_kid=collector_kid,
                trusted_kids=trusted,
            )
        else:
            with Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                TimeElapsedColumn(),
                console=err,
                transient=True,
            ) as bar:
                task = bar.add_task("verifying batches", total=1.0)
                rep = verify_bundle(
                    bundle_dir,
                    workers=workers,
                    trusted_collector_kid=collector_kid,
                    trusted_kids=trusted,
                    progress=lambda _phase, f: bar.update(task, completed=f),
                )
    except BundleUnreadable as exc:
        err.print(f"mrv-verify: error: {exc}", markup=False, highlight=False, soft_wrap=True)
        return 2
    if as_json:
        sys.stdout.write(json.dumps(rep.to_dict(), ensure_ascii=False, default=str) + "\n")
        return 0 if rep.ok else 1
    out = Console()
    t = Table(title=f"Bundle {rep.site} {rep.month} v{rep.version}", show_header=True)
    t.add_column("check")
    t.add_column("result")
    for name, res in rep.checks.items():
        res = escape(res)
        t.add_row(name, f"[green]{res}[/green]" if res.startswith("ok") else f"[red]{res}[/red]")
    out.print(t)
    relied = rep.relied_on
    if relied:
        out.print(
            f"relied on: collector key {escape(str(relied.get('collector')))}; agent keys "
            f"{escape(', '.join(relied.get('agents') or []) or '-')}"
            + (" (pinned by --trust)" if trust is not None else " (as the bundle names them)"),
            soft_wrap=True,
            highlight=False,
        )
    if rep.problems:
        out.print(
            f"[bold]{len(rep.problems)} problem(s); the first is the cause to look at:[/bold]"
        )
        shown: Counter[str] = Counter()
        hidden: Counter[str] = Counter()
        for p in rep.problems:
            shown[p.check] += 1
            if shown[p.check] > SHOWN_PER_CHECK:
                hidden[p.check] += 1
                continue
            line = f"[red]✗[/red] {escape('[' + p.check + ']')} [bold]{escape(p.where)}[/bold]: {escape(p.message)}"
            if p.expected is not None or p.found is not None:
                line += (
                    f" — expected (recomputed) {escape(_short(p.expected))}, "
                    f"found (bundle) {escape(_short(p.found))}"
                )
            out.print(line, soft_wrap=True, highlight=False)
        for check, n in hidden.items():
            out.print(
                f"  … and {n} more {escape('[' + check + ']')} problem(s), consequences of the "
                "above (--json lists them all)",
                highlight=False,
            )
        out.print("[red bold]FAILED[/red bold]: the bundle does not verify")
        return 1
    s = rep.stats
    out.print(
        f"[green bold]OK[/green bold]: {s.get('batches')} batches, {s.get('readings')} readings, "
        f"{s.get('values_compared')} values recomputed and equal ({s.get('seconds')} s)"
    )
    return 0
