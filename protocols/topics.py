"""MQTT topics of contract version v1: ``mrv/v1/{site}/{agent}/{data|status|ack}``, and
``mrv/v1/{site}/{agent}/document/{sha256}`` for the documents submissions reference."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from protocols.errors import InvalidId
from protocols.ids import validate_id

VERSION = "v1"
PREFIX = f"mrv/{VERSION}"
TopicKind = Literal["data", "status", "ack", "notice"]
#: ``notice``: collector → agent, retained: the collector quarantines this agent's batches
#: (``{"v": 1, "site", "agent", "reason", "message", "kid", "seq", "at", "hint"}``); an
#: empty retained payload clears it once a batch is accepted again. Informational only:
#: an agent never deletes or changes anything because of a notice.
KINDS: tuple[TopicKind, ...] = ("data", "status", "ack", "notice")

#: The collector's subscriptions (all sites, all agents).
DATA_FILTER = f"{PREFIX}/+/+/data"
STATUS_FILTER = f"{PREFIX}/+/+/status"
#: Documents (lab reports, settlement slips): ``mrv/v1/{site}/{agent}/document/{sha256}``,
#: the raw bytes, QoS 1, not retained; accepted only when a stored batch references them.
DOCUMENT_FILTER = f"{PREFIX}/+/+/document/+"
_SHA256 = frozenset("0123456789abcdef")


def document_topic(site: str, agent: str, sha256: str) -> str:
    validate_id(site, "site id")
    validate_id(agent, "agent id")
    if len(sha256) != 64 or not set(sha256) <= _SHA256:
        raise ValueError("a document topic ends in the lowercase hex SHA-256 of the bytes")
    return f"{PREFIX}/{site}/{agent}/document/{sha256}"


def parse_document_topic(value: str) -> tuple[str, str, str] | None:
    """(site, agent, sha256) of a document topic; None for any other topic."""
    parts = value.split("/")
    if len(parts) != 6 or parts[:2] != ["mrv", VERSION] or parts[4] != "document":
        return None
    sha = parts[5]
    if len(sha) != 64 or not set(sha) <= _SHA256:
        raise InvalidId(f"topic {value!r}: the last level must be a lowercase hex SHA-256")
    return validate_id(parts[2], "site id"), validate_id(parts[3], "agent id"), sha


def shared(filter_: str, group: str) -> str:
    """An MQTT 5 shared subscription so several collectors split the load."""
    validate_id(group, "shared-subscription group")
    return f"$share/{group}/{filter_}"


def topic(site: str, agent: str, kind: TopicKind) -> str:
    validate_id(site, "site id")
    validate_id(agent, "agent id")
    if kind not in KINDS:
        raise ValueError(f"topic kind must be one of {', '.join(KINDS)}")
    return f"{PREFIX}/{site}/{agent}/{kind}"


def data_topic(site: str, agent: str) -> str:
    return topic(site, agent, "data")


def status_topic(site: str, agent: str) -> str:
    return topic(site, agent, "status")


def ack_topic(site: str, agent: str) -> str:
    return topic(site, agent, "ack")


def notice_topic(site: str, agent: str) -> str:
    return topic(site, agent, "notice")


@dataclass(frozen=True, slots=True)
class Topic:
    site: str
    agent: str
    kind: TopicKind


def parse_topic(value: str) -> Topic:
    """Split a v1 topic into site, agent and kind; raise ``InvalidId`` on anything else."""
    parts = value.split("/")
    if len(parts) != 5 or parts[0] != "mrv" or parts[1] != VERSION:
        raise InvalidId(f"topic {value!r} is not of the form {PREFIX}/SITE/AGENT/KIND")
    site = validate_id(parts[2], "site id")
    agent = validate_id(parts[3], "agent id")
    kind = parts[4]
    if kind not in KINDS:
        raise InvalidId(f"topic {value!r}: kind must be one of {', '.join(KINDS)}")
    return Topic(site, agent, kind)
