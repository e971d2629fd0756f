"""Monthly records: select envelopes from the evidence store, compute with
``protocols.record``, sign, version and write the evidence bundle."""

from __future__ import annotations
