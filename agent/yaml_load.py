"""Parse the agent's YAML config in a short-lived child process.

PyYAML builds a node graph (every scalar with its start and end marks) before it constructs
the plain data: for a 5,000-point config that is ≈ 40 MB of small objects, and most of it
stays in the agent's resident set after it is freed (the allocator's arenas are left
fragmented). On a gateway that memory is held for months. So the agent parses YAML in a
child interpreter (libyaml's ``CSafeLoader`` when PyYAML has it, else ``SafeLoader``, the
same safe types either way) and receives the plain data pickled: the agent only ever holds
the resulting dicts and lists. Should the child not run (no interpreter path, a broken
environment), the YAML is parsed in-process instead — same result, more memory.
"""

from __future__ import annotations

import pickle
import subprocess
import sys
from pathlib import Path
from typing import Any

__all__ = ["YamlProblem", "load_yaml", "parse_here"]

#: The child: the directory holding the ``agent`` package in argv[1], YAML text on stdin,
#: ``pickle(parse_here(text))`` on stdout. Isolated mode (-I): no PYTHONPATH, no user site.
_CHILD = (
    "import pickle, sys; sys.path.insert(0, sys.argv[1]); "
    "from agent.yaml_load import parse_here; "
    "sys.stdout.buffer.write(pickle.dumps(parse_here(sys.stdin.buffer.read().decode('utf-8'))))"
)
_ROOT = str(Path(__file__).resolve().parents[1])


class YamlProblem(Exception):
    """The YAML cannot be parsed; ``mark`` is the 0-based (line, column) when known, and
    ``syntax`` tells a marked syntax error from another YAML error."""

    def __init__(
        self, message: str, mark: tuple[int, int] | None = None, *, syntax: bool = True
    ) -> None:
        super().__init__(message)
        self.message = message
        self.mark = mark
        self.syntax = syntax


def parse_here(text: str) -> tuple[Any, ...]:
    """Parse in this process: ``("ok", data)`` or ``(kind, mark, message)``."""
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        return ("ok", yaml.load(text, Loader=loader))
    except yaml.MarkedYAMLError as exc:
        m = exc.problem_mark
        return ("marked", None if m is None else (m.line, m.column), str(exc.problem))
    except yaml.YAMLError as exc:
        return ("error", None, str(exc))


def _parse_in_child(text: str) -> tuple[Any, ...] | None:
    if not sys.executable:
        return None
    try:
        done = subprocess.run(
            [sys.executable, "-I", "-c", _CHILD, _ROOT],
            input=text.encode("utf-8"),
            capture_output=True,
            timeout=120,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if done.returncode != 0:
        return None
    try:
        result = pickle.loads(done.stdout)
    except Exception:
        return None
    return result if isinstance(result, tuple) and result else None


def load_yaml(text: str, *, in_process: bool = False) -> Any:
    """``yaml.safe_load(text)`` without keeping PyYAML's node graph in this process.

    Raises :class:`YamlProblem` for text that is not YAML."""
    result = None if in_process else _parse_in_child(text)
    if result is None:
        result = parse_here(text)
    kind = result[0]
    if kind == "ok":
        return result[1]
    raise YamlProblem(result[2], result[1], syntax=kind == "marked")
