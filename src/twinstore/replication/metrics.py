"""Replication metrics in Prometheus text format.

Pending operations/bytes, failed operations and the age of the oldest pending operation come from the durable
outbox and failure tables at scrape time (they survive restarts and never drift). Latency is a histogram of
(replica committed at the destination - source version's Last-Modified), per rule and destination, counted by
this process since it started (as every Prometheus counter). RTC: operations of rules with ReplicationTime that
are still pending after the 15-minute threshold (from the outbox), and those replicated after it.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from typing import Any

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0)
RTC_THRESHOLD_S = 15 * 60


@dataclass
class Histogram:
    counts: list[int] = field(default_factory=lambda: [0] * (len(BUCKETS) + 1))
    total: float = 0.0
    n: int = 0

    def observe(self, seconds: float) -> None:
        self.counts[bisect.bisect_left(BUCKETS, seconds)] += 1
        self.total += seconds
        self.n += 1


@dataclass
class LiveCounters:
    latency: dict[tuple[str, str, str], Histogram] = field(default_factory=dict)
    replicated_ops: dict[tuple[str, str, str], int] = field(default_factory=dict)
    replicated_bytes: dict[tuple[str, str, str], int] = field(default_factory=dict)
    after_threshold: dict[tuple[str, str, str], int] = field(default_factory=dict)
    retries: int = 0

    def replicated(self, labels: tuple[str, str, str], seconds: float, size: int, rtc: bool) -> None:
        self.latency.setdefault(labels, Histogram()).observe(seconds)
        self.replicated_ops[labels] = self.replicated_ops.get(labels, 0) + 1
        self.replicated_bytes[labels] = self.replicated_bytes.get(labels, 0) + size
        if rtc and seconds > RTC_THRESHOLD_S:
            self.after_threshold[labels] = self.after_threshold.get(labels, 0) + 1


def _labels(src: str, rule: str, dest: str) -> str:
    esc = [x.replace("\\", "\\\\").replace('"', '\\"') for x in (src, rule, dest)]
    return f'source_bucket="{esc[0]}",rule_id="{esc[1]}",destination_bucket="{esc[2]}"'


def render(region: str, stats: dict[str, list[tuple[Any, ...]]], names: dict[int, str], live: LiveCounters,
           now_us: int, rtc_overdue: list[tuple[Any, ...]]) -> str:
    out: list[str] = []

    def metric(name: str, kind: str, help_: str) -> None:
        out.append(f"# HELP {name} {help_}")
        out.append(f"# TYPE {name} {kind}")

    metric("twinstore_replication_operations_pending", "gauge", "Operations owed to a destination (durable queue).")
    for b, rule, dest, n, _size, _oldest, _att, _rtc in stats["pending"]:
        out.append(f"twinstore_replication_operations_pending{{{_labels(names.get(b, str(b)), rule, dest)}}} {n}")
    metric("twinstore_replication_bytes_pending", "gauge", "Bytes of objects pending replication.")
    for b, rule, dest, _n, size, _oldest, _att, _rtc in stats["pending"]:
        out.append(f"twinstore_replication_bytes_pending{{{_labels(names.get(b, str(b)), rule, dest)}}} {size or 0}")
    metric("twinstore_replication_oldest_pending_seconds", "gauge", "Age of the oldest pending operation.")
    for b, rule, dest, _n, _size, oldest, _att, _rtc in stats["pending"]:
        age = max(0.0, (now_us - oldest) / 1e6)
        out.append(f"twinstore_replication_oldest_pending_seconds{{{_labels(names.get(b, str(b)), rule, dest)}}} "
                   f"{age:.3f}")
    metric("twinstore_replication_operations_failed", "gauge", "Operations that ended FAILED (durable).")
    for b, rule, dest, n, _size in stats["failed"]:
        out.append(f"twinstore_replication_operations_failed{{{_labels(names.get(b, str(b)), rule, dest)}}} {n}")
    metric("twinstore_replication_rtc_missed_threshold", "gauge",
           "RTC operations still pending past the 15-minute threshold.")
    for b, rule, dest, n in rtc_overdue:
        out.append(f"twinstore_replication_rtc_missed_threshold{{{_labels(names.get(b, str(b)), rule, dest)}}} {n}")
    metric("twinstore_replication_rtc_replicated_after_threshold_total", "counter",
           "RTC operations that completed after the threshold.")
    for (src, rule, dest), n in live.after_threshold.items():
        out.append(f"twinstore_replication_rtc_replicated_after_threshold_total{{{_labels(src, rule, dest)}}} {n}")
    metric("twinstore_replication_operations_total", "counter", "Operations replicated by this process.")
    for (src, rule, dest), n in live.replicated_ops.items():
        out.append(f"twinstore_replication_operations_total{{{_labels(src, rule, dest)}}} {n}")
    metric("twinstore_replication_bytes_total", "counter", "Bytes replicated by this process.")
    for (src, rule, dest), n in live.replicated_bytes.items():
        out.append(f"twinstore_replication_bytes_total{{{_labels(src, rule, dest)}}} {n}")
    metric("twinstore_replication_latency_seconds", "histogram",
           "Time from the source version's Last-Modified to its replica being committed.")
    for (src, rule, dest), h in live.latency.items():
        lab = _labels(src, rule, dest)
        cum = 0
        for bound, c in zip(BUCKETS, h.counts):
            cum += c
            out.append(f'twinstore_replication_latency_seconds_bucket{{{lab},le="{bound}"}} {cum}')
        out.append(f'twinstore_replication_latency_seconds_bucket{{{lab},le="+Inf"}} {h.n}')
        out.append(f"twinstore_replication_latency_seconds_sum{{{lab}}} {h.total:.6f}")
        out.append(f"twinstore_replication_latency_seconds_count{{{lab}}} {h.n}")
    metric("twinstore_replication_retries_total", "counter", "Transient failures retried with backoff.")
    out.append(f'twinstore_replication_retries_total{{region="{region}"}} {live.retries}')
    return "\n".join(out) + "\n"
