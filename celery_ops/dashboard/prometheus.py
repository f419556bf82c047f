"""The metrics snapshot in Prometheus's text format, written by prometheus-client.

Counts and histograms come from the store's daily rollups, so they are the cluster's, not
this process's, and survive restarts. Labels are task names and queues only (never
arguments): their number is bounded by the tasks and queues the app has.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from celery_ops.core.rollups import COUNTED_STATES, RUNTIME, WAIT, bucket_seconds
from celery_ops.operations.metrics import Snapshot

#: The histograms' upper bounds, seconds: each rollup bucket counts where its value falls.
BOUNDS = (
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
    300.0,
    900.0,
    3600.0,
)


def exposition(snapshot: Snapshot) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Families(list(_families(snapshot))))
    return generate_latest(registry)


class _Families(Collector):
    def __init__(self, families: list[Metric]) -> None:
        self._families = families

    def collect(self) -> Iterator[Metric]:
        return iter(self._families)


def _families(snapshot: Snapshot) -> Iterator[Metric]:
    yield from _tasks(snapshot)
    yield from _queues(snapshot)
    online = sum(1 for worker in snapshot.workers if worker.online)
    yield GaugeMetricFamily("celery_ops_workers_online", "Workers online", value=online)
    yield from _recorders(snapshot)


def _tasks(snapshot: Snapshot) -> Iterator[Metric]:
    counted = CounterMetricFamily(
        "celery_ops_tasks",
        "Executions that came to rest, by task, queue and final state",
        labels=["task", "queue", "state"],
    )
    histograms: dict[str, dict[tuple[str, str], dict[int, int]]] = {RUNTIME: {}, WAIT: {}}
    states: dict[tuple[str, str, str], int] = {}
    for (task, queue, measure, bucket), count in snapshot.totals.items():
        if measure in histograms:
            buckets = histograms[measure].setdefault((task, queue), {})
            buckets[bucket] = buckets.get(bucket, 0) + count
        elif measure in COUNTED_STATES:
            states[(task, queue, measure)] = states.get((task, queue, measure), 0) + count
    for state_labels, count in sorted(states.items()):
        counted.add_metric(list(state_labels), max(count, 0))
    yield counted
    for measure, what in ((RUNTIME, "Runtime"), (WAIT, "Wait from being sent to starting")):
        family = HistogramMetricFamily(
            f"celery_ops_task_{measure}_seconds",
            f"{what} of executions, seconds, by task and queue",
            labels=["task", "queue"],
        )
        for labels, buckets in sorted(histograms[measure].items()):
            cumulative, seconds = _cumulative(buckets)
            family.add_metric(list(labels), cumulative, seconds)
        yield family


def _cumulative(buckets: dict[int, int]) -> tuple[list[tuple[str, float]], float]:
    """Prometheus's cumulative buckets, and the sum of the values (each as its bucket's)."""
    values = sorted((bucket_seconds(bucket), count) for bucket, count in buckets.items())
    total = sum(max(count, 0) for _, count in values)
    found: list[tuple[str, float]] = []
    for bound in BOUNDS:
        found.append((repr(bound), sum(max(c, 0) for v, c in values if v <= bound)))
    found.append(("+Inf", total))
    return found, sum(value * max(count, 0) for value, count in values)


def _queues(snapshot: Snapshot) -> Iterator[Metric]:
    depth = GaugeMetricFamily(
        "celery_ops_queue_depth", "Messages waiting in the broker", labels=["queue"]
    )
    latency = GaugeMetricFamily(
        "celery_ops_queue_latency_seconds",
        "How long the oldest waiting execution has waited (0: nothing waits)",
        labels=["queue"],
    )
    paused = GaugeMetricFamily(
        "celery_ops_queue_paused", "1 when an operator paused the queue", labels=["queue"]
    )
    for queue in snapshot.queues:
        if queue.depth is not None:
            depth.add_metric([queue.queue], queue.depth)
        latency.add_metric([queue.queue], queue.latency_seconds or 0.0)
        paused.add_metric([queue.queue], 1.0 if queue.queue in snapshot.paused else 0.0)
    yield from (depth, latency, paused)


def _recorders(snapshot: Snapshot) -> Iterator[Metric]:
    dropped = CounterMetricFamily(
        "celery_ops_recorder_events_dropped",
        "Events a recorder could not write (by worker, and this dashboard process)",
        labels=["process"],
    )
    last_write = GaugeMetricFamily(
        "celery_ops_recorder_last_write_timestamp_seconds",
        "When a recorder last wrote to the store, by process kind (worker: the newest "
        "heartbeat of any worker; dashboard: this process)",
        labels=["kind"],
    )
    for worker in snapshot.workers:
        dropped.add_metric([worker.hostname], worker.events_dropped)
    heartbeats = [w.last_heartbeat.timestamp() for w in snapshot.workers if w.last_heartbeat]
    if heartbeats:
        last_write.add_metric(["worker"], max(heartbeats))
    recorder = snapshot.recorder
    if recorder is not None:
        dropped.add_metric(["dashboard"], recorder.dropped)
        if recorder.last_write_at is not None:
            last_write.add_metric(["dashboard"], recorder.last_write_at)
        yield GaugeMetricFamily(
            "celery_ops_recorder_events_buffered",
            "Events this process holds, not yet written",
            value=recorder.buffered,
        )
        yield GaugeMetricFamily(
            "celery_ops_recorder_flush_lag_seconds",
            "Age of the oldest event this process holds (0: none)",
            value=recorder.flush_lag_seconds,
        )
    yield from (dropped, last_write)
    relay = snapshot.relay
    if relay is not None and relay.mode == "relay":
        yield from _relay(relay)


def _relay(relay: Any) -> Iterator[Metric]:
    if relay.waiting is not None:
        yield GaugeMetricFamily(
            "celery_ops_relay_backlog_batches",
            "Batches on the relay stream not yet written to the store",
            value=relay.waiting + (relay.in_flight or 0),
        )
    yield GaugeMetricFamily(
        "celery_ops_relay_ingest_lag_seconds",
        "Age of the oldest batch on the relay stream not yet written (0: none)",
        value=relay.oldest_age_s or 0.0,
    )
