"""The Plant MRV version, read from the installed package's metadata (pyproject's version).

Every command prints it with ``--version``; the agent announces it in its birth message.
"""

from __future__ import annotations

from importlib import metadata

DISTRIBUTION = "plant-mrv"


def package_version() -> str:
    """``plant-mrv``'s version, or ``0+unknown`` when run from a tree that is not installed."""
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return "0+unknown"
