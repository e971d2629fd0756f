"""MQTT topics of contract version v1: ``mrv/v1/{site}/{agent}/{data|status|ack}``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from protocols.errors import InvalidId
from protocols.ids import validate_id

VERSION = "v1"
PREFIX = f"mrv/{VERSION}"
TopicKind = Literal["data", "status", "ack"]
KINDS: tuple[TopicKind, ...] = ("data", "status", "ack")

#: The collector's subscriptions (all sites, all agents).
DATA_FILTER = f"{PREFIX}/+/+/data"
STATUS_FILTER = f"{PREFIX}/+/+/status"


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
