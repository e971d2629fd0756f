"""``/metrics`` of a running collector: ingest counters, per-agent chain state, alarms.

Counts and sequence numbers only (no payloads, no keys), so it is served without a token like
any Prometheus exporter; bind ``http.host`` to an address only the scraper can reach.
"""

from __future__ import annotations

from typing import Any

from protocols.prom import Metric, render


def collector_metrics(collector: Any) -> str:
    s = collector.stats
    m = [
        Metric(
            "mrv_collector_batches_accepted_total", "Batches verified and stored", "counter"
        ).add(s.accepted),
        Metric("mrv_collector_batches_duplicate_total", "Duplicate batches acked", "counter").add(
            s.duplicates
        ),
        Metric("mrv_collector_readings_total", "Readings stored", "counter").add(s.readings),
        Metric(
            "mrv_collector_documents_stored_total", "Supporting documents stored", "counter"
        ).add(s.documents),
        Metric("mrv_collector_groups_total", "Ingest transactions committed", "counter").add(
            s.groups
        ),
        Metric("mrv_collector_status_messages_total", "Agent status messages", "counter").add(
            s.status_messages
        ),
        Metric("mrv_collector_broker_connects_total", "Broker connections made", "counter").add(
            s.connects
        ),
        Metric("mrv_collector_broker_connected", "1 while connected to the broker").add(
            1 if collector.connected.is_set() else 0
        ),
        Metric("mrv_collector_start_time_seconds", "Start time, Unix seconds").add(
            collector.started_at / 1000
        ),
    ]
    q = Metric("mrv_collector_quarantined_total", "Messages quarantined, by reason", "counter")
    for reason, n in sorted(s.quarantined.items()):
        q.add(n, reason=reason)
    m.append(q)
    m.extend(_agents(collector))
    a = collector.alarms
    for name, help_, counts in (
        ("mrv_collector_alarms_raised_total", "Alarms raised, by kind", a.raised),
        ("mrv_collector_alarms_sent_total", "Alarm webhook posts that succeeded", a.sent),
        ("mrv_collector_alarms_failed_total", "Alarm webhook posts that failed", a.failed),
    ):
        metric = Metric(name, help_, "counter")
        for kind, n in sorted(counts.items()):
            metric.add(n, kind=kind)
        m.append(metric)
    m.append(
        Metric("mrv_collector_alarms_dropped_total", "Alarms lost to a full queue", "counter").add(
            a.dropped
        )
    )
    return render(m)


def _agents(collector: Any) -> list[Metric]:
    seq = Metric("mrv_collector_agent_contiguous_seq", "Highest seq stored without a gap")
    high = Metric("mrv_collector_agent_highest_seq", "Highest seq stored")
    acked = Metric("mrv_collector_agent_acked_seq", "Highest seq acked to the agent")
    missing = Metric("mrv_collector_agent_missing_batches", "Batches missing below highest seq")
    quar = Metric("mrv_collector_agent_quarantined", "Quarantined messages naming the agent")
    seen = Metric("mrv_collector_agent_last_seen_seconds", "Last message, Unix seconds")
    online = Metric("mrv_collector_agent_online", "1 online, 0 offline (MQTT will)")
    for st in collector.store.agents():
        lab = {"site": st.site, "agent": st.agent}
        seq.add(st.contiguous_through, **lab)
        high.add(st.highest_seq, **lab)
        acked.add(st.acked_through, **lab)
        missing.add(sum(b - a + 1 for a, b in st.gaps), **lab)
        quar.add(st.quarantined, **lab)
        seen.add(None if st.last_seen is None else st.last_seen / 1000, **lab)
        online.add(None if st.online is None else int(st.online), **lab)
    return [seq, high, acked, missing, quar, seen, online]
